package graph

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vikstrous/dataloadgen"

	"github.com/custody-dev/custody/domain"
)

// loaderWait is how long a loader collects keys before it fetches them.
// gqlgen resolves the fields of a list's items in parallel goroutines, which
// all ask within microseconds; a couple of milliseconds gathers them into one
// statement per loader without adding noticeable latency.
const loaderWait = 2 * time.Millisecond

// loaderBatch bounds the ids of one statement: a page of 100 assets asks for
// at most a few hundred, and a mutation payload for at most 500.
const loaderBatch = 500

// loaders batch the lookups of one operation, so a list of N records with
// their related records costs a constant number of SQL statements. They live
// for one operation only: their cache must never outlive the tenant scope or
// serve stale rows to a later request.
type loaders struct {
	people      *batcher[string, *domain.Person]
	members     *batcher[string, *domain.Member]
	parcels     *batcher[string, *domain.Parcel]
	assets      *batcher[string, *domain.Asset]
	signatures  *batcher[string, *domain.Signature]
	events      *batcher[string, *domain.CustodyEvent]
	cases       *batcher[string, *domain.OffboardingCase]
	caseItems   *batcher[string, []*domain.CaseItem]
	returns     *batcher[string, *domain.Return]
	vendors     *batcher[string, *domain.Vendor]
	pickupLines *batcher[string, []*domain.PickupLine]
	// pickupOrders, pickupSignatures, certificates and sanitizations
	// (disposition): the last three keyed by order.
	pickupOrders     *batcher[string, *domain.PickupOrder]
	pickupSignatures *batcher[string, []*domain.PickupSignature]
	certificates     *batcher[string, *domain.Certificate]
	sanitizations    *batcher[string, map[string]*domain.SanitizationRecord]
	recentEvents     *batcher[recentKey, []*domain.CustodyEvent]
	historyHeads     *batcher[historyKey, domain.Page[*domain.CustodyEvent]]
}

// historyKey asks for the first page (first items) of an asset's history;
// first is 0 when the argument was omitted.
type historyKey struct {
	assetID string
	first   int
	given   bool
}

// recentKey asks for an asset's last n events; one batch issues one
// statement per distinct n, however many assets.
type recentKey struct {
	assetID string
	n       int
}

type loadersKey struct{}

// WithLoaders returns ctx carrying fresh dataloaders over svc. Call it once
// per operation, after the tenant and principal are in ctx: every batch runs
// in the tenant scope of the operation's context.
func WithLoaders(ctx context.Context, svc *domain.Service) context.Context {
	return context.WithValue(ctx, loadersKey{}, newLoaders(svc, nil))
}

// withSharedLoaders returns ctx carrying dataloaders for one event of a
// subscription: fresh ones, whose records are shared with the other
// subscriptions answering at the same state of the log (snapshots).
func withSharedLoaders(ctx context.Context, svc *domain.Service, snaps *snapshots) context.Context {
	return context.WithValue(ctx, loadersKey{}, newLoaders(svc, snaps))
}

