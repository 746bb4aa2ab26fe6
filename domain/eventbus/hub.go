package eventbus

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/tenancy"
)

// subscriber is one local subscription.
type subscriber struct {
	tenantID string
	ch       chan domain.Message
	// condemned is set by the first delivery that found the buffer full, so
	// concurrent deliveries skip the subscriber until it is removed.
	condemned atomic.Bool
	// stopWatch deregisters the context.AfterFunc that removes the subscriber
	// when its context ends; called on every removal so a long-lived parent
	// context does not keep the subscriber reachable.
	stopWatch func() bool
}

// hub fans messages out to the local subscribers of each tenant. Both buses
// use it: the in-process bus feeds it from Publish, the Redis bus from its
// pub/sub connection.
//
// A subscriber's channel is closed only under the write lock, and sends happen
// only under the read lock, so no send can hit a closed channel.
type hub struct {
	buffer  int
	log     *slog.Logger
	dropped atomic.Uint64

	mu      sync.RWMutex
	tenants map[string]map[*subscriber]struct{}
	closed  bool
}

func newHub(o options) *hub {
	return &hub{buffer: o.buffer, log: o.log, tenants: make(map[string]map[*subscriber]struct{})}
}

func (h *hub) newSubscriber(tenantID string) *subscriber {
	return &subscriber{tenantID: tenantID, ch: make(chan domain.Message, h.buffer), stopWatch: func() bool { return false }}
}

// add registers sub and reports whether it is its tenant's first subscriber.
func (h *hub) add(sub *subscriber) (first bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false, ErrClosed
	}
	subs := h.tenants[sub.tenantID]
	if subs == nil {
		subs = make(map[*subscriber]struct{})
		h.tenants[sub.tenantID] = subs
	}
	subs[sub] = struct{}{}
	return len(subs) == 1, nil
}

// remove unregisters sub and closes its channel. A non-empty reason means the
// bus dropped it (rather than its owner leaving), which is counted and logged.
// It reports whether sub was still registered and whether it was its tenant's
// last subscriber.
func (h *hub) remove(sub *subscriber, reason string) (removed, last bool) {
	h.mu.Lock()
	subs := h.tenants[sub.tenantID]
	if _, ok := subs[sub]; ok {
		removed = true
		if reason != "" {
			// Counted before the close, so whoever sees the channel closed
			// sees the count.
			h.dropped.Add(1)
		}
		delete(subs, sub)
		if len(subs) == 0 {
			last = true
			delete(h.tenants, sub.tenantID)
		}
		close(sub.ch)
	}
	h.mu.Unlock()
	if !removed {
		return false, false
	}
	// Read stopWatch only for a registered subscriber: registration happened
	// after it was set, under h.mu.
	sub.stopWatch()
	if reason != "" {
		h.log.Warn("event bus dropped a subscription; its owner must resubscribe and replay from its cursor",
			"tenant", sub.tenantID, "reason", reason)
	}
	return removed, last
}

// deliver offers msg to every subscriber of its tenant without waiting and
// returns the subscribers whose buffer was full: the caller drops them.
func (h *hub) deliver(msg domain.Message, slow []*subscriber) []*subscriber {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for sub := range h.tenants[msg.TenantID] {
		if sub.condemned.Load() {
			continue
		}
		select {
		case sub.ch <- msg:
		default:
			if sub.condemned.CompareAndSwap(false, true) {
				slow = append(slow, sub)
			}
		}
	}
	return slow
}

// subscribersOf returns the current subscribers of a tenant.
func (h *hub) subscribersOf(tenantID string) []*subscriber {
	h.mu.RLock()
	defer h.mu.RUnlock()
	subs := make([]*subscriber, 0, len(h.tenants[tenantID]))
	for sub := range h.tenants[tenantID] {
		subs = append(subs, sub)
	}
	return subs
}

// closeAll closes every subscription and refuses new ones. It reports whether
// this call closed the hub.
func (h *hub) closeAll() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.closed = true
	for _, subs := range h.tenants {
		for sub := range subs {
			close(sub.ch)
			sub.stopWatch()
		}
	}
	clear(h.tenants)
	return true
}

func (h *hub) isClosed() bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.closed
}

func (h *hub) slowReason() string {
	return fmt.Sprintf("subscriber fell %d messages behind", h.buffer)
}

// validate fails closed on a message without a tenant: such a message could
// not be routed to the right tenant's subscribers.
func validate(op string, msgs []domain.Message) error {
	for i := range msgs {
		if msgs[i].TenantID == "" {
			return fmt.Errorf("eventbus: %s: message %d (event %q): %w", op, i, msgs[i].EventID, tenancy.ErrNoTenant)
		}
	}
	return nil
}
