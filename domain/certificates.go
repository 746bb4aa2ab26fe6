package domain

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/custody-dev/custody/domain/ledger"
	"github.com/custody-dev/custody/tenancy"
)

// Certificates of sanitization and destruction, and the write-back to ITAM.

// IssueCertificate issues the certificate of a RECEIVED order once every
// received line has an outcome: its digest is sealed in the tenant's log
// (event CERTIFICATE_ISSUED, which has a receipt) and the order is CERTIFIED.
// A refusal names every unprocessed line.
func (s *Service) IssueCertificate(ctx context.Context, orderID string) (*Certificate, error) {
	who, err := actor(ctx)
	if err != nil {
		return nil, fmt.Errorf("issue certificate: %w", err)
	}
	var errs UserErrors
	orderID = text(&errs, orderID, true, 100, "input", "orderId")
	if err := errs.Err(); err != nil {
		return nil, err
	}
	var c *Certificate
	var msgs []Message
	err = s.store.Update(ctx, func(tx Tx) error {
		o, err := s.orderIn(ctx, tx, orderID, PickupReceived)
		if err != nil {
			return err
		}
		lines, err := tx.ListPickupLines([]string{o.ID})
		if err != nil {
			return fmt.Errorf("load manifest: %w", err)
		}
		var problems UserErrors
		processed := 0
		for _, l := range lines {
			switch {
			case l.Status != LineReceived:
			case l.Outcome == nil:
				problems.Add(CodeUnprocessedLines, identifiers(l.Serial, l.AssetTag)+" has no outcome yet", "input", "orderId")
			default:
				processed++
			}
		}
		if err := problems.Err(); err != nil {
			return err
		}
		if processed == 0 {
			return userError(CodeUnprocessedLines, "no asset was received on this order: there is nothing to certify", "input", "orderId")
		}
		now := s.timestamp()
		c = &Certificate{ID: NewID(), OrderID: o.ID, VendorID: o.VendorID, IssuedAt: now, IssuedByID: who.MemberID}
		c.Number = certificateNumber(c)
		doc, err := s.document(ctx, tx, c, o, lines)
		if err != nil {
			return err
		}
		// The document is stored as sealed: the records it states (the
		// vendor's certifications, names) may change after today.
		c.Document = canonicalDocument(doc)
		c.Digest = digestOf(c.Document)
		m, err := appendEvent(tx, orderEvent(o, EventCertificateIssued, who.MemberID, now, map[string]string{
			"certificate": c.ID, "number": c.Number, "digest": c.Digest, "lines": strconv.Itoa(len(doc.Lines))}), "")
		if err != nil {
			return err
		}
		msgs = append(msgs, m)
		c.EventID = m.EventID
		if err := tx.CreateCertificate(c); err != nil {
			return fmt.Errorf("store certificate: %w", err)
		}
		o.State, o.CertifiedAt = PickupCertified, &now
		return s.saveOrder(tx, o, now)
	})
	if err != nil {
		return nil, fmt.Errorf("issue certificate: %w", err)
	}
	s.publish(ctx, msgs)
	return c, nil
}

// certificateNumber is a certificate's human reference: its issue date and
// the random end of its id ("COS-20261122-9F3A61C2").
func certificateNumber(c *Certificate) string {
	id := strings.ReplaceAll(c.ID, "-", "")
	return "COS-" + c.IssuedAt.Format("20060102") + "-" + strings.ToUpper(id[len(id)-8:])
}

// CertificateDigest is the hex SHA-256 of a certificate document's canonical
// JSON, without its digest and seal: what the CERTIFICATE_ISSUED event seals.
func CertificateDigest(doc *CertificateDocument) string {
	return digestOf(canonicalDocument(doc))
}

// canonicalDocument is doc's canonical JSON, without its digest and seal:
// what a certificate stores and its digest hashes.
func canonicalDocument(doc *CertificateDocument) []byte {
	d := *doc
	d.Digest, d.Seal = "", CertificateSeal{}
	b, err := json.Marshal(d)
	if err != nil {
		// A document is plain strings, times and numbers: it always encodes.
		panic(fmt.Sprintf("encode certificate document: %v", err))
	}
	return b
}