func newLoaders(svc *domain.Service, snaps *snapshots) *loaders {
	return &loaders{
		// People change without custody events, so they are never shared.
		people:     newBatcher("people", byID(svc.PeopleByID, func(p *domain.Person) string { return p.ID })),
		members:    newBatcher("members", maybeShared(snaps, "members", byID(svc.MembersByID, func(m *domain.Member) string { return m.ID }))),
		parcels:    newBatcher("parcels", maybeShared(snaps, "parcels", byID(svc.ParcelsByID, func(p *domain.Parcel) string { return p.ID }))),
		assets:     newBatcher("assets", maybeShared(snaps, "assets", byID(svc.AssetsByID, func(a *domain.Asset) string { return a.ID }))),
		signatures: newBatcher("signatures", maybeShared(snaps, "signatures", byID(svc.SignaturesByID, func(s *domain.Signature) string { return s.ID }))),
		events:     newBatcher("custody events", maybeShared(snaps, "events", byID(svc.EventsByID, func(e *domain.CustodyEvent) string { return e.ID }))),
		cases:      newBatcher("off-boarding cases", maybeShared(snaps, "cases", byID(svc.CasesByID, func(c *domain.OffboardingCase) string { return c.ID }))),
		caseItems: newBatcher("off-boarding case items", maybeShared(snaps, "caseItems",
			groupBy(svc.CaseItems, func(it *domain.CaseItem) string { return it.CaseID }))),
		returns: newBatcher("returns", maybeShared(snaps, "returns", byID(svc.ReturnsByID, func(r *domain.Return) string { return r.ID }))),
		// Vendors change without custody events (certifications), so they are never shared.
		vendors: newBatcher("vendors", byID(svc.VendorsByID, func(v *domain.Vendor) string { return v.ID })),
		pickupLines: newBatcher("pickup lines", maybeShared(snaps, "pickupLines",
			groupBy(svc.PickupLines, func(l *domain.PickupLine) string { return l.OrderID }))),
		// Whether an order is visible depends on the caller (a vendor sees
		// its own), so orders are never shared.
		pickupOrders: newBatcher("pickup orders", byID(svc.PickupOrdersByID, func(o *domain.PickupOrder) string { return o.ID })),
		// Signatures, certificates and sanitization records are written with
		// the custody events of a confirmation, an issue or a record, and
		// never change: shared. Their orders were checked visible first.
		pickupSignatures: newBatcher("pickup signatures", maybeShared(snaps, "pickupSignatures",
			groupBy(svc.PickupSignatures, func(s *domain.PickupSignature) string { return s.OrderID }))),
		certificates: newBatcher("certificates", maybeShared(snaps, "certificates",
			byID(svc.CertificatesOfOrders, func(c *domain.Certificate) string { return c.OrderID }))),
		// Indexed by asset: a line finds its record at once, however long
		// its order's manifest.
		sanitizations: newBatcher("sanitization records", maybeShared(snaps, "sanitizations",
			func(ctx context.Context, orderIDs []string) (map[string]map[string]*domain.SanitizationRecord, error) {
				recs, err := svc.Sanitizations(ctx, orderIDs)
				if err != nil {
					return nil, err
				}
				out := make(map[string]map[string]*domain.SanitizationRecord, len(orderIDs))
				for _, id := range orderIDs {
					out[id] = map[string]*domain.SanitizationRecord{}
				}
				for _, r := range recs {
					out[r.OrderID][r.AssetID] = r
				}
				return out, nil
			})),
		recentEvents: newBatcher("recent custody events", maybeShared(snaps, "recentEvents", func(ctx context.Context, keys []recentKey) (map[recentKey][]*domain.CustodyEvent, error) {
			return fetchRecentEvents(ctx, svc, keys)
		})),
		historyHeads: newBatcher("custody history pages", maybeShared(snaps, "historyHeads", func(ctx context.Context, keys []historyKey) (map[historyKey]domain.Page[*domain.CustodyEvent], error) {
			return fetchHistoryHeads(ctx, svc, keys)
		})),
	}
}

// batcher is a dataloader that does not wait when waiting cannot help.
type batcher[K comparable, V any] struct {
	what   string
	fetch  func(context.Context, []K) (map[K]V, error)
	loader *dataloadgen.Loader[K, V]
}

func newBatcher[K comparable, V any](what string, fetch func(context.Context, []K) (map[K]V, error)) *batcher[K, V] {
	return &batcher[K, V]{what: what, fetch: fetch, loader: dataloadgen.NewMappedLoader(fetch,
		dataloadgen.WithWait(loaderWait), dataloadgen.WithBatchCapacity(loaderBatch))}
}

// load returns the value of key, or the zero value when there is none. A
// field under a list goes through the loader, where its siblings' keys join
// it in one statement. A field under no list (a single asset's holder) has
// no sibling to wait for, so it is fetched at once, sparing the loader's
// wait on the most common lookups; the bound stays constant whatever the
// data, set by the query's text alone.
func (b *batcher[K, V]) load(ctx context.Context, key K) (V, error) {
	var zero V
	if !inList(ctx) {
		found, err := b.fetch(ctx, []K{key})
		if err != nil {
			return zero, fmt.Errorf("load %s: %w", b.what, err)
		}
		v, ok := found[key]
		if ok {
			b.loader.Prime(key, v)
		}
		return v, nil
	}
	v, err := b.loader.Load(ctx, key)
	if errors.Is(err, dataloadgen.ErrNotFound) {
		return zero, nil
	}
	if err != nil {
		return zero, fmt.Errorf("load %s: %w", b.what, err)
	}
	return v, nil
}

