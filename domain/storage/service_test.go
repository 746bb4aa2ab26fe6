package storage_test

import (
	"encoding/base64"
	"errors"
	"sync"
	"testing"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/storage"
	"github.com/custody-dev/custody/domain/storage/storagetest"
)

// TestServiceMailroomFlow drives the domain services over the real stores:
// the adapter must satisfy them exactly, retries included.
func TestServiceMailroomFlow(t *testing.T) {
	svg := base64.StdEncoding.EncodeToString([]byte(`<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0L9 9"/></svg>`))
	storagetest.Each(t, func(t *testing.T, db *storage.DB, _ storage.Config) {
		ctx, _, _ := storagetest.NewTenant(t, db, "acme")
		svc := domain.NewService(db, nil)
		ada, err := svc.CreatePerson(ctx, domain.PersonInput{EmployeeID: "E-1", Name: "Ada", Email: "ada@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		receive := domain.ReceiveParcelInput{Carrier: "UPS", TrackingNumber: "1Z", Sender: "Dell", RecipientID: ada.ID,
			Location: "Dock A", IdempotencyKey: "scan-1"}
		parcel, err := svc.ReceiveParcel(ctx, receive)
		if err != nil {
			t.Fatal(err)
		}
		again, err := svc.ReceiveParcel(ctx, receive)
		if err != nil || again.ID != parcel.ID {
			t.Fatalf("retried ReceiveParcel = %+v, %v; want the first parcel %s", again, err, parcel.ID)
		}
		_, assets, err := svc.SerializeParcel(ctx, domain.SerializeParcelInput{ParcelID: parcel.ID, Assets: []domain.NewAsset{
			{Serial: "sn 1", Make: "Lenovo", Model: "X1", Category: domain.CategoryLaptop, BearsData: true},
			{AssetTag: "tag-2", Make: "Dell", Model: "U27", Category: domain.CategoryMonitor},
		}})
		if err != nil {
			t.Fatal(err)
		}
		ids := []string{assets[0].ID, assets[1].ID}
		if _, err := svc.NotifyRecipient(ctx, domain.NotifyRecipientInput{ParcelID: parcel.ID}); err != nil {
			t.Fatal(err)
		}

		// Two hand-offs of the same assets at the same moment: exactly one wins.
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := svc.HandOff(ctx, domain.HandOffInput{AssetIDs: ids, RecipientID: ada.ID, Signature: domain.SignatureInput{
					TypedName: "Ada", ImageFormat: domain.ImageSVG, ImageBase64: svg, ConsentText: "I accept.",
					ConsentVersion: "v1", Method: domain.SignatureDrawnOnDevice}})
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		var won, lost int
		for err := range errs {
			var ue domain.UserErrors
			switch {
			case err == nil:
				won++
			case errors.As(err, &ue):
				lost++
			default:
				t.Fatalf("HandOff: %v", err)
			}
		}
		if won != 1 || lost != 1 {
			t.Fatalf("concurrent hand-offs: %d won, %d refused; want 1 and 1", won, lost)
		}

		got, err := svc.AssetBySerial(ctx, "SN1")
		if err != nil || got == nil || got.State != domain.StateDeployed || got.HolderID() != ada.ID || got.DeployedAt == nil {
			t.Fatalf("AssetBySerial = %+v, %v; want deployed to Ada", got, err)
		}
		history, err := svc.AssetHistory(ctx, got.ID, nil, "")
		if err != nil || len(history.Items) != 4 {
			t.Fatalf("AssetHistory = %d events, %v; want PARCEL_RECEIVED, SERIALIZED, RECIPIENT_NOTIFIED, HANDED_OFF", len(history.Items), err)
		}
		for i, want := range []domain.EventType{domain.EventParcelReceived, domain.EventSerialized, domain.EventRecipientNotified, domain.EventHandedOff} {
			if history.Items[i].Type != want {
				t.Errorf("history[%d] = %s, want %s", i, history.Items[i].Type, want)
			}
		}
		if history.Items[3].SignatureID == "" || got.LastEventID != history.Items[3].ID {
			t.Errorf("hand-off event %+v not linked to its signature and asset", history.Items[3])
		}
		// The log: 1 parcel event, 2 serialized, 2 notified, 2 handed off; gapless.
		recent, err := svc.RecentEvents(ctx, ids, 10)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[int64]bool{}
		for _, evs := range recent {
			for _, e := range evs {
				seen[e.Seq] = true
			}
		}
		for seq := int64(2); seq <= 7; seq++ {
			if !seen[seq] {
				t.Errorf("seq %d missing from the assets' events %v", seq, seqsOf(recent))
			}
		}
		page, err := svc.Assets(ctx, domain.AssetFilter{HolderID: ada.ID}, nil, "")
		if err != nil || len(page.Items) != 2 {
			t.Errorf("Assets(holder) = %d, %v; want 2", len(page.Items), err)
		}
	})
}