// digestOf is the hex SHA-256 of a canonical document.
func digestOf(canonical []byte) string {
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:])
}

// document assembles what certificate c states from the records.
func (s *Service) document(ctx context.Context, tx Tx, c *Certificate, o *PickupOrder, lines []*PickupLine) (*CertificateDocument, error) {
	v, err := tx.GetVendor(o.VendorID)
	if err != nil {
		return nil, fmt.Errorf("load vendor: %w", err)
	}
	sigs, err := tx.ListPickupSignatures([]string{o.ID})
	if err != nil {
		return nil, fmt.Errorf("load pickup signatures: %w", err)
	}
	recs, err := tx.ListSanitizations([]string{o.ID})
	if err != nil {
		return nil, fmt.Errorf("load sanitization records: %w", err)
	}
	issuer, err := tx.GetMembers([]string{c.IssuedByID})
	if err != nil {
		return nil, fmt.Errorf("load issuer: %w", err)
	}
	p, _ := tenancy.PrincipalFrom(ctx)
	doc := &CertificateDocument{Number: c.Number, CertificateID: c.ID, TenantName: p.TenantName,
		Vendor:  CertificateVendor{Name: v.Name, ContactEmail: v.ContactEmail, Certifications: v.Certifications},
		OrderID: o.ID, ScheduledOn: o.ScheduledOn, IssuedAt: c.IssuedAt}
	if o.PickedUpAt != nil {
		doc.PickedUpAt = *o.PickedUpAt
	}
	if o.ReceivedAt != nil {
		doc.ReceivedAt = *o.ReceivedAt
	}
	if len(issuer) == 1 {
		doc.IssuedBy = issuer[0].Name
	}
	for _, sg := range sigs {
		doc.Signatures = append(doc.Signatures, CertificateSignature{Role: sg.Role, Name: sg.TypedName, SignedAt: sg.SignedAt, ImageSHA256: sg.ImageSHA256})
	}
	byAsset := make(map[string]*SanitizationRecord, len(recs))
	for _, r := range recs {
		byAsset[r.AssetID] = r
	}
	for _, l := range lines {
		if l.Outcome == nil || (l.Status != LineReceived && l.Status != LineWrittenBack) {
			continue
		}
		doc.Lines = append(doc.Lines, certificateLine(l, byAsset[l.AssetID]))
	}
	slices.SortFunc(doc.Lines, func(a, b CertificateLine) int {
		if c := strings.Compare(a.Serial, b.Serial); c != 0 {
			return c
		}
		return strings.Compare(a.AssetTag, b.AssetTag)
	})
	return doc, nil
}

// certificateLine states one processed line.
func certificateLine(l *PickupLine, r *SanitizationRecord) CertificateLine {
	cl := CertificateLine{Serial: l.Serial, AssetTag: l.AssetTag, Make: l.Make, Model: l.Model,
		Category: string(l.Category), BearsData: l.BearsData, Outcome: l.Outcome.Kind,
		OutcomeDetail: OutcomeDetail(l.Outcome), OutcomeAt: l.Outcome.RecordedAt}
	if r != nil {
		performed, validated := r.PerformedAt, r.ValidatedAt
		cl.Method, cl.Technique, cl.Tool, cl.ToolVersion = r.Method, r.Technique, r.Tool, r.ToolVersion
		cl.VerificationMethod, cl.VerificationResult = r.VerificationMethod, r.VerificationResult
		cl.SanitizedAt, cl.Technician, cl.Validator, cl.ValidatedAt = &performed, r.TechnicianName, r.ValidatorName, &validated
	}
	return cl
}

