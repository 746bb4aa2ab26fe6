package eventbus_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/eventbus"
	"github.com/custody-dev/custody/tenancy"
)

// bus is what both implementations offer.
type bus interface {
	domain.Bus
	Close() error
	Dropped() uint64
}

// newBusFunc builds a bus that is closed when the test ends.
type newBusFunc func(t testing.TB, opts ...eventbus.Option) bus

// patience bounds every wait for something that should happen promptly; it
// only turns a hang into a failure, it measures nothing.
const patience = 10 * time.Second

func newTenant() string { return "tenant-" + uuid.NewString() }

func message(tenantID string, seq int64) domain.Message {
	return domain.Message{
		TenantID: tenantID,
		Seq:      seq,
		EventID:  fmt.Sprintf("event-%d", seq),
		Type:     domain.EventHandedOff,
		AssetID:  fmt.Sprintf("asset-%d", seq),
		ParcelID: "parcel-1",
		PersonID: "person-1",
	}
}

func mustSubscribe(t testing.TB, b domain.Bus, ctx context.Context, tenantID string) (<-chan domain.Message, func()) {
	t.Helper()
	ch, cancel, err := b.Subscribe(ctx, tenantID)
	if err != nil {
		t.Fatalf("Subscribe(%s): %v", tenantID, err)
	}
	t.Cleanup(cancel)
	return ch, cancel
}

func mustPublish(t testing.TB, b domain.Bus, msgs ...domain.Message) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- b.Publish(context.Background(), msgs...) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Publish: %v", err)
		}
	case <-time.After(patience):
		t.Fatal("Publish blocked")
	}
}

func receive(t testing.TB, ch <-chan domain.Message) domain.Message {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("channel closed, want a message")
		}
		return m
	case <-time.After(patience):
		t.Fatal("no message received")
	}
	return domain.Message{}
}

func expectMessages(t testing.TB, ch <-chan domain.Message, want ...domain.Message) {
	t.Helper()
	for i, w := range want {
		if got := receive(t, ch); got != w {
			t.Fatalf("message %d = %+v, want %+v", i, got, w)
		}
	}
}

// drain returns what is left in ch once it is closed.
func drain(t testing.TB, ch <-chan domain.Message) []domain.Message {
	t.Helper()
	var got []domain.Message
	timeout := time.After(patience)
	for {
		select {
		case m, ok := <-ch:
			if !ok {
				return got
			}
			got = append(got, m)
		case <-timeout:
			t.Fatalf("channel not closed (received %d messages)", len(got))
		}
	}
}