// inList reports whether the field being resolved sits under a list, where
// its siblings ask the same loader at the same moment.
func inList(ctx context.Context) bool {
	for _, p := range graphql.GetPath(ctx) {
		if _, ok := p.(ast.PathIndex); ok {
			return true
		}
	}
	return false
}

// byID adapts a batch lookup to a loader's fetch.
func byID[T any](fetch func(context.Context, []string) ([]*T, error), key func(*T) string) func(context.Context, []string) (map[string]*T, error) {
	return func(ctx context.Context, ids []string) (map[string]*T, error) {
		found, err := fetch(ctx, ids)
		if err != nil {
			return nil, err
		}
		out := make(map[string]*T, len(found))
		for _, v := range found {
			out[key(v)] = v
		}
		return out, nil
	}
}

// groupBy adapts a batch lookup of many parents' children to a loader's
// fetch: each key gets its children, or an empty list (never nil).
func groupBy[T any](fetch func(context.Context, []string) ([]*T, error), parent func(*T) string) func(context.Context, []string) (map[string][]*T, error) {
	return func(ctx context.Context, keys []string) (map[string][]*T, error) {
		found, err := fetch(ctx, keys)
		if err != nil {
			return nil, err
		}
		out := make(map[string][]*T, len(keys))
		for _, k := range keys {
			out[k] = []*T{}
		}
		for _, v := range found {
			out[parent(v)] = append(out[parent(v)], v)
		}
		return out, nil
	}
}

func fetchRecentEvents(ctx context.Context, svc *domain.Service, keys []recentKey) (map[recentKey][]*domain.CustodyEvent, error) {
	byN := map[int][]string{}
	for _, k := range keys {
		byN[k.n] = append(byN[k.n], k.assetID)
	}
	out := make(map[recentKey][]*domain.CustodyEvent, len(keys))
	for n, ids := range byN {
		got, err := svc.RecentEvents(ctx, ids, n)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			out[recentKey{id, n}] = got[id]
		}
	}
	return out, nil
}

func fetchHistoryHeads(ctx context.Context, svc *domain.Service, keys []historyKey) (map[historyKey]domain.Page[*domain.CustodyEvent], error) {
	type size struct {
		first int
		given bool
	}
	bySize := map[size][]string{}
	for _, k := range keys {
		bySize[size{k.first, k.given}] = append(bySize[size{k.first, k.given}], k.assetID)
	}
	out := make(map[historyKey]domain.Page[*domain.CustodyEvent], len(keys))
	for sz, ids := range bySize {
		var first *int
		if sz.given {
			first = &sz.first
		}
		got, err := svc.HistoryFirstPages(ctx, ids, first)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			out[historyKey{id, sz.first, sz.given}] = got[id]
		}
	}
	return out, nil
}

// errNoLoaders means an operation ran without WithLoaders: a wiring bug.
var errNoLoaders = errors.New("graph: no dataloaders in context")

// load fetches one record by key through the operation's loaders; a missing
// record (or an empty key) is nil, like everywhere else in the API.
func load[K comparable, V any](ctx context.Context, pick func(*loaders) *batcher[K, V], key K) (V, error) {
	var zeroKey K
	var zero V
	if key == zeroKey {
		return zero, nil
	}
	l, ok := ctx.Value(loadersKey{}).(*loaders)
	if !ok {
		return zero, errNoLoaders
	}
	return pick(l).load(ctx, key)
}

func loadPerson(ctx context.Context, id string) (*domain.Person, error) {
	return load(ctx, func(l *loaders) *batcher[string, *domain.Person] { return l.people }, id)
}

func loadMember(ctx context.Context, id string) (*domain.Member, error) {
	return load(ctx, func(l *loaders) *batcher[string, *domain.Member] { return l.members }, id)
}

func loadParcel(ctx context.Context, id string) (*domain.Parcel, error) {
	return load(ctx, func(l *loaders) *batcher[string, *domain.Parcel] { return l.parcels }, id)
}

func loadAsset(ctx context.Context, id string) (*domain.Asset, error) {
	return load(ctx, func(l *loaders) *batcher[string, *domain.Asset] { return l.assets }, id)
}

