package graph

import (
	"strconv"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/graph/model"
)

// connection turns one keyset page into Relay edges and page info.
func connection[T, E any](page domain.Page[T], cursor func(T) string, edge func(cursor string, node T) E) ([]E, *model.PageInfo) {
	edges := make([]E, len(page.Items))
	info := &model.PageInfo{HasNextPage: page.HasNext}
	for i, n := range page.Items {
		c := cursor(n)
		edges[i] = edge(c, n)
		if i == len(page.Items)-1 {
			info.EndCursor = &c
		}
	}
	return edges, info
}

func assetConnection(page domain.Page[*domain.Asset]) *model.AssetConnection {
	edges, info := connection(page,
		func(a *domain.Asset) string { return encodeCursor(typeAsset, a.ID) },
		func(c string, a *domain.Asset) *model.AssetEdge { return &model.AssetEdge{Cursor: c, Node: a} })
	return &model.AssetConnection{Edges: edges, PageInfo: info}
}

func parcelConnection(page domain.Page[*domain.Parcel]) *model.ParcelConnection {
	edges, info := connection(page,
		func(p *domain.Parcel) string { return encodeCursor(typeParcel, p.ID) },
		func(c string, p *domain.Parcel) *model.ParcelEdge { return &model.ParcelEdge{Cursor: c, Node: p} })
	return &model.ParcelConnection{Edges: edges, PageInfo: info}
}

func personConnection(page domain.Page[*domain.Person]) *model.PersonConnection {
	edges, info := connection(page,
		func(p *domain.Person) string { return encodeCursor(typePerson, p.ID) },
		func(c string, p *domain.Person) *model.PersonEdge { return &model.PersonEdge{Cursor: c, Node: p} })
	return &model.PersonConnection{Edges: edges, PageInfo: info}
}

func eventConnection(page domain.Page[*domain.CustodyEvent]) *model.CustodyEventConnection {
	edges, info := connection(page,
		func(e *domain.CustodyEvent) string {
			return encodeCursor(typeCustodyEvent, strconv.FormatInt(e.Seq, 10))
		},
		func(c string, e *domain.CustodyEvent) *model.CustodyEventEdge {
			return &model.CustodyEventEdge{Cursor: c, Node: e}
		})
	return &model.CustodyEventConnection{Edges: edges, PageInfo: info}
}

func caseConnection(page domain.Page[*domain.OffboardingCase]) *model.OffboardingCaseConnection {
	edges, info := connection(page,
		func(c *domain.OffboardingCase) string { return encodeCursor(typeOffboardingCase, c.ID) },
		func(cur string, c *domain.OffboardingCase) *model.OffboardingCaseEdge {
			return &model.OffboardingCaseEdge{Cursor: cur, Node: c}
		})
	return &model.OffboardingCaseConnection{Edges: edges, PageInfo: info}
}

func returnConnection(page domain.Page[*domain.Return]) *model.AssetReturnConnection {
	edges, info := connection(page,
		func(r *domain.Return) string { return encodeCursor(typeAssetReturn, r.ID) },
		func(cur string, r *domain.Return) *model.AssetReturnEdge {
			return &model.AssetReturnEdge{Cursor: cur, Node: r}
		})
	return &model.AssetReturnConnection{Edges: edges, PageInfo: info}
}

func vendorConnection(page domain.Page[*domain.Vendor]) *model.VendorConnection {
	edges, info := connection(page,
		func(v *domain.Vendor) string { return encodeCursor(typeVendor, v.ID) },
		func(cur string, v *domain.Vendor) *model.VendorEdge { return &model.VendorEdge{Cursor: cur, Node: v} })
	return &model.VendorConnection{Edges: edges, PageInfo: info}
}

func pickupOrderConnection(page domain.Page[*domain.PickupOrder]) *model.PickupOrderConnection {
	edges, info := connection(page,
		func(o *domain.PickupOrder) string { return encodeCursor(typePickupOrder, o.ID) },
		func(cur string, o *domain.PickupOrder) *model.PickupOrderEdge {
			return &model.PickupOrderEdge{Cursor: cur, Node: o}
		})
	return &model.PickupOrderConnection{Edges: edges, PageInfo: info}
}

func certificateConnection(page domain.Page[*domain.Certificate]) *model.CertificateConnection {
	edges, info := connection(page,
		func(c *domain.Certificate) string { return encodeCursor(typeCertificate, c.ID) },
		func(cur string, c *domain.Certificate) *model.CertificateEdge {
			return &model.CertificateEdge{Cursor: cur, Node: c}
		})
	return &model.CertificateConnection{Edges: edges, PageInfo: info}
}

func breachConnection(page domain.Page[*domain.Breach]) *model.SLABreachConnection {
	edges, info := connection(page,
		func(b *domain.Breach) string { return encodeCursor(listSLABreaches, b.ID) },
		func(cur string, b *domain.Breach) *model.SLABreachEdge {
			return &model.SLABreachEdge{Cursor: cur, Node: b}
		})
	return &model.SLABreachConnection{Edges: edges, PageInfo: info}
}