// lockedBuffer collects log output written from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testBusContract is the behaviour both buses promise (see the package doc).
func testBusContract(t *testing.T, newBus newBusFunc) {
	ctx := context.Background()

	t.Run("delivers every field in publish order", func(t *testing.T) {
		t.Parallel()
		b := newBus(t)
		tenant := newTenant()
		ch, _ := mustSubscribe(t, b, ctx, tenant)
		batch := []domain.Message{message(tenant, 1), message(tenant, 2), message(tenant, 3)}
		mustPublish(t, b, batch...)
		mustPublish(t, b, message(tenant, 4))
		expectMessages(t, ch, append(batch, message(tenant, 4))...)
	})

	t.Run("tenant isolation", func(t *testing.T) {
		t.Parallel()
		// Tenant ids that a prefix or pattern subscription would confuse; each
		// case makes its own so parallel cases share no channel.
		cases := []struct {
			name string
			ids  func(base string) (a, b string)
		}{
			{"unrelated tenants", func(base string) (string, string) { return base + "-a", base + "-b" }},
			{"one id prefixes the other", func(base string) (string, string) { return base, base + "-x" }},
			{"glob characters", func(base string) (string, string) { return base + "-*", base + "-x" }},
			{"character class", func(base string) (string, string) { return base + "-[xy]", base + "-y" }},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				a, bt := tc.ids(newTenant())
				b := newBus(t)
				chA, _ := mustSubscribe(t, b, ctx, a)
				chB, _ := mustSubscribe(t, b, ctx, bt)
				// Each channel's next message must be its own tenant's, though
				// the other tenant's was published first.
				mustPublish(t, b, message(bt, 1), message(a, 1))
				expectMessages(t, chA, message(a, 1))
				expectMessages(t, chB, message(bt, 1))
				mustPublish(t, b, message(a, 2), message(bt, 2))
				expectMessages(t, chB, message(bt, 2))
				expectMessages(t, chA, message(a, 2))
			})
		}
	})

	t.Run("every subscriber of a tenant receives, until it cancels", func(t *testing.T) {
		t.Parallel()
		b := newBus(t)
		tenant := newTenant()
		var chans []<-chan domain.Message
		var cancels []func()
		for range 3 {
			ch, cancel := mustSubscribe(t, b, ctx, tenant)
			chans = append(chans, ch)
			cancels = append(cancels, cancel)
		}
		mustPublish(t, b, message(tenant, 1), message(tenant, 2))
		for _, ch := range chans {
			expectMessages(t, ch, message(tenant, 1), message(tenant, 2))
		}
		cancels[0]()
		if rest := drain(t, chans[0]); len(rest) != 0 {
			t.Fatalf("cancelled subscriber got %v", rest)
		}
		mustPublish(t, b, message(tenant, 3))
		for _, ch := range chans[1:] {
			expectMessages(t, ch, message(tenant, 3))
		}
	})

	t.Run("a slow subscriber is dropped without holding up the others", func(t *testing.T) {
		t.Parallel()
		const buffer = 4
		logs := &lockedBuffer{}
		b := newBus(t, eventbus.WithBuffer(buffer), eventbus.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
		tenant := newTenant()
		slow, _ := mustSubscribe(t, b, ctx, tenant)
		fast, _ := mustSubscribe(t, b, ctx, tenant)
		var sent []domain.Message
		for seq := range int64(3 * buffer) {
			m := message(tenant, seq)
			sent = append(sent, m)
			mustPublish(t, b, m)
			expectMessages(t, fast, m)
		}
		got := drain(t, slow)
		if len(got) != buffer {
			t.Fatalf("slow subscriber got %d messages before being dropped, want %d", len(got), buffer)
		}
		for i := range got {
			if got[i] != sent[i] {
				t.Fatalf("slow subscriber message %d = %+v, want %+v", i, got[i], sent[i])
			}
		}
		if n := b.Dropped(); n != 1 {
			t.Fatalf("Dropped() = %d, want 1", n)
		}
		if !strings.Contains(logs.String(), "dropped a subscription") || !strings.Contains(logs.String(), tenant) {
			t.Fatalf("drop not logged with its tenant; log:\n%s", logs)
		}
		// The fast subscriber is still live.
		mustPublish(t, b, message(tenant, 100))
		expectMessages(t, fast, message(tenant, 100))
	})

	t.Run("cancel closes the channel and is idempotent", func(t *testing.T) {
		t.Parallel()
		b := newBus(t)
		tenant := newTenant()
		ch, cancel := mustSubscribe(t, b, ctx, tenant)
		cancel()
		cancel()
		drain(t, ch)
		mustPublish(t, b, message(tenant, 1)) // no subscriber left: still fine
		if n := b.Dropped(); n != 0 {
			t.Fatalf("Dropped() = %d after a cancel, want 0", n)
		}
	})

	t.Run("the end of the subscriber's context closes the channel", func(t *testing.T) {
		t.Parallel()
		b := newBus(t)
		tenant := newTenant()
		subCtx, cancelCtx := context.WithCancel(ctx)
		ch, _ := mustSubscribe(t, b, subCtx, tenant)
		other, _ := mustSubscribe(t, b, ctx, tenant)
		cancelCtx()
		drain(t, ch)
		mustPublish(t, b, message(tenant, 1))
		expectMessages(t, other, message(tenant, 1))
	})

	t.Run("subscribing with an ended context fails", func(t *testing.T) {
		t.Parallel()
		b := newBus(t)
		ended, cancel := context.WithCancel(ctx)
		cancel()
		if _, _, err := b.Subscribe(ended, newTenant()); !errors.Is(err, context.Canceled) {
			t.Fatalf("Subscribe(ended ctx) error = %v, want context.Canceled", err)
		}
	})

	t.Run("Close ends every subscription and refuses new work", func(t *testing.T) {
		t.Parallel()
		b := newBus(t)
		t1, t2 := newTenant(), newTenant()
		ch1, _ := mustSubscribe(t, b, ctx, t1)
		ch2, _ := mustSubscribe(t, b, ctx, t2)
		if err := b.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		drain(t, ch1)
		drain(t, ch2)
		if _, _, err := b.Subscribe(ctx, t1); !errors.Is(err, eventbus.ErrClosed) {
			t.Fatalf("Subscribe after Close error = %v, want ErrClosed", err)
		}
		if err := b.Publish(ctx, message(t1, 1)); !errors.Is(err, eventbus.ErrClosed) {
			t.Fatalf("Publish after Close error = %v, want ErrClosed", err)
		}
		if err := b.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})

	t.Run("fails closed without a tenant", func(t *testing.T) {
		t.Parallel()
		b := newBus(t)
		tenant := newTenant()
		ch, _ := mustSubscribe(t, b, ctx, tenant)
		if _, _, err := b.Subscribe(ctx, ""); !errors.Is(err, tenancy.ErrNoTenant) {
			t.Fatalf("Subscribe(\"\") error = %v, want ErrNoTenant", err)
		}
		noTenant := message("", 1)
		if err := b.Publish(ctx, message(tenant, 1), noTenant); !errors.Is(err, tenancy.ErrNoTenant) {
			t.Fatalf("Publish(message without tenant) error = %v, want ErrNoTenant", err)
		}
		// Nothing of the refused batch was delivered: the next message is the marker.
		mustPublish(t, b, message(tenant, 2))
		expectMessages(t, ch, message(tenant, 2))
	})
}