func loadSignature(ctx context.Context, id string) (*domain.Signature, error) {
	return load(ctx, func(l *loaders) *batcher[string, *domain.Signature] { return l.signatures }, id)
}

// loadRecentEvents returns an asset's last n custody events, newest first.
func loadRecentEvents(ctx context.Context, assetID string, n int) ([]*domain.CustodyEvent, error) {
	if n == 0 {
		return []*domain.CustodyEvent{}, nil
	}
	evs, err := load(ctx, func(l *loaders) *batcher[recentKey, []*domain.CustodyEvent] { return l.recentEvents },
		recentKey{assetID: assetID, n: n})
	if evs == nil && err == nil {
		evs = []*domain.CustodyEvent{}
	}
	return evs, err
}

// loadHistoryHead returns the first page of an asset's history; the pages
// of a list's assets come in one statement.
func loadHistoryHead(ctx context.Context, assetID string, first *int) (domain.Page[*domain.CustodyEvent], error) {
	key := historyKey{assetID: assetID}
	if first != nil {
		if _, err := domain.PageSize(first); err != nil {
			return domain.Page[*domain.CustodyEvent]{}, err
		}
		key.first, key.given = *first, true
	}
	return load(ctx, func(l *loaders) *batcher[historyKey, domain.Page[*domain.CustodyEvent]] { return l.historyHeads }, key)
}

func loadEvent(ctx context.Context, id string) (*domain.CustodyEvent, error) {
	return load(ctx, func(l *loaders) *batcher[string, *domain.CustodyEvent] { return l.events }, id)
}

func loadCase(ctx context.Context, id string) (*domain.OffboardingCase, error) {
	return load(ctx, func(l *loaders) *batcher[string, *domain.OffboardingCase] { return l.cases }, id)
}

func loadReturn(ctx context.Context, id string) (*domain.Return, error) {
	return load(ctx, func(l *loaders) *batcher[string, *domain.Return] { return l.returns }, id)
}

// loadCaseItems returns a case's items; the items of a list's cases come in
// one statement.
func loadCaseItems(ctx context.Context, caseID string) ([]*domain.CaseItem, error) {
	return load(ctx, func(l *loaders) *batcher[string, []*domain.CaseItem] { return l.caseItems }, caseID)
}

func loadVendor(ctx context.Context, id string) (*domain.Vendor, error) {
	return load(ctx, func(l *loaders) *batcher[string, *domain.Vendor] { return l.vendors }, id)
}

// loadPickupLines returns an order's manifest; the manifests of a list's
// orders come in one statement.
func loadPickupLines(ctx context.Context, orderID string) ([]*domain.PickupLine, error) {
	return load(ctx, func(l *loaders) *batcher[string, []*domain.PickupLine] { return l.pickupLines }, orderID)
}

// loadPickupOrder returns an order the caller may see, or nil; those of a
// list (certificates' orders) come in one statement.
func loadPickupOrder(ctx context.Context, id string) (*domain.PickupOrder, error) {
	return load(ctx, func(l *loaders) *batcher[string, *domain.PickupOrder] { return l.pickupOrders }, id)
}

// loadPickupSignatures returns the signatures that confirmed an order's
// pickup; those of a list's orders come in one statement.
func loadPickupSignatures(ctx context.Context, orderID string) ([]*domain.PickupSignature, error) {
	sigs, err := load(ctx, func(l *loaders) *batcher[string, []*domain.PickupSignature] { return l.pickupSignatures }, orderID)
	if sigs == nil && err == nil {
		sigs = []*domain.PickupSignature{}
	}
	return sigs, err
}

// loadCertificateOf returns an order's certificate, or nil before it is
// issued; those of a list's orders come in one statement.
func loadCertificateOf(ctx context.Context, orderID string) (*domain.Certificate, error) {
	return load(ctx, func(l *loaders) *batcher[string, *domain.Certificate] { return l.certificates }, orderID)
}

// loadSanitizations returns an order's sanitization records by asset; those of a
// list's orders (or lines) come in one statement.
func loadSanitizations(ctx context.Context, orderID string) (map[string]*domain.SanitizationRecord, error) {
	return load(ctx, func(l *loaders) *batcher[string, map[string]*domain.SanitizationRecord] { return l.sanitizations }, orderID)
}
