package storage_test

import (
	"context"
	"database/sql"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/storage"
	"github.com/custody-dev/custody/domain/storage/storagetest"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// BenchmarkVerifyLedger1M times a full VerifyLedger of a one-million-event
// tenant log on Postgres. Appending a million events through the service
// would take a quarter of an hour, so the log is written in bulk instead
// (rows exactly as AppendEvent stores them, hashes computed in memory, COPY
// over the owner's connection); a 1,000-event log loaded the same way, then
// grown by one real AppendEvent, must verify first, which shows the bulk
// rows are the ones AppendEvent would have written.
//
// It only runs with CUSTODY_BENCH_1M=1 (it needs ~2 GB of table and minutes
// of setup), and then fails when Postgres is unreachable:
//
//	CUSTODY_BENCH_1M=1 go test ./domain/storage/ -run '^$' -bench VerifyLedger1M -benchtime 1x -timeout 30m
func BenchmarkVerifyLedger1M(b *testing.B) {
	if os.Getenv("CUSTODY_BENCH_1M") != "1" {
		b.Skip("set CUSTODY_BENCH_1M=1 to verify a one-million-event log")
	}
	requirePostgres(b)
	db, cfg := storagetest.Postgres(b)
	svc := domain.NewService(db, nil, domain.WithMasterKey(make([]byte, 32)))

	small := newWorld(b, db, "small")
	bulkLoadLog(b, cfg, small, 1000)
	extra := &domain.CustodyEvent{ParcelID: small.parcel.ID, Type: domain.EventParcelReceived,
		FromCustodian: domain.Custodian{Kind: domain.CustodianNone},
		ToCustodian:   domain.Custodian{Kind: domain.CustodianLocation, Ref: "Dock A"},
		ActorID:       small.member.ID, Location: "Dock A", RecordedAt: at}
	small.update(b, func(tx domain.Tx) error { return tx.AppendEvent(extra) })
	if extra.Seq != 1001 {
		b.Fatalf("AppendEvent after a bulk-loaded log of 1000 took seq %d, want 1001", extra.Seq)
	}
	if _, err := svc.SignCheckpoint(small.ctx); err != nil {
		b.Fatalf("sign checkpoint of the small log: %v", err)
	}
	checkVerified(b, svc, small.ctx, 1001)

	const size = 1_000_000
	big := newWorld(b, db, "big")
	start := time.Now()
	bulkLoadLog(b, cfg, big, size)
	if _, err := svc.SignCheckpoint(big.ctx); err != nil {
		b.Fatalf("sign checkpoint of the big log: %v", err)
	}
	b.Logf("setup: %d events loaded and checkpointed in %.1fs", size, time.Since(start).Seconds())

	var took time.Duration
	for b.Loop() {
		t0 := time.Now()
		checkVerified(b, svc, big.ctx, size)
		took = time.Since(t0)
		b.Logf("VerifyLedger of %d events: %.2fs", size, took.Seconds())
	}
	b.ReportMetric(took.Seconds(), "s/verify")
}

// requirePostgres fails (not skips, as storagetest would) when the server
// is unreachable: whoever asked for this benchmark wants its number.
func requirePostgres(b *testing.B) {
	b.Helper()
	admin, err := sql.Open("pgx", storagetest.PostgresURL())
	if err != nil {
		b.Fatalf("postgres: %v", err)
	}
	defer func() { _ = admin.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		b.Fatalf("postgres unreachable (CUSTODY_BENCH_1M=1 needs it): %v", err)
	}
}

// checkVerified runs VerifyLedger in ctx's tenant and requires a clean
// result over exactly size events and one checkpoint.
func checkVerified(b *testing.B, svc *domain.Service, ctx context.Context, size int64) {
	b.Helper()
	v, err := svc.VerifyLedger(ctx)
	if err != nil {
		b.Fatalf("VerifyLedger: %v", err)
	}
	if !v.OK || v.TreeSize != size || v.EventsChecked != size || v.CheckpointsChecked != 1 {
		b.Fatalf("VerifyLedger = %+v, want OK over %d events and 1 checkpoint", v, size)
	}
}

// bulkLoadLog writes n PARCEL_RECEIVED events of w's parcel as w's tenant
// log (seq 1..n) with its Merkle hashes, and sets the ledger head to n. The
// log must be empty. Events are generated, encoded and copied one at a
// time, so only the hashes (~64 MB for a million events) stay in memory.
func bulkLoadLog(b *testing.B, cfg storage.Config, w *world, n int64) {
	b.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, cfg.MigrationURL)
	if err != nil {
		b.Fatalf("owner connection: %v", err)
	}
	defer func() { _ = conn.Close(ctx) }()
	// Row-level security is forced on the owner too (unless it is a
	// superuser): name the tenant for the session.
	if _, err := conn.Exec(ctx, "SELECT set_config('custody.tenant_id', $1, false)", w.tenant.ID); err != nil {
		b.Fatalf("set tenant: %v", err)
	}
	tenant, parcel, actor := uuid.MustParse(w.tenant.ID), uuid.MustParse(w.parcel.ID), uuid.MustParse(w.member.ID)
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tree := make(memTree, 0, 2*n)
	var seq int64
	cols := []string{"tenant_id", "id", "seq", "asset_id", "parcel_id", "type", "from_state", "to_state",
		"from_custodian_kind", "from_custodian_ref", "to_custodian_kind", "to_custodian_ref", "actor_id",
		"location", "device_time", "recorded_at", "signature_id", "details"}
	rows := pgx.CopyFromFunc(func() ([]any, error) {
		if seq == n {
			return nil, nil
		}
		seq++
		id := uuid.Must(uuid.NewV7())
		// What AppendEvent leaves in e (and reads back): canonical ids, UTC
		// microseconds, TenantID and Seq set.
		e := &domain.CustodyEvent{ID: id.String(), TenantID: w.tenant.ID, Seq: seq, ParcelID: w.parcel.ID,
			Type: domain.EventParcelReceived, FromCustodian: domain.Custodian{Kind: domain.CustodianNone},
			ToCustodian: domain.Custodian{Kind: domain.CustodianLocation, Ref: "Dock A"},
			ActorID:     w.member.ID, Location: "Dock A",
			RecordedAt: base.Add(time.Duration(seq) * 1001 * time.Microsecond).UTC().Truncate(time.Microsecond),
			Details:    map[string]string{"carrier": "UPS", "trackingNumber": "1Z" + strconv.FormatInt(seq, 10)}}
		tree.add(b, seq-1, canonical(b, e))
		details := `{"carrier":"UPS","trackingNumber":"` + e.Details["trackingNumber"] + `"}`
		return []any{tenant, id, seq, nil, parcel, string(e.Type), nil, nil,
			string(e.FromCustodian.Kind), e.FromCustodian.Ref, string(e.ToCustodian.Kind), e.ToCustodian.Ref,
			actor, e.Location, nil, e.RecordedAt, nil, details}, nil
	})
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"custody_events"}, cols, rows); err != nil {
		b.Fatalf("copy events: %v", err)
	}
	var idx int
	hashes := pgx.CopyFromFunc(func() ([]any, error) {
		if idx == len(tree) {
			return nil, nil
		}
		idx++
		return []any{tenant, int64(idx - 1), tree[idx-1][:]}, nil
	})
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"ledger_hashes"}, []string{"tenant_id", "idx", "hash"}, hashes); err != nil {
		b.Fatalf("copy hashes: %v", err)
	}
	tag, err := conn.Exec(ctx, "UPDATE ledger_heads SET size = $2 WHERE tenant_id = $1 AND size = 0", tenant, n)
	if err != nil || tag.RowsAffected() != 1 {
		b.Fatalf("set ledger head to %d: %v (%d rows)", n, err, tag.RowsAffected())
	}
	// A log grown one append at a time would have been analysed by
	// autovacuum long since; give the planner the same statistics.
	if _, err := conn.Exec(ctx, "ANALYZE custody_events, ledger_hashes"); err != nil {
		b.Fatalf("analyze: %v", err)
	}
}