func newInProcess(t testing.TB, opts ...eventbus.Option) bus {
	b := eventbus.NewInProcess(opts...)
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestInProcess(t *testing.T) {
	testBusContract(t, newInProcess)
}

// TestNoGoroutineLeak subscribes and leaves in every way a subscriber can and
// checks that the goroutine count returns to where it was. It is not parallel
// so that other tests' goroutines do not blur the count.
func TestNoGoroutineLeak(t *testing.T) {
	cases := []struct {
		name string
		// prepare builds what the bus needs (a Redis client) before the
		// goroutine baseline is taken.
		prepare func(t *testing.T) newBusFunc
	}{
		{"in-process", func(*testing.T) newBusFunc { return newInProcess }},
		{"redis", func(t *testing.T) newBusFunc {
			client := redisClient(t)
			return func(t testing.TB, opts ...eventbus.Option) bus {
				b := eventbus.NewRedis(client, opts...)
				t.Cleanup(func() { _ = b.Close() })
				return b
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			newBus := tc.prepare(t)
			before := runtime.NumGoroutine()
			b := newBus(t, eventbus.WithBuffer(1), eventbus.WithLogger(slog.New(slog.DiscardHandler)))
			tenant := newTenant()
			for i := range 30 {
				subCtx, cancelCtx := context.WithCancel(context.Background())
				_, cancel, err := b.Subscribe(subCtx, fmt.Sprintf("%s-%d", tenant, i%3))
				if err != nil {
					t.Fatal(err)
				}
				switch i % 3 {
				case 0:
					cancel()
				case 1:
					cancelCtx()
				default: // left for Close, or dropped as slow below
				}
				defer cancelCtx()
			}
			for seq := range int64(3) {
				if err := b.Publish(context.Background(), message(tenant+"-2", seq)); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			const tolerance = 2
			deadline := time.Now().Add(patience)
			for runtime.NumGoroutine() > before+tolerance {
				if time.Now().After(deadline) {
					buf := make([]byte, 1<<20)
					t.Fatalf("goroutines: %d before, %d after Close\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}
