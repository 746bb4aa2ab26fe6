package eventbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/tenancy"
)

const (
	// channelPrefix + tenant ID names a tenant's Redis channel. Channels are
	// subscribed by exact name (never by pattern), so no tenant ID can match
	// another tenant's channel.
	channelPrefix = "custody:events:"

	// publishTimeout bounds a Publish whose ctx has no earlier deadline: a
	// committed write must not wait long on a wake-up that subscribers can do
	// without (they replay from the database).
	publishTimeout = time.Second
	// commandTimeout bounds a Subscribe (until Redis confirms the channel),
	// a Ping, each pub/sub command, and Close's wait for the connection.
	commandTimeout = 3 * time.Second
	// healthInterval is how often the pub/sub connection is pinged, so a dead
	// connection is noticed (and re-established by go-redis) while idle.
	healthInterval = 5 * time.Second
	// maxBackoff caps the wait between attempts to reach Redis while it is down.
	maxBackoff = 2 * time.Second

	// pongPrefix marks the PINGs that confirm a subscription (health pings
	// carry no payload).
	pongPrefix = "custody-eventbus:"
)

// Redis is a domain.Bus over Redis pub/sub, for deployments that run several
// API servers against one database. Each bus instance keeps one pub/sub
// connection, shared by all its tenants and subscribers. It is safe for
// concurrent use.
type Redis struct {
	client *redis.Client
	hub    *hub

	// mu guards the fields below. It is never held during network I/O:
	// SUBSCRIBE, UNSUBSCRIBE and confirmation PINGs are queued in the order
	// of the state changes they mirror and sent by one goroutine, so Redis's
	// view follows ours and no caller waits on the network under the lock.
	// Lock order: mu, then hub.mu.
	mu       sync.Mutex
	closed   bool
	ps       *redis.PubSub // opened by the first Subscribe
	channels map[string]*channelState
	pings    map[string]*channelState // by PING payload
	nextPing uint64
	queue    []command
	queued   chan struct{} // signals the commander; capacity 1

	stop chan struct{} // closed by Close
	wg   sync.WaitGroup

	breaker breaker
}

// Publish pause while Redis fails: the first failure skips publishing for
// minPublishPause, each further failure doubles the pause up to
// maxPublishPause, and one success ends it.
const (
	minPublishPause = 500 * time.Millisecond
	maxPublishPause = 5 * time.Second
)

// breaker stops publishing to a Redis that just failed, for a while, so
// writes are not each delayed by the publish timeout during an outage. When
// the pause ends, one publish probes Redis while the others still fail fast.
type breaker struct {
	mu      sync.Mutex
	until   time.Time
	backoff time.Duration
	probing bool
}

// open reports whether publishing is paused now. After a pause it lets the
// first caller through as the probe.
func (b *breaker) open(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.backoff == 0 {
		return false
	}
	if b.probing || now.Before(b.until) {
		return true
	}
	b.probing = true
	return false
}

// record notes the outcome of a publish attempt.
func (b *breaker) record(now time.Time, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
	if err == nil {
		b.backoff, b.until = 0, time.Time{}
		return
	}
	if now.Before(b.until) {
		return // a publish begun before the pause: the pause already counts it
	}
	b.backoff = min(max(2*b.backoff, minPublishPause), maxPublishPause)
	b.until = now.Add(b.backoff)
}

var _ domain.Bus = (*Redis)(nil)

// channelState is a tenant channel this bus is subscribed to.
type channelState struct {
	tenantID  string
	confirmed bool
	// ready is closed once Redis confirmed the channel, or with err set when
	// the subscription failed or the bus closed first.
	ready chan struct{}
	err   error
}

type commandKind int

const (
	cmdSubscribe commandKind = iota
	cmdUnsubscribe
	cmdPing
)

type command struct {
	kind commandKind
	st   *channelState // for cmdSubscribe and cmdPing
	name string        // channel, for cmdUnsubscribe
}

