package storage_test

import (
	"testing"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/storage"
	"github.com/custody-dev/custody/domain/storage/storagetest"
)

// TestDispositionResolutionEdges covers decisions whose naive reading
// would move custody of the wrong asset or strand an order:
//   - keeping back a substitute whose line's own item was scanned too
//     leaves the line on the order;
//   - a substitute carrying another asset's identifier cannot be accepted
//     as the line (the line's asset would be recorded as leaving while
//     another one did), and its scan detail does not reveal that asset;
//   - a receipt where every line was lost closes the order.
func TestDispositionResolutionEdges(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		e := newDispEnv(t, db, "acme")
		a := e.retired(dispLaptop("1"), dispLaptop("2"), dispLaptop("3"))
		e.stage(a[0], a[1])
		// a[2] is retired but not on the order: its serial with a[0]'s tag.
		impostor := e.dock("S3", "T1", domain.ScanSubstituted)
		if impostor.Detail == "" || contains([]string{impostor.Detail}, "another asset") {
			t.Errorf("detail %q", impostor.Detail)
		}
		_, err := e.svc.ResolveDiscrepancy(e.ctx, domain.ResolveInput{OrderID: e.order.ID, Phase: domain.PhasePickup,
			ScanID: impostor.ID, Action: domain.ResolveAccept, Reason: "looks the same"})
		checkCode(t, err, domain.CodeIllegalTransition)

		// A substitute for a[1], then a[1] itself: keeping the substitute
		// back leaves a[1] on the order.
		sub := e.dock("SX", "T2", domain.ScanSubstituted)
		e.dock("S2", "T2", domain.ScanMatched)
		e.resolve(domain.ResolveInput{ScanID: sub.ID, Action: domain.ResolveRemove})
		// Keeping the impostor back takes its line (never scanned) off.
		e.resolve(domain.ResolveInput{ScanID: impostor.ID, Action: domain.ResolveRemove})
		o, err := e.confirm()
		if err != nil {
			t.Fatalf("confirm: %v", err)
		}
		lines, err := e.svc.PickupLines(e.ctx, []string{o.ID})
		if err != nil {
			t.Fatal(err)
		}
		status := map[string]domain.LineStatus{}
		for _, l := range lines {
			status[l.Serial] = l.Status
		}
		if status["S2"] != domain.LinePickedUp || status["S1"] != domain.LineRemoved {
			t.Fatalf("lines after the pickup: %v", status)
		}

		// Nothing arrives: the one picked-up line is lost at receipt.
		e.resolve(domain.ResolveInput{Phase: domain.PhaseReceipt, AssetID: a[1].ID, Action: domain.ResolveLost, Reason: "fell off the truck"})
		o, err = e.svc.ConfirmReceipt(e.vctx, e.order.ID)
		if err != nil {
			t.Fatalf("confirm an empty receipt: %v", err)
		}
		if o.State != domain.PickupClosed || o.ClosedAt == nil {
			t.Fatalf("an order where nothing arrived is %s, want CLOSED", o.State)
		}
	})
}
