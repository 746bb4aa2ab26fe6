package eventbus

import (
	"context"
	"fmt"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/tenancy"
)

// InProcess is a domain.Bus that delivers within this process, for the
// embedded default where one server owns the database. It is safe for
// concurrent use.
type InProcess struct {
	hub *hub
}

var _ domain.Bus = (*InProcess)(nil)

// NewInProcess returns a bus that delivers within this process.
func NewInProcess(opts ...Option) *InProcess {
	return &InProcess{hub: newHub(buildOptions(opts))}
}

// Publish hands msgs to the current subscribers of their tenants, in order,
// without waiting for any of them (slow ones are dropped). A message without a
// TenantID fails the whole call with tenancy.ErrNoTenant before anything is
// delivered. ctx is not consulted: delivery never blocks.
func (b *InProcess) Publish(_ context.Context, msgs ...domain.Message) error {
	if err := validate("publish", msgs); err != nil {
		return err
	}
	if b.hub.isClosed() {
		return fmt.Errorf("eventbus: publish: %w", ErrClosed)
	}
	var slow []*subscriber
	for _, msg := range msgs {
		slow = b.hub.deliver(msg, slow)
	}
	for _, sub := range slow {
		b.hub.remove(sub, b.hub.slowReason())
	}
	return nil
}

// Subscribe delivers the messages of tenantID published from now on, until
// ctx ends, cancel is called or the bus is closed; then the channel is closed.
// cancel is idempotent.
func (b *InProcess) Subscribe(ctx context.Context, tenantID string) (<-chan domain.Message, func(), error) {
	if tenantID == "" {
		return nil, nil, fmt.Errorf("eventbus: subscribe: %w", tenancy.ErrNoTenant)
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("eventbus: subscribe tenant %s: %w", tenantID, err)
	}
	sub := b.hub.newSubscriber(tenantID)
	leave := func() { b.hub.remove(sub, "") }
	// Watch ctx before registering so an end of ctx cannot slip between the two.
	sub.stopWatch = context.AfterFunc(ctx, leave)
	if _, err := b.hub.add(sub); err != nil {
		sub.stopWatch()
		return nil, nil, fmt.Errorf("eventbus: subscribe tenant %s: %w", tenantID, err)
	}
	if err := ctx.Err(); err != nil {
		// ctx ended before sub was registered, so the watcher found nothing.
		leave()
		return nil, nil, fmt.Errorf("eventbus: subscribe tenant %s: %w", tenantID, err)
	}
	return sub.ch, leave, nil
}

// Close ends every subscription; later Publish and Subscribe calls fail with
// ErrClosed. It is idempotent and always returns nil.
func (b *InProcess) Close() error {
	b.hub.closeAll()
	return nil
}

// Dropped reports how many subscriptions the bus has closed because their
// owner could not keep up (a figure worth exporting as a metric).
func (b *InProcess) Dropped() uint64 {
	return b.hub.dropped.Load()
}