// wireMessage is the JSON payload on the Redis channel; it is decoupled from
// domain.Message so renaming a Go field cannot break servers of another
// version that share the Redis.
type wireMessage struct {
	TenantID string           `json:"tenantId"`
	Seq      int64            `json:"seq"`
	EventID  string           `json:"eventId,omitempty"`
	Type     domain.EventType `json:"type,omitempty"`
	AssetID  string           `json:"assetId,omitempty"`
	ParcelID string           `json:"parcelId,omitempty"`
	PersonID string           `json:"personId,omitempty"`
}

// NewRedis returns a bus over Redis pub/sub; channel per tenant, e.g.
// "custody:events:<tenantID>"; JSON payloads. The caller owns client: Close
// does not close it.
func NewRedis(client *redis.Client, opts ...Option) *Redis {
	return &Redis{
		client:   client,
		hub:      newHub(buildOptions(opts)),
		channels: make(map[string]*channelState),
		pings:    make(map[string]*channelState),
		queued:   make(chan struct{}, 1),
		stop:     make(chan struct{}),
	}
}

func channelName(tenantID string) string { return channelPrefix + tenantID }

// Publish sends msgs to their tenants' channels in one round trip. It fails
// with tenancy.ErrNoTenant, before sending anything, if a message has no
// TenantID, and returns an error within ctx's deadline or one second,
// whichever comes first, when Redis does not answer: the caller's write is
// committed anyway and subscribers replay it from the database. After a
// failure it fails at once with ErrUnavailable for a growing pause (0.5 s
// doubling to 5 s), ended by the next successful publish.
func (r *Redis) Publish(ctx context.Context, msgs ...domain.Message) error {
	if err := validate("publish", msgs); err != nil {
		return err
	}
	if len(msgs) == 0 {
		return nil
	}
	if r.hub.isClosed() {
		return fmt.Errorf("eventbus: publish: %w", ErrClosed)
	}
	payloads := make([][]byte, len(msgs))
	for i, m := range msgs {
		p, err := json.Marshal(wireMessage(m))
		if err != nil {
			return fmt.Errorf("eventbus: publish: encode event %q: %w", m.EventID, err)
		}
		payloads[i] = p
	}
	if r.breaker.open(time.Now()) {
		return fmt.Errorf("eventbus: publish %d message(s): %w", len(msgs), ErrUnavailable)
	}
	err := within(ctx, publishTimeout, func(ctx context.Context) error { return r.send(ctx, msgs, payloads) })
	r.breaker.record(time.Now(), err)
	if err != nil {
		return fmt.Errorf("eventbus: publish %d message(s) to redis: %w", len(msgs), err)
	}
	return nil
}

// within runs fn with ctx bounded by timeout and returns when either ends.
// go-redis bounds network I/O by ctx only when the client was built with
// ContextTimeoutEnabled; waiting in a goroutine keeps the bound whatever the
// client's options (the goroutine ends at the client's own timeouts).
func within(ctx context.Context, timeout time.Duration, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Redis) send(ctx context.Context, msgs []domain.Message, payloads [][]byte) error {
	if len(msgs) == 1 {
		return r.client.Publish(ctx, channelName(msgs[0].TenantID), payloads[0]).Err()
	}
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, m := range msgs {
			p.Publish(ctx, channelName(m.TenantID), payloads[i])
		}
		return nil
	})
	return err
}

