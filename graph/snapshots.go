package graph

import (
	"context"
	"fmt"
	"sync"

	"github.com/custody-dev/custody/tenancy"
)

// snapshots lets the subscriptions of one server share the records they load
// to answer the same event. A thousand HR systems following one tenant all
// ask for the returned asset and its case at once; without sharing, each
// delivery would cost its own transactions. Records are shared only while
// the tenant's custody log has not grown: every change to the records cached
// here (assets, parcels, cases and their items, events, signatures, members,
// manifest lines, pickup signatures, certificates, sanitization records)
// appends a custody event or never happens (events, signatures), so a
// snapshot keyed by the log's head is as fresh as a new read. People change
// without custody events (HR edits), so they are never shared.
type snapshots struct {
	// head is the last sequence number the tenant's live feed has read, and
	// whether one runs (domain.Service.FeedHead).
	head func(tenantID string) (int64, bool)

	mu       sync.Mutex
	byTenant map[string]*snapshot
}

// maxSnapshotEntries bounds one snapshot: a client replaying a long history
// on a quiet tenant must not grow it without end. Past it, loads are not
// shared (each subscriber reads for itself, as without snapshots).
const maxSnapshotEntries = 10000

// snapshot holds what was loaded while a tenant's log ended at head.
type snapshot struct {
	head    int64
	mu      sync.Mutex
	entries map[snapshotKey]*snapshotEntry
}

// snapshotKey names one loaded value: the loader and its key.
type snapshotKey struct {
	loader string
	key    any
}

// snapshotEntry is a value being loaded (done open) or loaded.
type snapshotEntry struct {
	done  chan struct{}
	value any
	found bool
	err   error
}

func newSnapshots(head func(tenantID string) (int64, bool)) *snapshots {
	return &snapshots{head: head, byTenant: map[string]*snapshot{}}
}

// current returns the tenant's snapshot at the live feed's head, or nil when
// no feed runs for it (nothing to share with).
func (s *snapshots) current(tenantID string) *snapshot {
	head, ok := s.head(tenantID)
	if !ok {
		s.mu.Lock()
		delete(s.byTenant, tenantID)
		s.mu.Unlock()
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := s.byTenant[tenantID]
	switch {
	case snap == nil || snap.head < head:
		snap = &snapshot{head: head, entries: map[snapshotKey]*snapshotEntry{}}
		s.byTenant[tenantID] = snap
		// Forget the tenants nobody follows here any more.
		for t := range s.byTenant {
			if _, live := s.head(t); !live {
				delete(s.byTenant, t)
			}
		}
	case snap.head > head:
		// Cannot happen with one feed per tenant; never share backwards.
		return nil
	}
	return snap
}

// sharedFetch wraps a loader's fetch so that, in a subscription response,
// keys already loaded (or being loaded) for the same snapshot are not
// fetched again. Concurrent callers wait for the first fetch of a key.
func sharedFetch[K comparable, V any](s *snapshots, loader string, fetch func(context.Context, []K) (map[K]V, error)) func(context.Context, []K) (map[K]V, error) {
	return func(ctx context.Context, keys []K) (map[K]V, error) {
		tenantID, err := tenancy.TenantID(ctx)
		if err != nil {
			return nil, fmt.Errorf("shared %s: %w", loader, err)
		}
		snap := s.current(tenantID)
		if snap == nil {
			return fetch(ctx, keys)
		}
		out := make(map[K]V, len(keys))
		var missing []K
		var mine []*snapshotEntry
		var theirs []*snapshotEntry
		var theirKeys []K
		snap.mu.Lock()
		if len(snap.entries)+len(keys) > maxSnapshotEntries {
			snap.mu.Unlock()
			return fetch(ctx, keys)
		}
		for _, k := range keys {
			sk := snapshotKey{loader: loader, key: k}
			if e, ok := snap.entries[sk]; ok {
				theirs, theirKeys = append(theirs, e), append(theirKeys, k)
				continue
			}
			e := &snapshotEntry{done: make(chan struct{})}
			snap.entries[sk] = e
			missing, mine = append(missing, k), append(mine, e)
		}
		snap.mu.Unlock()

		if len(missing) > 0 {
			// Others wait on this fetch: this subscriber leaving must not
			// fail it for them. The tenant scope stays in the context.
			got, err := fetch(context.WithoutCancel(ctx), missing)
			for i, k := range missing {
				e := mine[i]
				if err != nil {
					e.err = err
					// A failed load is not remembered: the next asker retries.
					snap.mu.Lock()
					delete(snap.entries, snapshotKey{loader: loader, key: k})
					snap.mu.Unlock()
				} else if v, ok := got[k]; ok {
					e.value, e.found = v, true
					out[k] = v
				}
				close(e.done)
			}
			if err != nil {
				return nil, err
			}
		}
		for i, e := range theirs {
			select {
			case <-e.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if e.err != nil {
				return nil, e.err
			}
			if e.found {
				out[theirKeys[i]] = e.value.(V)
			}
		}
		return out, nil
	}
}

// maybeShared is fetch itself, or its shared form when snaps is not nil.
func maybeShared[K comparable, V any](snaps *snapshots, loader string, fetch func(context.Context, []K) (map[K]V, error)) func(context.Context, []K) (map[K]V, error) {
	if snaps == nil {
		return fetch
	}
	return sharedFetch(snaps, loader, fetch)
}
