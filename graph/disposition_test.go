package graph

import (
	"context"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/graph/model"
)

func TestDispositionReportLinks(t *testing.T) {
	const id = "0190f3b4-6a2e-7c1d-9e8f-0123456789ab"
	order := EncodeID(typePickupOrder, id)
	padded := base64.StdEncoding.EncodeToString([]byte("PickupOrder:" + id))
	day := func(s string) *time.Time { d, _ := time.Parse(time.DateOnly, s); return &d }
	for _, tc := range []struct {
		name    string
		filter  model.DispositionReportFilter
		csv     string
		orderID string
		noMatch bool
	}{
		{"an order", model.DispositionReportFilter{OrderID: &order},
			"/reports/disposition.csv?order=" + order, id, false},
		{"an order id re-encoded by the client", model.DispositionReportFilter{OrderID: &padded},
			"/reports/disposition.csv?order=" + order, id, false},
		{"a date range", model.DispositionReportFilter{From: day("2026-11-01"), To: day("2026-12-01")},
			"/reports/disposition.csv?from=2026-11-01&to=2026-12-01", "", false},
		{"an id of another type matches nothing", model.DispositionReportFilter{OrderID: ptr(EncodeID(typeAsset, id))},
			"/reports/disposition.csv?order=" + EncodeID(typeAsset, id), "", true},
		{"a malformed id is escaped in the link", model.DispositionReportFilter{OrderID: ptr("a&b=c")},
			"/reports/disposition.csv?order=a%26b%3Dc", "", true},
		{"nothing: the domain refuses it when the rows are read", model.DispositionReportFilter{},
			"/reports/disposition.csv", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := dispositionReport(tc.filter)
			if got.CSVURL != tc.csv || got.Filter.OrderID != tc.orderID || got.NoMatch != tc.noMatch {
				t.Errorf("got %+v; want csv %q, order %q, noMatch %v", got, tc.csv, tc.orderID, tc.noMatch)
			}
			if got.Filter.From != tc.filter.From || got.Filter.To != tc.filter.To {
				t.Errorf("dates not passed through: %+v", got.Filter)
			}
		})
	}
	if got := CertificatePDFPath("Q2VydA"); got != "/certificates/Q2VydA.pdf" {
		t.Errorf("CertificatePDFPath = %q", got)
	}
}

func TestDispositionRowsRefusesABadFirstBeforeReading(t *testing.T) {
	// A service without a store: reading it would panic.
	svc := domain.NewService(nil, nil)
	rep := &model.DispositionReport{Filter: domain.DispositionFilter{OrderID: "x"}}
	for _, n := range []int{-1, maxDispositionRows + 1} {
		var arg *domain.ArgumentError
		if _, err := dispositionRows(context.Background(), svc, rep, &n); !errors.As(err, &arg) || arg.Argument != "first" {
			t.Errorf("first %d: err = %v; want an argument error on first", n, err)
		}
	}
	zero := 0
	if rows, err := dispositionRows(context.Background(), svc, rep, &zero); err != nil || rows == nil || len(rows) != 0 {
		t.Errorf("first 0: %v, %v; want an empty list", rows, err)
	}
	if rows, err := dispositionRows(context.Background(), svc, &model.DispositionReport{NoMatch: true}, nil); err != nil || len(rows) != 0 {
		t.Errorf("no match: %v, %v; want an empty list", rows, err)
	}
}