// Subscribe delivers the messages of tenantID published from now on by any
// bus instance on the same Redis, until ctx ends, cancel is called or the bus
// is closed; then the channel is closed. It returns once Redis has confirmed
// the tenant's channel (so a message published after Subscribe returns is not
// missed), or an error if Redis does not confirm within ctx or three seconds.
// cancel is idempotent and never waits on Redis.
func (r *Redis) Subscribe(ctx context.Context, tenantID string) (<-chan domain.Message, func(), error) {
	if tenantID == "" {
		return nil, nil, fmt.Errorf("eventbus: subscribe: %w", tenancy.ErrNoTenant)
	}
	fail := func(err error) (<-chan domain.Message, func(), error) {
		return nil, nil, fmt.Errorf("eventbus: subscribe tenant %s: %w", tenantID, err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}

	sub := r.hub.newSubscriber(tenantID)
	leave := func() { r.leave(sub, "") }
	// Watch ctx before registering so an end of ctx cannot slip between the two.
	sub.stopWatch = context.AfterFunc(ctx, leave)
	st, err := r.join(sub)
	if err != nil {
		sub.stopWatch()
		return fail(err)
	}

	timer := time.NewTimer(commandTimeout)
	defer timer.Stop()
	select {
	case <-st.ready:
		if st.err != nil {
			leave()
			return fail(st.err)
		}
	case <-ctx.Done():
		leave()
		return fail(ctx.Err())
	case <-timer.C:
		leave()
		return fail(fmt.Errorf("redis did not confirm the channel within %v: %w", commandTimeout, context.DeadlineExceeded))
	}
	if err := ctx.Err(); err != nil {
		// ctx may have ended before sub was registered, unseen by the watcher.
		leave()
		return fail(err)
	}
	return sub.ch, leave, nil
}

// join registers sub and, for its tenant's first local subscriber, queues the
// SUBSCRIBE of the tenant's channel. The returned state's ready channel
// closes once Redis has confirmed the channel.
func (r *Redis) join(sub *subscriber) (*channelState, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	first, err := r.hub.add(sub)
	if err != nil {
		return nil, err
	}
	if !first {
		return r.channels[sub.tenantID], nil
	}
	r.openPubSub()
	st := &channelState{tenantID: sub.tenantID, ready: make(chan struct{})}
	r.channels[sub.tenantID] = st
	r.enqueue(command{kind: cmdSubscribe, st: st})
	return st, nil
}

// leave removes sub (a non-empty reason means the bus dropped it) and queues
// the UNSUBSCRIBE of its tenant's channel when it was the last local
// subscriber.
func (r *Redis) leave(sub *subscriber, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	removed, last := r.hub.remove(sub, reason)
	if removed && last && !r.closed {
		r.release(r.channels[sub.tenantID])
	}
}

// release forgets st and its pending confirmations and queues the
// UNSUBSCRIBE of its channel; called with mu held.
func (r *Redis) release(st *channelState) {
	if st == nil {
		return
	}
	delete(r.channels, st.tenantID)
	for token, s := range r.pings {
		if s == st {
			delete(r.pings, token)
		}
	}
	r.enqueue(command{kind: cmdUnsubscribe, name: channelName(st.tenantID)})
}

// fail ends a channel whose subscription could not be sent: the Subscribe
// calls waiting on it return err; called with mu held.
func (r *Redis) fail(st *channelState, err error) {
	if r.channels[st.tenantID] != st || st.confirmed {
		return
	}
	st.err = err
	close(st.ready)
	for _, sub := range r.hub.subscribersOf(st.tenantID) {
		r.hub.remove(sub, "")
	}
	// go-redis remembers the channel even when SUBSCRIBE could not be sent;
	// the UNSUBSCRIBE makes it forget, so a reconnect does not revive it.
	r.release(st)
}

// enqueue is called with mu held.
func (r *Redis) enqueue(c command) {
	r.queue = append(r.queue, c)
	select {
	case r.queued <- struct{}{}:
	default:
	}
}

// openPubSub is called with mu held.
func (r *Redis) openPubSub() {
	if r.ps != nil {
		return
	}
	// No channel yet, so no connection either: go-redis dials on first use.
	r.ps = r.client.Subscribe(context.Background())
	r.wg.Add(3)
	go r.receive(r.ps)
	go r.command(r.ps)
	go r.healthCheck(r.ps)
}

// command sends the queued pub/sub commands in order until the bus closes.
func (r *Redis) command(ps *redis.PubSub) {
	defer r.wg.Done()
	for {
		select {
		case <-r.stop:
			return
		case <-r.queued:
		}
		for {
			r.mu.Lock()
			if r.closed || len(r.queue) == 0 {
				r.mu.Unlock()
				break
			}
			c := r.queue[0]
			r.queue[0] = command{}
			r.queue = r.queue[1:]
			r.mu.Unlock()
			r.run(ps, c)
		}
	}
}

func (r *Redis) run(ps *redis.PubSub, c command) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	switch c.kind {
	case cmdSubscribe:
		r.mu.Lock()
		current := r.channels[c.st.tenantID] == c.st
		r.mu.Unlock()
		if !current {
			return // every subscriber left before it was sent
		}
		err := ps.Subscribe(ctx, channelName(c.st.tenantID))
		if err == nil {
			// A PING sent after SUBSCRIBE on the same connection is answered
			// after it, so its PONG, not the subscribe reply (which a reconnect
			// or an earlier subscription of the same channel can also
			// produce), is what confirms the channel.
			err = r.ping(ctx, ps, c.st)
		}
		if err != nil {
			r.mu.Lock()
			r.fail(c.st, fmt.Errorf("subscribe redis channel: %w", err))
			r.mu.Unlock()
		}
	case cmdPing:
		if err := r.ping(ctx, ps, c.st); err != nil {
			r.hub.log.Debug("event bus: redis confirmation ping failed", "tenant", c.st.tenantID, "err", err)
		}
	case cmdUnsubscribe:
		// go-redis forgets the channel even when the command cannot be sent,
		// so a reconnect will not resubscribe it.
		if err := ps.Unsubscribe(ctx, c.name); err != nil {
			r.hub.log.Debug("event bus: redis unsubscribe failed", "channel", c.name, "err", err)
		}
	}
}

