package domain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/custody-dev/custody/tenancy"
)

// Topic is a class of custody events a role may hear live (authz policy
// object "Topic"). An event belongs to one or more topics.
type Topic string

// Topics.
const (
	// TopicCustody: every asset and parcel event (IT, mailroom).
	TopicCustody Topic = "custody"
	// TopicReturns: assets received back (HR, IT, mailroom).
	TopicReturns Topic = "returns"
	// TopicOffboarding: off-boarding cases and every event bound to one (HR).
	TopicOffboarding Topic = "offboarding"
	// TopicPickups: every event bound to a pickup order: staging, dock and
	// receipt discrepancies and their resolutions, pickups, sanitization,
	// outcomes, certificates and write-backs (IT).
	TopicPickups Topic = "pickups"
	// TopicSLA: breaches of the tenant's time-bound triggers.
	TopicSLA Topic = "sla"
)

// AllTopics lists every topic.
var AllTopics = []Topic{TopicCustody, TopicReturns, TopicOffboarding, TopicPickups, TopicSLA}

// Topics returns the topics e belongs to.
func Topics(e *CustodyEvent) []Topic {
	var ts []Topic
	if e.AssetID != "" || e.ParcelID != "" {
		ts = append(ts, TopicCustody)
	}
	if e.Type == EventReturnReceived {
		ts = append(ts, TopicReturns)
	}
	if e.Type == EventOffboardingOpened || e.Type == EventOffboardingCompleted || e.Details["case"] != "" {
		ts = append(ts, TopicOffboarding)
	}
	if e.Details["order"] != "" {
		ts = append(ts, TopicPickups)
	}
	if e.Type == EventSLABreached {
		ts = append(ts, TopicSLA)
	}
	return ts
}

// FollowFilter narrows a live subscription to the custody log.
type FollowFilter struct {
	// After is the cursor: the sequence number of the last event the client
	// has; events after it are replayed from the database first. nil starts
	// at the current end of the log.
	After *int64
	Types []EventType
	// CaseID keeps the events of one off-boarding case; AssetID those of one asset.
	CaseID  string
	AssetID string
	// May reports whether the subscriber's roles may hear a topic (the
	// authz policy); events in no permitted topic are never sent.
	May func(Topic) bool
}

// matches reports whether the subscriber asked for, and may hear, e.
func (f *FollowFilter) matches(e *CustodyEvent) bool {
	if len(f.Types) > 0 && !slices.Contains(f.Types, e.Type) {
		return false
	}
	if f.CaseID != "" && e.Details["case"] != f.CaseID {
		return false
	}
	if f.AssetID != "" && e.AssetID != f.AssetID {
		return false
	}
	for _, t := range Topics(e) {
		if f.May(t) {
			return true
		}
	}
	return false
}

// Feed timing. The bus only wakes the feed; polling is the safety net for a
// wake-up lost while the bus was down or a publish failed after commit.
const (
	// feedPoll is how often a feed reads the log while its bus subscription
	// works, and feedPollDegraded while it does not (Redis down).
	feedPoll         = 5 * time.Second
	feedPollDegraded = time.Second
	// feedRetry bounds the wait before resubscribing to a failed bus.
	feedRetry = 2 * time.Second
	// feedWindow is how many recent events a tenant's feed keeps in memory,
	// so subscribers that keep up never touch the database; one that falls
	// further behind replays from the database by itself.
	feedWindow = 1024
	// feedJoinTimeout bounds the first subscriber's read of the log size.
	feedJoinTimeout = 5 * time.Second
	// replayBatch is how many events a lagging subscriber reads per
	// transaction while it catches up.
	replayBatch = 500
)

// feed fans a tenant's newly committed events out to its live subscribers:
// one goroutine per tenant with subscribers reads each new event from the
// database once, whatever the number of subscribers, woken by the bus.
type feed struct {
	store Store
	bus   Bus
	log   *slog.Logger

	mu      sync.Mutex
	tenants map[string]*tenantFeed
}

// tenantFeed is the shared tail of one tenant's log.
type tenantFeed struct {
	users int
	stop  context.CancelFunc
	// ready is closed once the first subscriber has read the log's size;
	// err is then set if that failed.
	ready chan struct{}
	err   error

	mu sync.Mutex
	// head is the last sequence number read; window holds the most recent
	// events read, ending at head.
	head   int64
	window []*CustodyEvent
	// grew is closed (and replaced) whenever head advances.
	grew chan struct{}
}

func newFeed(store Store, bus Bus, log *slog.Logger) *feed {
	return &feed{store: store, bus: bus, log: log, tenants: map[string]*tenantFeed{}}
}