func TestBreachFilter(t *testing.T) {
	const id = "0190f3b4-6a2e-7c1d-9e8f-0123456789ab"
	kind := func(k domain.SubjectKind) *domain.SubjectKind { return &k }
	stage := domain.StageOffboardingDue
	for _, tc := range []struct {
		name string
		in   *model.SLABreachFilter
		want domain.BreachFilter
		ok   bool
	}{
		{"none", nil, domain.BreachFilter{}, true},
		{"stage", &model.SLABreachFilter{Stage: &stage}, domain.BreachFilter{Stage: stage}, true},
		{"a case names its kind", &model.SLABreachFilter{SubjectID: ptr(EncodeID(typeOffboardingCase, id))},
			domain.BreachFilter{SubjectKind: domain.SubjectCase, SubjectID: id}, true},
		{"an asset of kind ASSET", &model.SLABreachFilter{SubjectKind: kind(domain.SubjectAsset), SubjectID: ptr(EncodeID(typeAsset, id))},
			domain.BreachFilter{SubjectKind: domain.SubjectAsset, SubjectID: id}, true},
		{"an order of kind ASSET matches nothing", &model.SLABreachFilter{SubjectKind: kind(domain.SubjectAsset), SubjectID: ptr(EncodeID(typePickupOrder, id))},
			domain.BreachFilter{}, false},
		{"a person matches nothing", &model.SLABreachFilter{SubjectID: ptr(EncodeID(typePerson, id))}, domain.BreachFilter{}, false},
		{"a malformed id matches nothing", &model.SLABreachFilter{SubjectID: ptr("nope")}, domain.BreachFilter{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := breachFilter(tc.in)
			if ok != tc.ok || (ok && got != tc.want) {
				t.Errorf("got %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestSubjectGlobalID(t *testing.T) {
	const id = "0190f3b4-6a2e-7c1d-9e8f-0123456789ab"
	for kind, typeName := range map[domain.SubjectKind]string{
		domain.SubjectAsset: "Asset", domain.SubjectPickupOrder: "PickupOrder", domain.SubjectCase: "OffboardingCase",
	} {
		gid, err := subjectGlobalID(kind, id)
		if gotType, gotID, ok := DecodeID(gid); err != nil || !ok || gotType != typeName || gotID != id {
			t.Errorf("%s: %q, %v decodes to %s %s", kind, gid, err, gotType, gotID)
		}
	}
	if _, err := subjectGlobalID("PARCEL", id); err == nil {
		t.Error("an unknown subject kind got an id")
	}
}

func TestGroupByGivesEveryKeyAList(t *testing.T) {
	fetch := func(_ context.Context, orderIDs []string) ([]*domain.PickupSignature, error) {
		return []*domain.PickupSignature{
			{OrderID: "o1", Role: domain.SignerTechnician}, {OrderID: "o1", Role: domain.SignerStaff}, {OrderID: "o3"},
		}, nil
	}
	got, err := groupBy(fetch, func(s *domain.PickupSignature) string { return s.OrderID })(context.Background(), []string{"o1", "o2"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got["o1"]) != 2 || got["o1"][0].Role != domain.SignerTechnician || got["o2"] == nil || len(got["o2"]) != 0 {
		t.Errorf("grouped %+v", got)
	}
	fault := errors.New("down")
	if _, err := groupBy(func(context.Context, []string) ([]*domain.PickupSignature, error) { return nil, fault },
		func(s *domain.PickupSignature) string { return s.OrderID })(context.Background(), []string{"o1"}); !errors.Is(err, fault) {
		t.Errorf("err = %v; want the fault", err)
	}
}

func TestCertificatesAreKeyedByOrder(t *testing.T) {
	fetch := byID(func(context.Context, []string) ([]*domain.Certificate, error) {
		return []*domain.Certificate{{ID: "c1", OrderID: "o1"}}, nil
	}, func(c *domain.Certificate) string { return c.OrderID })
	got, err := fetch(context.Background(), []string{"o1", "o2"})
	if err != nil || got["o1"] == nil || got["o1"].ID != "c1" || got["o2"] != nil {
		t.Errorf("got %+v, %v", got, err)
	}
}

func ptr(s string) *string { return &s }

func TestReconciliationItemsShowGlobalIDs(t *testing.T) {
	const asset, order = "0190f3b4-6a2e-7c1d-9e8f-0123456789ab", "0190f3b4-6a2e-7c1d-9e8f-00000000beef"
	got, err := reconciliationItems([]domain.ReconciliationItem{
		{Kind: domain.SubjectAsset, ID: asset, Stage: "STAGED", Serial: "SN1", OrderID: order, AgeDays: 3},
		{Kind: domain.SubjectCase, ID: order, Stage: "OPEN"},
	})
	if err != nil || len(got) != 2 {
		t.Fatalf("got %v, %v", got, err)
	}
	if got[0].ID != EncodeID(typeAsset, asset) || got[0].OrderID == nil || *got[0].OrderID != EncodeID(typePickupOrder, order) ||
		got[0].Serial == nil || *got[0].Serial != "SN1" || got[0].AssetTag != nil || got[0].AgeDays != 3 {
		t.Errorf("asset item = %+v", got[0])
	}
	if got[1].ID != EncodeID(typeOffboardingCase, order) || got[1].OrderID != nil || got[1].Serial != nil {
		t.Errorf("case item = %+v", got[1])
	}
	if _, err := reconciliationItems([]domain.ReconciliationItem{{Kind: "PARCEL", ID: asset}}); err == nil {
		t.Error("an item of an unknown kind was presented")
	}
}