// ping asks Redis for a PONG that will confirm st.
func (r *Redis) ping(ctx context.Context, ps *redis.PubSub, st *channelState) error {
	r.mu.Lock()
	if r.channels[st.tenantID] != st || st.confirmed {
		r.mu.Unlock()
		return nil
	}
	r.nextPing++
	token := pongPrefix + strconv.FormatUint(r.nextPing, 10)
	r.pings[token] = st
	r.mu.Unlock()
	if err := ps.Ping(ctx, token); err != nil {
		r.mu.Lock()
		delete(r.pings, token)
		r.mu.Unlock()
		return err
	}
	return nil
}

// receive is the only reader of the pub/sub connection: it routes messages to
// local subscribers and handles confirmations, until the bus closes.
func (r *Redis) receive(ps *redis.PubSub) {
	defer r.wg.Done()
	ctx := context.Background()
	var slow []*subscriber
	backoff := time.Duration(0)
	for {
		raw, err := ps.Receive(ctx)
		if err != nil {
			if errors.Is(err, redis.ErrClosed) {
				return
			}
			select {
			case <-r.stop: // Close closed the connection under us
				return
			default:
			}
			// go-redis drops the bad connection and dials again (resubscribing
			// every channel) on the next Receive; wait a little between tries.
			if backoff == 0 {
				r.hub.log.Warn("event bus: redis pub/sub connection lost; retrying", "err", err)
				backoff = 50 * time.Millisecond
			} else {
				backoff = min(2*backoff, maxBackoff)
			}
			select {
			case <-r.stop:
				return
			case <-time.After(backoff):
			}
			continue
		}
		if backoff != 0 {
			r.hub.log.Info("event bus: redis pub/sub connection re-established")
			backoff = 0
		}
		switch m := raw.(type) {
		case *redis.Message:
			msg, ok := r.decode(m)
			if !ok {
				continue
			}
			slow = r.hub.deliver(msg, slow[:0])
			for _, sub := range slow {
				r.leave(sub, r.hub.slowReason())
			}
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				r.subscribed(m.Channel)
			}
		case *redis.Pong:
			r.ponged(m.Payload)
		}
	}
}