// join returns the tenant's feed, starting it for the first subscriber. The
// first subscriber reads the log's size outside the feed's lock (a slow
// database must not stall other tenants' subscribers); later ones wait for
// that read.
func (f *feed) join(ctx context.Context, tenantID string) (*tenantFeed, error) {
	f.mu.Lock()
	if tf, ok := f.tenants[tenantID]; ok {
		tf.users++
		f.mu.Unlock()
		select {
		case <-tf.ready:
		case <-ctx.Done():
			f.leave(tenantID, tf)
			return nil, ctx.Err()
		}
		if tf.err != nil {
			f.leave(tenantID, tf)
			return nil, tf.err
		}
		return tf, nil
	}
	runCtx, stop := context.WithCancel(tenancy.WithPrincipal(context.Background(), tenancy.Principal{TenantID: tenantID}))
	tf := &tenantFeed{users: 1, stop: stop, ready: make(chan struct{}), grew: make(chan struct{})}
	f.tenants[tenantID] = tf
	f.mu.Unlock()

	readCtx, cancel := context.WithTimeout(runCtx, feedJoinTimeout)
	var head int64
	err := f.store.View(readCtx, func(tx Tx) error {
		var err error
		head, err = tx.LedgerSize()
		return err
	})
	cancel()
	if err != nil {
		tf.err = fmt.Errorf("read log size: %w", err)
		f.mu.Lock()
		if f.tenants[tenantID] == tf {
			delete(f.tenants, tenantID) // the next subscriber tries again
		}
		f.mu.Unlock()
		stop()
		close(tf.ready)
		return nil, tf.err
	}
	tf.mu.Lock()
	tf.head = head
	tf.mu.Unlock()
	close(tf.ready)
	go f.run(runCtx, tenantID, tf)
	return tf, nil
}

// leave releases the tenant's feed, stopping it after the last subscriber.
func (f *feed) leave(tenantID string, tf *tenantFeed) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tf.users--
	if tf.users == 0 {
		tf.stop()
		if f.tenants[tenantID] == tf {
			delete(f.tenants, tenantID)
		}
	}
}

// run keeps the tenant feed's head at the end of the log until ctx ends.
func (f *feed) run(ctx context.Context, tenantID string, tf *tenantFeed) {
	var msgs <-chan Message
	cancel := func() {}
	defer func() { cancel() }()
	subscribe := func() bool {
		if f.bus == nil {
			return false
		}
		ch, c, err := f.bus.Subscribe(ctx, tenantID)
		if err != nil {
			if ctx.Err() == nil {
				f.log.WarnContext(ctx, "event bus subscribe failed; polling the database until it is back",
					"tenant", tenantID, "err", err)
			}
			return false
		}
		msgs, cancel = ch, c
		return true
	}
	healthy := subscribe()
	// Anything committed between the head read in join and the subscription
	// is read now.
	f.catchUp(ctx, tenantID, tf)
	poll := time.NewTicker(feedPoll)
	defer poll.Stop()
	retry := time.NewTimer(feedRetry)
	defer retry.Stop()
	if healthy {
		retry.Stop()
	} else {
		poll.Reset(feedPollDegraded)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-msgs:
			if !ok {
				// The bus dropped us (Redis reconnecting, or we lagged):
				// poll until a new subscription works.
				cancel()
				msgs, cancel = nil, func() {}
				poll.Reset(feedPollDegraded)
				retry.Reset(feedRetry)
				continue
			}
			if m.Seq > tf.last() {
				f.catchUp(ctx, tenantID, tf)
			}
		case <-poll.C:
			f.catchUp(ctx, tenantID, tf)
		case <-retry.C:
			if subscribe() {
				poll.Reset(feedPoll)
				f.catchUp(ctx, tenantID, tf)
			} else {
				retry.Reset(feedRetry)
			}
		}
	}
}

// catchUp reads what was committed after the feed's head.
func (f *feed) catchUp(ctx context.Context, tenantID string, tf *tenantFeed) {
	for {
		after := tf.last()
		var got []*CustodyEvent
		err := f.store.View(ctx, func(tx Tx) error {
			return scanSome(tx, after, feedWindow, &got)
		})
		if err != nil {
			if ctx.Err() == nil {
				f.log.WarnContext(ctx, "live feed could not read the custody log; will retry",
					"tenant", tenantID, "err", err)
			}
			return
		}
		tf.add(got)
		if len(got) < feedWindow {
			return
		}
	}
}

// errEnough stops a scan once it has read what was asked.
var errEnough = errors.New("enough")

// scanSome appends to out at most n events after seq after.
func scanSome(tx Tx, after int64, n int, out *[]*CustodyEvent) error {
	err := tx.ScanEvents(after, func(e *CustodyEvent) error {
		*out = append(*out, e)
		if len(*out) >= n {
			return errEnough
		}
		return nil
	})
	if errors.Is(err, errEnough) {
		return nil
	}
	return err
}

func (tf *tenantFeed) last() int64 {
	tf.mu.Lock()
	defer tf.mu.Unlock()
	return tf.head
}

