package eventbus_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/eventbus"
)

// redisOptions reads REDIS_URL, defaulting to the local Redis.
func redisOptions(t testing.TB) *redis.Options {
	t.Helper()
	if url := os.Getenv("REDIS_URL"); url != "" {
		opt, err := redis.ParseURL(url)
		if err != nil {
			t.Fatalf("REDIS_URL: %v", err)
		}
		return opt
	}
	return &redis.Options{Addr: "127.0.0.1:6379"}
}

// redisClient returns a client to a Redis that answers, closed when the test
// ends. Without one the test is skipped, except in CI where it fails.
func redisClient(t testing.TB) *redis.Client {
	t.Helper()
	return redisClientWith(t, func(*redis.Options) {})
}

func redisClientWith(t testing.TB, configure func(*redis.Options)) *redis.Client {
	t.Helper()
	opt := redisOptions(t)
	configure(opt)
	client := redis.NewClient(opt)
	t.Cleanup(func() { _ = client.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis at %s is required in CI: %v", opt.Addr, err)
		}
		t.Skipf("Redis at %s unreachable: %v", opt.Addr, err)
	}
	return client
}

// newRedis builds a bus on a client (a connection pool) of its own.
func newRedis(t testing.TB, opts ...eventbus.Option) bus {
	b := eventbus.NewRedis(redisClient(t), opts...)
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestRedis(t *testing.T) {
	testBusContract(t, newRedis)
}

// Two buses on two clients stand for two API servers sharing one Redis.
func TestRedisDeliversAcrossInstances(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	server1, server2 := newRedis(t), newRedis(t)
	tenant := newTenant()
	on1, _ := mustSubscribe(t, server1, ctx, tenant)
	on2, _ := mustSubscribe(t, server2, ctx, tenant)

	mustPublish(t, server1, message(tenant, 1))
	mustPublish(t, server2, message(tenant, 2))
	for _, ch := range []<-chan domain.Message{on1, on2} {
		expectMessages(t, ch, message(tenant, 1), message(tenant, 2))
	}
}

// One pub/sub connection serves every tenant and subscriber of a bus, and a
// tenant's channel is left when its last local subscriber goes.
func TestRedisMultiplexesOneConnection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	name := "eventbus-test-" + uuid.NewString()
	client := redisClientWith(t, func(o *redis.Options) { o.ClientName = name })
	b := eventbus.NewRedis(client)
	t.Cleanup(func() { _ = b.Close() })
	admin := redisClient(t)

	tenants := []string{newTenant(), newTenant(), newTenant()}
	cancels := map[string][]func(){}
	for _, tenant := range tenants {
		for range 3 {
			_, cancel := mustSubscribe(t, b, ctx, tenant)
			cancels[tenant] = append(cancels[tenant], cancel)
		}
	}
	if n := pubsubConnections(t, admin, name); n != 1 {
		t.Fatalf("bus holds %d pub/sub connections for 9 subscribers of 3 tenants, want 1", n)
	}
	for _, tenant := range tenants {
		if n := numSub(t, admin, tenant); n != 1 {
			t.Fatalf("tenant channel has %d Redis subscribers, want 1", n)
		}
	}

	leaving := tenants[0]
	for _, cancel := range cancels[leaving][:2] {
		cancel()
	}
	if n := numSub(t, admin, leaving); n != 1 {
		t.Fatalf("channel left while a local subscriber remains (numsub %d)", n)
	}
	cancels[leaving][2]()
	waitFor(t, "the channel to be unsubscribed", func() bool { return numSub(t, admin, leaving) == 0 })
	if n := numSub(t, admin, tenants[1]); n != 1 {
		t.Fatalf("other tenant's channel has %d subscribers, want 1", n)
	}
}