func (r *Redis) decode(m *redis.Message) (domain.Message, bool) {
	tenantID, ok := strings.CutPrefix(m.Channel, channelPrefix)
	if !ok {
		return domain.Message{}, false
	}
	var w wireMessage
	if err := json.Unmarshal([]byte(m.Payload), &w); err != nil {
		r.hub.log.Warn("event bus: undecodable message ignored", "channel", m.Channel, "err", err)
		return domain.Message{}, false
	}
	if w.TenantID != tenantID {
		// Never let a payload route itself to another tenant.
		r.hub.log.Warn("event bus: message ignored: tenant does not match its channel",
			"channel", m.Channel, "messageTenant", w.TenantID)
		return domain.Message{}, false
	}
	return domain.Message(w), true
}

// subscribed handles a subscribe reply. For a channel already confirmed it can
// only come from go-redis resubscribing after a reconnect, so messages may
// have been lost meanwhile: the tenant's subscribers are dropped so they
// replay from the database. For a channel still awaiting confirmation it may
// come from such a resubscription too, after which the PING that was to
// confirm it is lost with the old connection: a new PING follows.
func (r *Redis) subscribed(name string) {
	tenantID, ok := strings.CutPrefix(name, channelPrefix)
	if !ok {
		return
	}
	r.mu.Lock()
	st := r.channels[tenantID]
	var subs []*subscriber
	switch {
	case st == nil:
	case st.confirmed:
		subs = r.hub.subscribersOf(tenantID)
	default:
		r.enqueue(command{kind: cmdPing, st: st})
	}
	r.mu.Unlock()
	for _, sub := range subs {
		r.leave(sub, "redis connection was re-established; messages published meanwhile were not delivered")
	}
}

// ponged confirms the channel whose subscription the PING followed.
func (r *Redis) ponged(payload string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, ok := r.pings[payload]
	if !ok {
		return
	}
	delete(r.pings, payload)
	if r.channels[st.tenantID] == st && !st.confirmed {
		st.confirmed = true
		close(st.ready)
	}
}

// healthCheck pings the idle connection so a dead one is found and replaced
// by go-redis rather than waited on.
func (r *Redis) healthCheck(ps *redis.PubSub) {
	defer r.wg.Done()
	t := time.NewTicker(healthInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
			if err := ps.Ping(ctx); err != nil && !errors.Is(err, redis.ErrClosed) {
				r.hub.log.Debug("event bus: redis pub/sub ping failed", "err", err)
			}
			cancel()
		}
	}
}

// Ping checks that Redis answers (for readiness probes), within ctx and
// three seconds.
func (r *Redis) Ping(ctx context.Context) error {
	err := within(ctx, commandTimeout, func(ctx context.Context) error { return r.client.Ping(ctx).Err() })
	if err != nil {
		return fmt.Errorf("eventbus: ping redis: %w", err)
	}
	return nil
}

// Close ends every subscription at once, then closes the pub/sub connection
// and waits up to three seconds for the bus's goroutines (while Redis hangs,
// they end later, at the client's dial or read timeout, and Close says so).
// Later Publish and Subscribe calls fail with ErrClosed. It does not close
// the client. It is idempotent.
func (r *Redis) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	for _, st := range r.channels {
		if !st.confirmed {
			st.err = ErrClosed
			close(st.ready) // wakes Subscribe calls still waiting
		}
	}
	clear(r.channels)
	clear(r.pings)
	r.queue = nil
	r.hub.closeAll()
	ps := r.ps
	r.mu.Unlock()

	close(r.stop)
	if ps == nil {
		return nil
	}
	err := within(context.Background(), commandTimeout, func(context.Context) error {
		err := ps.Close()
		r.wg.Wait()
		if err != nil && !errors.Is(err, redis.ErrClosed) {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("eventbus: close redis pub/sub: %w", err)
	}
	return nil
}

// Dropped reports how many subscriptions the bus has closed because their
// owner could not keep up or Redis reconnected (a figure worth exporting as a
// metric).
func (r *Redis) Dropped() uint64 {
	return r.hub.dropped.Load()
}
