package eventbus_test

import (
	"context"
	"testing"

	"github.com/custody-dev/custody/domain"
)

// BenchmarkPublishReceive measures the latency from Publish to the
// subscriber's receive, one message at a time. The Redis case publishes on
// one bus instance and receives on another, as two API servers would.
func BenchmarkPublishReceive(b *testing.B) {
	b.Run("in-process", func(b *testing.B) {
		bus := newInProcess(b)
		benchPublishReceive(b, bus, bus)
	})
	b.Run("redis", func(b *testing.B) {
		benchPublishReceive(b, newRedis(b), newRedis(b))
	})
}

func benchPublishReceive(b *testing.B, publisher, subscriber domain.Bus) {
	ctx := context.Background()
	tenant := newTenant()
	ch, cancel, err := subscriber.Subscribe(ctx, tenant)
	if err != nil {
		b.Fatal(err)
	}
	defer cancel()
	var seq int64
	for b.Loop() {
		seq++
		if err := publisher.Publish(ctx, message(tenant, seq)); err != nil {
			b.Fatal(err)
		}
		if m, ok := <-ch; !ok || m.Seq != seq {
			b.Fatalf("received %+v (open %v), want seq %d", m, ok, seq)
		}
	}
}