// add appends events read after head (in sequence order) and wakes the
// subscribers.
func (tf *tenantFeed) add(events []*CustodyEvent) {
	tf.mu.Lock()
	defer tf.mu.Unlock()
	for _, e := range events {
		if e.Seq != tf.head+1 {
			continue // read twice by overlapping catch-ups
		}
		tf.window = append(tf.window, e)
		tf.head = e.Seq
	}
	if over := len(tf.window) - feedWindow; over > 0 {
		tf.window = slices.Clone(tf.window[over:])
	}
	if len(events) > 0 {
		close(tf.grew)
		tf.grew = make(chan struct{})
	}
}

// since returns the events after seq held in the window, and a channel
// closed when more arrive. behind is true when the window no longer holds
// the event right after seq: the subscriber must read the database.
func (tf *tenantFeed) since(seq int64) (events []*CustodyEvent, grew <-chan struct{}, behind bool) {
	tf.mu.Lock()
	defer tf.mu.Unlock()
	if seq >= tf.head {
		return nil, tf.grew, false
	}
	if len(tf.window) == 0 || tf.window[0].Seq > seq+1 {
		return nil, tf.grew, true
	}
	i := int(seq + 1 - tf.window[0].Seq)
	return slices.Clone(tf.window[i:]), tf.grew, false
}

// FeedHead returns the sequence number of the last event this server's live
// feed of the tenant has read, and false when no subscription follows the
// tenant here. Records read after it reflect at least that state of the log.
func (s *Service) FeedHead(tenantID string) (int64, bool) {
	s.feed.mu.Lock()
	tf, ok := s.feed.tenants[tenantID]
	s.feed.mu.Unlock()
	if !ok {
		return 0, false
	}
	select {
	case <-tf.ready:
		if tf.err != nil {
			return 0, false
		}
		return tf.last(), true
	default:
		return 0, false
	}
}

// Follow streams the caller's tenant's custody log live: first what was
// committed after f.After (replayed from the database), then each new event
// as it commits, in log order, with no gap and no duplicate, keeping only
// those f matches and the caller may hear. The database is the source of
// truth; the bus (Redis between instances) only wakes the stream, so a bus
// outage delays events but loses none. The channel closes when ctx ends.
func (s *Service) Follow(ctx context.Context, f FollowFilter) (<-chan *CustodyEvent, error) {
	tenantID, err := tenancy.TenantID(ctx)
	if err != nil {
		return nil, fmt.Errorf("follow custody log: %w", err)
	}
	if f.May == nil {
		return nil, errors.New("follow custody log: no topic permission given")
	}
	if f.After != nil && *f.After < 0 {
		return nil, &ArgumentError{Argument: "after", Message: "must be a sequence number of the custody log (0 or more)"}
	}
	tf, err := s.feed.join(ctx, tenantID)
	if err != nil {
		return nil, fmt.Errorf("follow custody log: %w", err)
	}
	// A shared feed's head can lag a commit the caller has already seen.
	s.feed.catchUp(ctx, tenantID, tf)
	last := tf.last()
	if f.After != nil {
		if *f.After > last {
			s.feed.leave(tenantID, tf)
			// The log's size is not said: a role that hears little (a
			// vendor) must not learn the tenant's activity from it.
			return nil, &ArgumentError{Argument: "after",
				Message: fmt.Sprintf("cursor %d is ahead of the custody log", *f.After)}
		}
		last = *f.After
	}
	out := make(chan *CustodyEvent)
	go func() {
		defer close(out)
		defer s.feed.leave(tenantID, tf)
		for {
			events, grew, behind := tf.since(last)
			if behind {
				var err error
				if events, err = s.replay(ctx, last); err != nil {
					if ctx.Err() == nil {
						s.log.WarnContext(ctx, "subscription replay failed; retrying", "err", err)
						select {
						case <-time.After(feedPollDegraded):
						case <-ctx.Done():
						}
					}
					if ctx.Err() != nil {
						return
					}
					continue
				}
				// Deliver nothing past the feed's head: what is answered
				// with an event is read at that head or later (the
				// GraphQL layer shares records per head), and the feed
				// catches up with anything newer promptly.
				head := tf.last()
				for len(events) > 0 && events[len(events)-1].Seq > head {
					events = events[:len(events)-1]
				}
			}
			for _, e := range events {
				last = e.Seq
				if !f.matches(e) {
					continue
				}
				select {
				case out <- e:
				case <-ctx.Done():
					return
				}
			}
			if len(events) == 0 {
				select {
				case <-grew:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// replay reads events after seq straight from the database, for a
// subscriber behind the shared window.
func (s *Service) replay(ctx context.Context, after int64) ([]*CustodyEvent, error) {
	var got []*CustodyEvent
	err := s.store.View(ctx, func(tx Tx) error { return scanSome(tx, after, replayBatch, &got) })
	if err != nil {
		return nil, fmt.Errorf("replay custody log after %d: %w", after, err)
	}
	return got, nil
}
