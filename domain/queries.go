package domain

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// get runs a single-record lookup in a read transaction. A missing record is
// (nil, nil): queries answer "not found" with null, the same for another
// tenant's id.
func get[T any](ctx context.Context, st Store, what string, fn func(Tx) (*T, error)) (*T, error) {
	var out *T
	err := st.View(ctx, func(tx Tx) error {
		v, err := fn(tx)
		out = v
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", what, err)
	}
	return out, nil
}

// Asset returns an asset by id, or nil.
func (s *Service) Asset(ctx context.Context, id string) (*Asset, error) {
	return get(ctx, s.store, "asset", func(tx Tx) (*Asset, error) { return tx.GetAsset(id) })
}

// AssetBySerial returns the asset with this manufacturer serial, or nil.
func (s *Service) AssetBySerial(ctx context.Context, serial string) (*Asset, error) {
	if !printable(serial) {
		return nil, nil
	}
	return get(ctx, s.store, "asset by serial", func(tx Tx) (*Asset, error) {
		return tx.GetAssetBySerial(normalizeIdentifier(serial))
	})
}

// AssetByTag returns the asset with this company asset tag, or nil.
func (s *Service) AssetByTag(ctx context.Context, tag string) (*Asset, error) {
	if !printable(tag) {
		return nil, nil
	}
	return get(ctx, s.store, "asset by tag", func(tx Tx) (*Asset, error) {
		return tx.GetAssetByTag(normalizeIdentifier(tag))
	})
}

// Parcel returns a parcel by id, or nil.
func (s *Service) Parcel(ctx context.Context, id string) (*Parcel, error) {
	return get(ctx, s.store, "parcel", func(tx Tx) (*Parcel, error) { return tx.GetParcel(id) })
}

// Person returns a person by id, or nil.
func (s *Service) Person(ctx context.Context, id string) (*Person, error) {
	return get(ctx, s.store, "person", func(tx Tx) (*Person, error) { return tx.GetPerson(id) })
}

// Signature returns a signature (with its image) by id, or nil.
func (s *Service) Signature(ctx context.Context, id string) (*Signature, error) {
	return get(ctx, s.store, "signature", func(tx Tx) (*Signature, error) { return tx.GetSignature(id) })
}

// Event returns a custody event by id, or nil.
func (s *Service) Event(ctx context.Context, id string) (*CustodyEvent, error) {
	return get(ctx, s.store, "custody event", func(tx Tx) (*CustodyEvent, error) { return tx.GetEvent(id) })
}

// list runs a keyset-paginated list in a read transaction, fetching one extra
// row to learn whether another page follows.
func list[T any](ctx context.Context, st Store, what string, first *int, after string,
	fn func(Tx, PageRequest) ([]T, error)) (Page[T], error) {
	n, err := PageSize(first)
	if err != nil {
		return Page[T]{}, err
	}
	if n == 0 {
		return Page[T]{}, nil
	}
	var items []T
	err = st.View(ctx, func(tx Tx) error {
		var err error
		items, err = fn(tx, PageRequest{First: n + 1, After: after})
		return err
	})
	if err != nil {
		return Page[T]{}, fmt.Errorf("list %s: %w", what, err)
	}
	return pageOf(items, n), nil
}

// Assets lists assets matching f in creation order.
func (s *Service) Assets(ctx context.Context, f AssetFilter, first *int, after string) (Page[*Asset], error) {
	for _, st := range f.States {
		if !st.Valid() {
			return Page[*Asset]{}, &ArgumentError{Argument: "filter.states", Message: "unknown state " + string(st)}
		}
	}
	f.Search = strings.TrimSpace(f.Search)
	if len(f.Search) > 100 || !printable(f.Search) {
		return Page[*Asset]{}, &ArgumentError{Argument: "filter.search", Message: "must be at most 100 characters of text"}
	}
	return list(ctx, s.store, "assets", first, after, func(tx Tx, p PageRequest) ([]*Asset, error) {
		return tx.ListAssets(f, p)
	})
}

// Parcels lists parcels matching f in arrival order.
func (s *Service) Parcels(ctx context.Context, f ParcelFilter, first *int, after string) (Page[*Parcel], error) {
	return list(ctx, s.store, "parcels", first, after, func(tx Tx, p PageRequest) ([]*Parcel, error) {
		return tx.ListParcels(f, p)
	})
}

// People lists people matching f in creation order.
func (s *Service) People(ctx context.Context, f PersonFilter, first *int, after string) (Page[*Person], error) {
	f.Search = strings.TrimSpace(f.Search)
	if len(f.Search) > 100 || !printable(f.Search) {
		return Page[*Person]{}, &ArgumentError{Argument: "filter.search", Message: "must be at most 100 characters of text"}
	}
	return list(ctx, s.store, "people", first, after, func(tx Tx, p PageRequest) ([]*Person, error) {
		return tx.ListPeople(f, p)
	})
}

// AssetHistory lists an asset's custody events in log order. after is a
// sequence number (decimal) or empty.
func (s *Service) AssetHistory(ctx context.Context, assetID string, first *int, after string) (Page[*CustodyEvent], error) {
	if after != "" {
		if _, err := strconv.ParseInt(after, 10, 64); err != nil {
			return Page[*CustodyEvent]{}, &ArgumentError{Argument: "after", Message: "is not a cursor of this list"}
		}
	}
	return list(ctx, s.store, "custody history", first, after, func(tx Tx, p PageRequest) ([]*CustodyEvent, error) {
		return tx.ListAssetEvents(assetID, p)
	})
}

// HistoryFirstPages returns the first page of several assets' histories
// (see AssetHistory) in one statement, for lists that show each item's history.
func (s *Service) HistoryFirstPages(ctx context.Context, assetIDs []string, first *int) (map[string]Page[*CustodyEvent], error) {
	n, err := PageSize(first)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Page[*CustodyEvent], len(assetIDs))
	if n == 0 {
		return out, nil
	}
	var got map[string][]*CustodyEvent
	err = s.store.View(ctx, func(tx Tx) error {
		var err error
		got, err = tx.FirstAssetEvents(assetIDs, n+1)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("custody history first pages: %w", err)
	}
	for _, id := range assetIDs {
		out[id] = pageOf(got[id], n)
	}
	return out, nil
}

// Batch lookups for dataloaders: one statement per batch, whatever its size.

// PeopleByID returns the people among ids.
func (s *Service) PeopleByID(ctx context.Context, ids []string) ([]*Person, error) {
	return batch(ctx, s.store, "people", func(tx Tx) ([]*Person, error) { return tx.GetPeople(ids) })
}

// AssetsByID returns the assets among ids.
func (s *Service) AssetsByID(ctx context.Context, ids []string) ([]*Asset, error) {
	return batch(ctx, s.store, "assets", func(tx Tx) ([]*Asset, error) { return tx.GetAssets(ids) })
}

// ParcelsByID returns the parcels among ids.
func (s *Service) ParcelsByID(ctx context.Context, ids []string) ([]*Parcel, error) {
	return batch(ctx, s.store, "parcels", func(tx Tx) ([]*Parcel, error) { return tx.GetParcels(ids) })
}

// SignaturesByID returns the signatures among ids.
func (s *Service) SignaturesByID(ctx context.Context, ids []string) ([]*Signature, error) {
	return batch(ctx, s.store, "signatures", func(tx Tx) ([]*Signature, error) { return tx.GetSignatures(ids) })
}

// MembersByID returns the members among ids.
func (s *Service) MembersByID(ctx context.Context, ids []string) ([]*Member, error) {
	return batch(ctx, s.store, "members", func(tx Tx) ([]*Member, error) { return tx.GetMembers(ids) })
}

// RecentEvents returns, per asset, its last n custody events newest first.
func (s *Service) RecentEvents(ctx context.Context, assetIDs []string, n int) (map[string][]*CustodyEvent, error) {
	var out map[string][]*CustodyEvent
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		out, err = tx.LastAssetEvents(assetIDs, n)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("recent custody events: %w", err)
	}
	return out, nil
}

func batch[T any](ctx context.Context, st Store, what string, fn func(Tx) ([]T, error)) ([]T, error) {
	var out []T
	err := st.View(ctx, func(tx Tx) error {
		var err error
		out, err = fn(tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", what, err)
	}
	return out, nil
}

// EventsByID loads custody events in one statement (dataloaders).
func (s *Service) EventsByID(ctx context.Context, ids []string) ([]*CustodyEvent, error) {
	return batch(ctx, s.store, "custody events", func(tx Tx) ([]*CustodyEvent, error) { return tx.GetEvents(ids) })
}
