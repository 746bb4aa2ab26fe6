package graph

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/custody-dev/custody/tenancy"
)

// TestSharedFetch: subscriptions answering at one state of the log fetch
// each record once; a new event (a new head) refetches; a failed fetch is
// not remembered; without a live feed nothing is shared.
func TestSharedFetch(t *testing.T) {
	var head atomic.Int64
	live := atomic.Bool{}
	live.Store(true)
	snaps := newSnapshots(func(string) (int64, bool) { return head.Load(), live.Load() })
	var calls atomic.Int64
	var fail atomic.Bool
	fetch := sharedFetch(snaps, "assets", func(_ context.Context, keys []string) (map[string]string, error) {
		calls.Add(1)
		if fail.Load() {
			return nil, errors.New("database down")
		}
		out := map[string]string{}
		for _, k := range keys {
			if k != "missing" {
				out[k] = k + "@" + string(rune('0'+head.Load()))
			}
		}
		return out, nil
	})
	ctx := tenancy.WithPrincipal(context.Background(), tenancy.Principal{TenantID: "t1"})
	get := func() map[string]string {
		got, err := fetch(ctx, []string{"a", "missing"})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	head.Store(1)
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got := get(); got["a"] != "a@1" || len(got) != 1 {
				t.Errorf("got %v", got)
			}
		}()
	}
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Fatalf("50 subscribers at one head cost %d fetches, want 1", n)
	}

	head.Store(2)
	if got := get(); got["a"] != "a@2" || calls.Load() != 2 {
		t.Fatalf("after the log grew: %v after %d fetches, want a fresh read", got, calls.Load())
	}

	head.Store(3)
	fail.Store(true)
	if _, err := fetch(ctx, []string{"a"}); err == nil {
		t.Fatal("a failed fetch succeeded")
	}
	fail.Store(false)
	if got := get(); got["a"] != "a@3" {
		t.Fatalf("after a failure: %v, want a retry", got)
	}

	live.Store(false)
	before := calls.Load()
	get()
	get()
	if calls.Load() != before+2 {
		t.Fatal("without a live feed, fetches were shared")
	}

	other := tenancy.WithPrincipal(context.Background(), tenancy.Principal{TenantID: "t2"})
	live.Store(true)
	before = calls.Load()
	if _, err := fetch(other, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != before+1 {
		t.Fatal("another tenant was served from the first tenant's snapshot")
	}
	if _, err := fetch(context.Background(), []string{"a"}); !errors.Is(err, tenancy.ErrNoTenant) {
		t.Fatalf("no tenant: %v, want ErrNoTenant", err)
	}
}
