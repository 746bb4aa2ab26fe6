package graph

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/graph/model"
)

// This file maps the ITAD disposition's inputs and results: the dock and
// receipt, sanitization and outcomes, certificates, the disposition report
// and the time-bound triggers.

// Bounds of DispositionReport.rows(first:): a screenful by default; more is
// what the CSV is for.
const (
	defaultDispositionRows = 100
	maxDispositionRows     = 1000
)

// CertificatePDFPath is where a certificate's PDF is served for its global
// id (graph/server serves it with the same authentication as /graphql).
func CertificatePDFPath(certificateGlobalID string) string {
	return "/certificates/" + certificateGlobalID + ".pdf"
}

// DispositionCSVPath is where the disposition report of an order (its
// global id) and/or of a range of outcome dates [from, to) is served as a
// CSV (graph/server serves it with the same authentication as /graphql).
func DispositionCSVPath(orderGlobalID string, from, to *time.Time) string {
	q := url.Values{}
	if orderGlobalID != "" {
		q.Set("order", orderGlobalID)
	}
	if from != nil {
		q.Set("from", from.UTC().Format(time.DateOnly))
	}
	if to != nil {
		q.Set("to", to.UTC().Format(time.DateOnly))
	}
	const path = "/reports/disposition.csv"
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// dispositionReport maps Query.dispositionReport's filter. An order id that
// names nothing of its type gives an empty report, like an order of another
// tenant; its CSV link carries the id as given, so the download answers the
// same.
func dispositionReport(f model.DispositionReportFilter) *model.DispositionReport {
	out := &model.DispositionReport{Filter: domain.DispositionFilter{From: f.From, To: f.To}}
	orderGID := ""
	if f.OrderID != nil {
		orderGID = *f.OrderID
		if id, ok := idOf(typePickupOrder, orderGID); ok {
			out.Filter.OrderID, orderGID = id, EncodeID(typePickupOrder, id)
		} else {
			out.NoMatch = true
		}
	}
	out.CSVURL = DispositionCSVPath(orderGID, f.From, f.To)
	return out
}

// errEnoughRows stops the streamed disposition report once a page is full.
var errEnoughRows = errors.New("enough disposition rows")

// dispositionRows reads the first rows of a report, stopping the stream
// there rather than reading the whole report.
func dispositionRows(ctx context.Context, svc *domain.Service, rep *model.DispositionReport, first *int) ([]*domain.DispositionRow, error) {
	n, err := boundedCount("first", first, defaultDispositionRows, maxDispositionRows)
	if err != nil {
		return nil, err
	}
	out := []*domain.DispositionRow{}
	if rep.NoMatch || n == 0 {
		return out, nil
	}
	err = svc.DispositionRows(ctx, rep.Filter, func(row domain.DispositionRow) error {
		out = append(out, &row)
		if len(out) == n {
			return errEnoughRows
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnoughRows) {
		return nil, err
	}
	return out, nil
}

// boundedCount validates an optional list size argument.
func boundedCount(argument string, n *int, def, limit int) (int, error) {
	if n == nil {
		return def, nil
	}
	if *n < 0 || *n > limit {
		return 0, &domain.ArgumentError{Argument: argument, Message: fmt.Sprintf("must be between 0 and %d", limit)}
	}
	return *n, nil
}

// lineOf returns the manifest line of an asset on an order, if the caller
// may see it (vendor staff do not see lines taken off the order). The
// order's lines come through the loader, once per operation and order.
func lineOf(ctx context.Context, orderID, assetID string) (*domain.PickupLine, error) {
	if assetID == "" {
		return nil, nil
	}
	lines, err := loadPickupLines(ctx, orderID)
	if err != nil {
		return nil, err
	}
	for _, l := range domain.VisibleLines(ctx, lines) {
		if l.AssetID == assetID {
			return l, nil
		}
	}
	return nil, nil
}

// sanitizationOf returns the sanitization record of an asset on an order.
func sanitizationOf(ctx context.Context, orderID, assetID string) (*domain.SanitizationRecord, error) {
	recs, err := loadSanitizations(ctx, orderID)
	if err != nil {
		return nil, err
	}
	return recs[assetID], nil
}

// scanInputs maps the scans of a bulk scan.
func scanInputs(in []*model.PickupScanInput) []domain.ScanInput {
	out := make([]domain.ScanInput, len(in))
	for i, sc := range in {
		out[i] = scanInput(sc)
	}
	return out
}

// scanOne records one scan of a phase with scan (the domain's single-scan
// method of that phase) and presents its payload.
func scanOne(ctx context.Context, orderGID string, in *model.PickupScanInput,
	scan func(context.Context, string, domain.ScanInput) (*domain.PickupScan, error)) (*model.PickupScanPayload, error) {
	var d ids
	orderID := d.one(typePickupOrder, orderGID, "pickup order", "input", "orderId")
	var got *domain.PickupScan
	err := d.errs.Err()
	if err == nil {
		got, err = scan(ctx, orderID, scanInput(in))
	}
	problems, err := payloadErrors(err)
	if err != nil {
		return nil, err
	}
	return &model.PickupScanPayload{Scan: got, UserErrors: problems}, nil
}

// scanMany records many scans of a phase with scan (the domain's bulk
// method of that phase) and presents the matches as a count and the rest
// in full.
func scanMany(ctx context.Context, orderGID string, in []*model.PickupScanInput,
	scan func(context.Context, string, []domain.ScanInput) ([]*domain.PickupScan, error)) (*model.PickupScanBulkPayload, error) {
	var d ids
	orderID := d.one(typePickupOrder, orderGID, "pickup order", "input", "orderId")
	var got []*domain.PickupScan
	err := d.errs.Err()
	if err == nil {
		got, err = scan(ctx, orderID, scanInputs(in))
	}
	problems, err := payloadErrors(err)
	if err != nil {
		return nil, err
	}
	out := &model.PickupScanBulkPayload{UserErrors: problems}
	out.Matched, out.Discrepancies = tally(got)
	return out, nil
}

// tally counts a bulk scan's matches and lists its discrepancies.
func tally(scans []*domain.PickupScan) (matched int, discrepancies []*domain.PickupScan) {
	for _, sc := range scans {
		if sc.Result == domain.ScanMatched {
			matched++
		} else {
			discrepancies = append(discrepancies, sc)
		}
	}
	return matched, discrepancies
}

func resolveInput(in model.PickupDiscrepancyResolveInput) (domain.ResolveInput, error) {
	var d ids
	out := domain.ResolveInput{
		OrderID: d.one(typePickupOrder, in.OrderID, "pickup order", "input", "orderId"),
		Phase:   in.Phase, ScanID: str(in.ScanID), Action: in.Action, Reason: in.Reason,
	}
	if in.AssetID != nil {
		out.AssetID = d.one(typeAsset, *in.AssetID, "asset", "input", "assetId")
	}
	return out, d.errs.Err()
}

func confirmPickupInput(in model.PickupConfirmInput) (domain.ConfirmPickupInput, error) {
	var d ids
	out := domain.ConfirmPickupInput{
		OrderID:            d.one(typePickupOrder, in.OrderID, "pickup order", "input", "orderId"),
		TechnicianMemberID: d.one(typeMember, in.TechnicianMemberID, "technician", "input", "technicianMemberId"),
	}
	if in.TechnicianSignature != nil {
		out.TechnicianSignature = signatureInput(in.TechnicianSignature)
	}
	if in.StaffSignature != nil {
		out.StaffSignature = signatureInput(in.StaffSignature)
	}
	return out, d.errs.Err()
}

func sanitizationInput(in model.SanitizationRecordInput) (domain.SanitizationInput, error) {
	var d ids
	return domain.SanitizationInput{
		OrderID: d.one(typePickupOrder, in.OrderID, "pickup order", "input", "orderId"),
		Serial:  str(in.Serial), AssetTag: str(in.AssetTag), Method: in.Method, Technique: in.Technique,
		Tool: in.Tool, ToolVersion: in.ToolVersion, VerificationMethod: in.VerificationMethod,
		VerificationResult: in.VerificationResult, PerformedAt: in.PerformedAt, TechnicianName: in.TechnicianName,
		TechnicianAttests: in.TechnicianAttests, ValidatorName: in.ValidatorName, ValidatedAt: in.ValidatedAt,
		IdempotencyKey: str(in.IdempotencyKey),
	}, d.errs.Err()
}

func outcomeInput(in model.DispositionOutcomeRecordInput) (domain.OutcomeInput, error) {
	var d ids
	return domain.OutcomeInput{
		OrderID: d.one(typePickupOrder, in.OrderID, "pickup order", "input", "orderId"),
		Serial:  str(in.Serial), AssetTag: str(in.AssetTag), Kind: in.Outcome, Buyer: str(in.Buyer),
		BuyerCountry: str(in.BuyerCountry), DownstreamVendor: str(in.DownstreamVendor),
		DownstreamCertification: str(in.DownstreamCertification), Note: str(in.Note),
		IdempotencyKey: str(in.IdempotencyKey),
	}, d.errs.Err()
}

func writeBackInput(in model.ItamWriteBackInput) (domain.WriteBackInput, error) {
	var d ids
	out := domain.WriteBackInput{OrderID: d.one(typePickupOrder, in.OrderID, "pickup order", "input", "orderId")}
	if len(in.AssetIds) > 0 {
		out.AssetIDs = d.list(typeAsset, in.AssetIds, "asset", "input", "assetIds")
	}
	return out, d.errs.Err()
}

func slaPolicyInput(in model.SLAPolicySetInput) domain.SLAPolicyInput {
	return domain.SLAPolicyInput{RetiredToStagedDays: in.RetiredToStagedDays, StagedToPickedUpDays: in.StagedToPickedUpDays,
		PickedUpToCertificateDays: in.PickedUpToCertificateDays, CertificateToWriteBackDays: in.CertificateToWriteBackDays,
		OffboardingDueDays: in.OffboardingDueDays}
}

// subjectTypes are the node types of the records a breach or a
// reconciliation item is about.
var subjectTypes = map[domain.SubjectKind]string{
	domain.SubjectAsset:       typeAsset,
	domain.SubjectPickupOrder: typePickupOrder,
	domain.SubjectCase:        typeOffboardingCase,
}

// subjectGlobalID is the global id of the record a breach or a
// reconciliation item is about.
func subjectGlobalID(kind domain.SubjectKind, id string) (string, error) {
	typeName, ok := subjectTypes[kind]
	if !ok {
		return "", fmt.Errorf("present subject %s: unknown subject kind %q", id, kind)
	}
	return EncodeID(typeName, id), nil
}

// breachFilter maps Query.slaBreaches' filter; ok is false when its subject
// id names nothing a breach can be about (or contradicts subjectKind).
func breachFilter(f *model.SLABreachFilter) (out domain.BreachFilter, ok bool) {
	if f == nil {
		return out, true
	}
	if f.Stage != nil {
		out.Stage = *f.Stage
	}
	if f.SubjectKind != nil {
		out.SubjectKind = *f.SubjectKind
	}
	if f.SubjectID == nil {
		return out, true
	}
	typeName, id, ok := DecodeID(*f.SubjectID)
	if !ok {
		return out, false
	}
	for kind, t := range subjectTypes {
		if t == typeName && (out.SubjectKind == "" || out.SubjectKind == kind) {
			out.SubjectKind, out.SubjectID = kind, id
			return out, true
		}
	}
	return out, false
}

// reconciliationItems presents a reconciliation's items with global ids.
func reconciliationItems(items []domain.ReconciliationItem) ([]*model.ReconciliationItem, error) {
	out := make([]*model.ReconciliationItem, len(items))
	for i, it := range items {
		id, err := subjectGlobalID(it.Kind, it.ID)
		if err != nil {
			return nil, err
		}
		item := &model.ReconciliationItem{Kind: it.Kind, ID: id, Stage: it.Stage, Serial: optional(it.Serial),
			AssetTag: optional(it.AssetTag), Since: it.Since, AgeDays: it.AgeDays, Breached: it.Breached}
		if it.OrderID != "" {
			order := EncodeID(typePickupOrder, it.OrderID)
			item.OrderID = &order
		}
		out[i] = item
	}
	return out, nil
}

// optionalTime shows a zero time (never set) as null.
func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