// OutcomeDetail words who took an asset: the buyer and country, or the
// downstream recycler and its certification.
func OutcomeDetail(o *Outcome) string {
	var parts []string
	if o.Buyer != "" {
		b := o.Buyer
		if o.BuyerCountry != "" {
			b += " (" + o.BuyerCountry + ")"
		}
		parts = append(parts, b)
	}
	if o.DownstreamVendor != "" {
		d := o.DownstreamVendor
		if o.DownstreamCertification != "" {
			d += " (" + o.DownstreamCertification + ")"
		}
		parts = append(parts, d)
	}
	if o.Note != "" {
		parts = append(parts, o.Note)
	}
	return strings.Join(parts, "; ")
}

// CertificateDocument returns a certificate's document as issued (stored
// with it, so later changes to the vendor or to names do not alter it),
// checks it against the digest sealed in the log, and says where the seal
// is. A document that does not match its seal is an error: it was altered.
func (s *Service) CertificateDocument(ctx context.Context, certID string) (*CertificateDocument, error) {
	var doc *CertificateDocument
	err := s.store.View(ctx, func(tx Tx) error {
		c, _, err := s.visibleCertificate(ctx, tx, certID)
		if err != nil {
			return err
		}
		e, err := tx.GetEvent(c.EventID)
		if err != nil {
			return fmt.Errorf("load sealing event: %w", err)
		}
		// The stored bytes themselves are hashed: they are what was sealed,
		// and re-encoding them could differ once the document type grows.
		if got := digestOf(c.Document); got != c.Digest || e.Details["digest"] != c.Digest {
			return fmt.Errorf("certificate %s: its stored document (digest %s) does not match the sealed digest %s (event %s)",
				c.Number, got, c.Digest, e.Details["digest"])
		}
		doc = new(CertificateDocument)
		if err := json.Unmarshal(c.Document, doc); err != nil {
			return fmt.Errorf("decode certificate %s: %w", c.Number, err)
		}
		if doc.CertificateID != c.ID || doc.Number != c.Number {
			return fmt.Errorf("certificate %s: its stored document is certificate %s (%s)", c.Number, doc.Number, doc.CertificateID)
		}
		doc.Digest = c.Digest
		doc.Seal = CertificateSeal{EventID: e.ID, EventSeq: e.Seq, LogOrigin: ledger.Origin(c.TenantID)}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("certificate document: %w", err)
	}
	return doc, nil
}

// visibleCertificate loads a certificate and its order if the caller may
// see the order (a vendor: its own).
func (s *Service) visibleCertificate(ctx context.Context, tx Tx, id string) (*Certificate, *PickupOrder, error) {
	c, err := tx.GetCertificate(id)
	if err != nil {
		return nil, nil, err
	}
	o, err := s.visibleOrder(ctx, tx, c.OrderID)
	if err != nil {
		return nil, nil, err
	}
	return c, o, nil
}

// Certificate returns a certificate the caller may see, or nil.
func (s *Service) Certificate(ctx context.Context, id string) (*Certificate, error) {
	return get(ctx, s.store, "certificate", func(tx Tx) (*Certificate, error) {
		c, _, err := s.visibleCertificate(ctx, tx, id)
		return c, err
	})
}

// Certificates lists the certificates the caller may see (a vendor: its own).
func (s *Service) Certificates(ctx context.Context, first *int, after string) (Page[*Certificate], error) {
	vendorID, restricted := vendorScope(ctx)
	if restricted && vendorID == "" {
		_, err := PageSize(first)
		return Page[*Certificate]{}, err
	}
	return list(ctx, s.store, "certificates", first, after, func(tx Tx, p PageRequest) ([]*Certificate, error) {
		return tx.ListCertificates(vendorID, p)
	})
}

// CertificatesOfOrders loads the certificates of many orders in one
// statement (dataloaders); the orders were checked visible when loaded.
func (s *Service) CertificatesOfOrders(ctx context.Context, orderIDs []string) ([]*Certificate, error) {
	return batch(ctx, s.store, "certificates", func(tx Tx) ([]*Certificate, error) { return tx.CertificatesOfOrders(orderIDs) })
}

// WriteBackInput marks certified assets as written back to ITAM.
type WriteBackInput struct {
	OrderID string
	// AssetIDs limits the write-back to these assets; empty: every
	// certified asset of the order not yet written back.
	AssetIDs []string
}

// WriteBack records that ITAM now knows the disposition of a CERTIFIED
// order's assets: each is CLOSED (event CLOSED naming the certificate) and
// its line WRITTEN_BACK; when none is left the order is CLOSED.
func (s *Service) WriteBack(ctx context.Context, in WriteBackInput) (*PickupOrder, error) {
	who, err := actor(ctx)
	if err != nil {
		return nil, fmt.Errorf("write back: %w", err)
	}
	var errs UserErrors
	orderID := text(&errs, in.OrderID, true, 100, "input", "orderId")
	if len(in.AssetIDs) > MaxStagePerCall*20 {
		errs.Add(CodeInvalid, fmt.Sprintf("at most %d assets per call", MaxStagePerCall*20), "input", "assetIds")
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	var o *PickupOrder
	var msgs []Message
	err = s.store.Update(ctx, func(tx Tx) error {
		if o, err = s.orderIn(ctx, tx, orderID, PickupCertified); err != nil {
			return err
		}
		lines, err := tx.ListPickupLines([]string{o.ID})
		if err != nil {
			return fmt.Errorf("load manifest: %w", err)
		}
		certs, err := tx.CertificatesOfOrders([]string{o.ID})
		if err != nil || len(certs) != 1 {
			return fmt.Errorf("load certificate: %w", errorOr(err, ErrNotFound))
		}
		pending := map[string]*PickupLine{}
		for _, l := range lines {
			if l.Status == LineReceived && l.Outcome != nil {
				pending[l.AssetID] = l
			}
		}
		var chosen []*PickupLine
		if len(in.AssetIDs) == 0 {
			for _, l := range lines {
				if pending[l.AssetID] != nil {
					chosen = append(chosen, l)
				}
			}
		}
		for i, id := range in.AssetIDs {
			l := pending[strings.ToLower(id)]
			if l == nil {
				return userError(CodeNotOutstanding, "this asset is not a certified asset of the order awaiting write-back", "input", "assetIds", strconv.Itoa(i))
			}
			chosen = append(chosen, l)
			delete(pending, l.AssetID)
		}
		if len(chosen) == 0 {
			return userError(CodeNotOutstanding, "every certified asset of this order is already written back", "input", "orderId")
		}
		now := s.timestamp()
		for _, l := range chosen {
			l.WrittenBackAt, l.WrittenBackByID = &now, who.MemberID
		}
		ms, err := s.moveLines(tx, chosen, EventClosed, LineWrittenBack, Custodian{Kind: CustodianNone}, who.MemberID, now,
			map[string]string{"order": o.ID, "vendor": o.VendorID, "certificate": certs[0].Number})
		if err != nil {
			return err
		}
		msgs = ms
		if len(in.AssetIDs) == 0 || len(pending) == 0 {
			o.State, o.ClosedAt = PickupClosed, &now
		}
		return s.saveOrder(tx, o, now)
	})
	if err != nil {
		return nil, fmt.Errorf("write back: %w", err)
	}
	s.publish(ctx, msgs)
	return o, nil
}

// errorOr returns err, or fallback when err is nil.
func errorOr(err, fallback error) error {
	if err != nil {
		return err
	}
	return fallback
}

// dispositionPage is how many lines a disposition report reads per statement.
const dispositionPage = 500

// DispositionRows streams the disposition report (the assets that reached
// an outcome) of one order, in (order, asset) order, or of a date range of
// outcomes, in (outcome time, order, asset) order, page by page, calling fn
// for each row. It reads in constant memory whatever the size: one page of
// lines and the records of that page's orders, reloaded per page.
func (s *Service) DispositionRows(ctx context.Context, f DispositionFilter, fn func(DispositionRow) error) error {
	var errs UserErrors
	f.OrderID = text(&errs, f.OrderID, false, 100, "orderId")
	switch {
	case f.OrderID == "" && (f.From == nil || f.To == nil):
		errs.Add(CodeRequired, "give an order, or a date range (from and to)", "from")
	case f.From != nil && f.To != nil && !f.From.Before(*f.To):
		errs.Add(CodeInvalid, "from must be before to", "to")
	}
	if err := errs.Err(); err != nil {
		return err
	}
	after := ""
	for {
		var rows []DispositionRow
		err := s.store.View(ctx, func(tx Tx) error {
			lines, err := tx.ListDispositionLines(f, PageRequest{First: dispositionPage, After: after})
			if err != nil {
				return fmt.Errorf("list lines: %w", err)
			}
			// Fresh maps per page: a long range touches many orders, and
			// keeping them all would grow with the report.
			orders, certs := map[string]*PickupOrder{}, map[string]*Certificate{}
			vendors, recs := map[string]string{}, map[string]*SanitizationRecord{}
			if err := loadDispositionContext(tx, lines, orders, certs, vendors, recs); err != nil {
				return err
			}
			for _, l := range lines {
				o := orders[l.OrderID]
				if o == nil || !mayActOn(ctx, o) {
					continue
				}
				rows = append(rows, DispositionRow{Line: l, Order: o, Certificate: certs[l.OrderID],
					VendorName: vendors[o.VendorID], Sanitization: recs[l.OrderID+"/"+l.AssetID]})
			}
			after = ""
			if len(lines) == dispositionPage {
				after = DispositionCursor(f, lines[len(lines)-1])
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("disposition report: %w", err)
		}
		for _, r := range rows {
			if err := fn(r); err != nil {
				return err
			}
		}
		if after == "" {
			return nil
		}
	}
}

// DispositionCursor is the ListDispositionLines cursor after line l: for
// one order "orderID/assetID"; for a date range, whose pages follow the
// outcome time, "outcomeTime/orderID/assetID" (RFC 3339, UTC).
func DispositionCursor(f DispositionFilter, l *PickupLine) string {
	key := l.OrderID + "/" + l.AssetID
	if f.OrderID != "" || l.Outcome == nil {
		return key
	}
	return l.Outcome.RecordedAt.UTC().Format(time.RFC3339Nano) + "/" + key
}

// loadDispositionContext loads, once per order, the orders, certificates,
// vendor names and sanitization records a page of lines refers to, into the
// maps given (orders already in orders are not loaded again).
func loadDispositionContext(tx Tx, lines []*PickupLine, orders map[string]*PickupOrder, certs map[string]*Certificate,
	vendors map[string]string, recs map[string]*SanitizationRecord) error {
	var newOrders []string
	for _, l := range lines {
		if _, ok := orders[l.OrderID]; !ok && !slices.Contains(newOrders, l.OrderID) {
			newOrders = append(newOrders, l.OrderID)
		}
	}
	if len(newOrders) == 0 {
		return nil
	}
	os, err := tx.GetPickupOrders(newOrders)
	if err != nil {
		return fmt.Errorf("load orders: %w", err)
	}
	var newVendors []string
	for _, o := range os {
		orders[o.ID] = o
		if _, ok := vendors[o.VendorID]; !ok && !slices.Contains(newVendors, o.VendorID) {
			newVendors = append(newVendors, o.VendorID)
		}
	}
	cs, err := tx.CertificatesOfOrders(newOrders)
	if err != nil {
		return fmt.Errorf("load certificates: %w", err)
	}
	for _, c := range cs {
		certs[c.OrderID] = c
	}
	vs, err := tx.GetVendors(newVendors)
	if err != nil {
		return fmt.Errorf("load vendors: %w", err)
	}
	for _, v := range vs {
		vendors[v.ID] = v.Name
	}
	rs, err := tx.ListSanitizations(newOrders)
	if err != nil {
		return fmt.Errorf("load sanitization records: %w", err)
	}
	for _, r := range rs {
		recs[r.OrderID+"/"+r.AssetID] = r
	}
	return nil
}