// When go-redis re-establishes the pub/sub connection, messages published in
// between are lost from the bus, so the bus closes the affected subscriptions:
// their owners replay from the database and subscribe again.
func TestRedisReconnectClosesSubscriptions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	name := "eventbus-test-" + uuid.NewString()
	client := redisClientWith(t, func(o *redis.Options) { o.ClientName = name })
	b := eventbus.NewRedis(client)
	t.Cleanup(func() { _ = b.Close() })
	admin := redisClient(t)
	tenant := newTenant()
	ch, _ := mustSubscribe(t, b, ctx, tenant)

	killed := 0
	for _, c := range clientList(t, admin) {
		if c["name"] == name && c["sub"] != "0" && c["sub"] != "" {
			if err := admin.ClientKillByFilter(ctx, "ID", c["id"]).Err(); err != nil {
				t.Fatalf("CLIENT KILL: %v", err)
			}
			killed++
		}
	}
	if killed != 1 {
		t.Fatalf("found %d pub/sub connections named %s, want 1", killed, name)
	}
	drain(t, ch)
	if b.Dropped() != 1 {
		t.Fatalf("Dropped() = %d, want 1", b.Dropped())
	}

	// The bus works again for the resubscribing owner.
	again, _ := mustSubscribe(t, b, ctx, tenant)
	mustPublish(t, b, message(tenant, 7))
	expectMessages(t, again, message(tenant, 7))
}

func TestRedisUnreachable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	stalled := stalledServer(t)
	cases := []struct {
		name string
		addr string
	}{
		{"nothing listens", "127.0.0.1:1"},
		{"server accepts but never answers", stalled},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			client := redis.NewClient(&redis.Options{Addr: tc.addr})
			t.Cleanup(func() { _ = client.Close() })
			b := eventbus.NewRedis(client)
			t.Cleanup(func() { _ = b.Close() })

			// The bus promises an error within a second (publishTimeout);
			// twice that leaves room for a loaded machine.
			const bound = 2 * time.Second
			start := time.Now()
			err := b.Publish(ctx, message(newTenant(), 1))
			if err == nil {
				t.Fatal("Publish succeeded with no Redis")
			}
			if elapsed := time.Since(start); elapsed > bound {
				t.Fatalf("Publish took %v to fail, want under %v", elapsed, bound)
			}
			// Right after a failure the bus does not try again: a write
			// must not wait for a server just seen down.
			if err := b.Publish(ctx, message(newTenant(), 2)); !errors.Is(err, eventbus.ErrUnavailable) {
				t.Fatalf("Publish right after a failure = %v, want ErrUnavailable", err)
			}
			pingCtx, cancelPing := context.WithTimeout(ctx, 500*time.Millisecond)
			defer cancelPing()
			if err := b.Ping(pingCtx); err == nil {
				t.Fatal("Ping succeeded with no Redis")
			}
			subCtx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			if _, _, err := b.Subscribe(subCtx, newTenant()); err == nil {
				t.Fatal("Subscribe succeeded with no Redis")
			}
			// Close may report that the hung connection is still being torn
			// down, but it returns and ends the subscriptions.
			if err := b.Close(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Close: %v", err)
			}
			if err := b.Publish(ctx, message(newTenant(), 1)); !errors.Is(err, eventbus.ErrClosed) {
				t.Fatalf("Publish after Close = %v, want ErrClosed", err)
			}
		})
	}
}

// stalledServer accepts connections and reads them without ever answering,
// like a Redis that hangs; it stops when the test ends.
func stalledServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				for _, c := range conns {
					_ = c.Close()
				}
				return
			}
			conns = append(conns, c)
			go func() { _, _ = bufio.NewReader(c).WriteTo(discard{}) }()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); <-done })
	return ln.Addr().String()
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func clientList(t testing.TB, admin *redis.Client) []map[string]string {
	t.Helper()
	out, err := admin.ClientList(context.Background()).Result()
	if err != nil {
		t.Fatalf("CLIENT LIST: %v", err)
	}
	var clients []map[string]string
	for line := range strings.Lines(out) {
		fields := map[string]string{}
		for f := range strings.FieldsSeq(line) {
			if k, v, ok := strings.Cut(f, "="); ok {
				fields[k] = v
			}
		}
		clients = append(clients, fields)
	}
	return clients
}

func pubsubConnections(t testing.TB, admin *redis.Client, name string) int {
	n := 0
	for _, c := range clientList(t, admin) {
		if c["name"] == name && c["sub"] != "0" && c["sub"] != "" {
			n++
		}
	}
	return n
}

func numSub(t testing.TB, admin *redis.Client, tenantID string) int64 {
	t.Helper()
	channel := "custody:events:" + tenantID
	counts, err := admin.PubSubNumSub(context.Background(), channel).Result()
	if err != nil {
		t.Fatalf("PUBSUB NUMSUB: %v", err)
	}
	return counts[channel]
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
