package e2e_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver for the direct-SQL baseline

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/storage/storagetest"
	"github.com/custody-dev/custody/graph/server"
	"github.com/custody-dev/custody/tenancy"
)

// assetBySerialQuery is the measured operation: an asset by serial with its
// last 10 custody events.
const assetBySerialQuery = `query($s: String!) { assetBySerial(serial: $s) { id serial assetTag make model state deployedAt
	recentEvents(last: 10) { seq type fromState toState recordedAt location } } }`

// benchEnv is a Postgres-backed server with one asset that has 12 custody events.
type benchEnv struct {
	*env
	serial, token, tenantID string
	tokenHash               []byte
	dbURL                   string
}

func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	_, cfg := storagetest.Postgres(b)
	e := &env{}
	startB(b, e, server.StartConfig{DatabaseURL: cfg.DatabaseURL, MigrationURL: cfg.MigrationURL})
	be := &benchEnv{env: e, token: e.a.tokens[domain.RoleAuditor], tenantID: e.a.id, dbURL: cfg.DatabaseURL}
	_, be.tokenHash, _ = tenancy.ParseToken(be.token)

	// One delivered, handed-off laptop, then nine more events appended through
	// the store, so "its last 10 events" is a full page.
	staff, err := server.CreateMemberToken(context.Background(), e.run.Store, e.a.id, domain.MemberService, "bench seeder", domain.RoleAdmin)
	if err != nil {
		b.Fatal(err)
	}
	ctx := tenancy.WithPrincipal(context.Background(), tenancy.Principal{TenantID: e.a.id, MemberID: staff.Member.ID, Roles: []string{"admin"}})
	svc := e.run.Service
	person, err := svc.CreatePerson(ctx, domain.PersonInput{EmployeeID: "B-1", Name: "Bench", Email: "bench@acme.example"})
	if err != nil {
		b.Fatal(err)
	}
	parcel, err := svc.ReceiveParcel(ctx, domain.ReceiveParcelInput{Carrier: "UPS", TrackingNumber: "1Z", Sender: "Dell", RecipientID: person.ID, Location: "Dock"})
	if err != nil {
		b.Fatal(err)
	}
	be.serial = "BENCH-SN-1"
	_, assets, err := svc.SerializeParcel(ctx, domain.SerializeParcelInput{ParcelID: parcel.ID, Assets: []domain.NewAsset{
		{Serial: be.serial, Make: "Dell", Model: "Latitude 7450", Category: domain.CategoryLaptop, BearsData: true}}})
	if err != nil {
		b.Fatal(err)
	}
	err = e.run.Store.Update(ctx, func(tx domain.Tx) error {
		for range 11 {
			ev := &domain.CustodyEvent{ID: mustUUID(), AssetID: assets[0].ID, ParcelID: parcel.ID, Type: domain.EventRecipientNotified,
				FromState: domain.StateSerialized, ToState: domain.StateAwaitingCollection,
				FromCustodian: domain.Custodian{Kind: domain.CustodianLocation, Ref: "Dock"},
				ToCustodian:   domain.Custodian{Kind: domain.CustodianLocation, Ref: "Dock"},
				ActorID:       staff.Member.ID, RecordedAt: time.Now().UTC().Truncate(time.Microsecond)}
			if err := tx.AppendEvent(ev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return be
}

// startB is start for benchmarks.
func startB(b *testing.B, e *env, cfg server.StartConfig) {
	b.Helper()
	cfg.Addr = "127.0.0.1:0"
	cfg.MasterKey = make([]byte, 32) // a fixed key is fine for a benchmark
	run, err := server.Start(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = run.Shutdown(ctx)
	})
	e.run, e.url = run, run.URL
	e.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	e.a = newTenant(b, run, "acme")
}

// BenchmarkAssetBySerialHTTP measures the query through the full stack:
// HTTP, bearer authentication, authorization, GraphQL, dataloaders, gorm,
// row-level security.
func BenchmarkAssetBySerialHTTP(b *testing.B) {
	be := newBenchEnv(b)
	vars := map[string]any{"s": be.serial}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := be.do(b, be.token, assetBySerialQuery, vars)
			if r.Status != 200 || len(r.Errors) > 0 {
				b.Fatalf("query failed: %s", r.raw)
			}
		}
	})
}

// The SQL statements one HTTP request sends, in its three transactions
// (authentication, the asset, the batched recent events), as the storage
// adapter writes them; each transaction first sets the tenant for RLS.
const (
	beginRead = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
	setTenant = "SELECT set_config('custody.tenant_id', $1, true)"
	authSQL   = `SELECT api_tokens.id AS token_id, tenants.id AS tenant_id, tenants.slug AS tenant_slug,
		tenants.name AS tenant_name, tenants.created_at AS tenant_created_at,
		members.id AS member_id, members.name AS member_name, members.kind AS member_kind,
		members.created_at AS member_created_at, member_roles.role AS role
		FROM api_tokens JOIN tenants ON tenants.id = api_tokens.tenant_id
		JOIN members ON members.tenant_id = api_tokens.tenant_id AND members.id = api_tokens.member_id
		LEFT JOIN member_roles ON member_roles.tenant_id = members.tenant_id AND member_roles.member_id = members.id
		WHERE api_tokens.tenant_id = $1 AND (api_tokens.token_hash = $2 AND api_tokens.revoked_at IS NULL)
		ORDER BY member_roles.role`
	assetSQL  = `SELECT * FROM assets WHERE assets.tenant_id = $1 AND assets.serial = $2 LIMIT 1`
	eventsSQL = `SELECT * FROM (SELECT custody_events.*, ROW_NUMBER() OVER (PARTITION BY custody_events.asset_id
		ORDER BY custody_events.seq DESC) AS rn FROM custody_events
		WHERE custody_events.tenant_id = $1 AND custody_events.asset_id IN ($2)) AS ranked
		WHERE ranked.rn <= $3 ORDER BY ranked.asset_id, ranked.seq DESC`
)

// BenchmarkAssetBySerialDirectSQL is the baseline: the same statements in the
// same transactions, sent straight to the same Postgres as the same role.
func BenchmarkAssetBySerialDirectSQL(b *testing.B) {
	be := newBenchEnv(b)
	db, err := sql.Open("pgx", be.dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(20)
	ctx := context.Background()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := readTx(ctx, db, be.tenantID, authSQL, be.tenantID, be.tokenHash); err != nil {
				b.Fatal(err)
			}
			var assetID string
			if err := readTxScan(ctx, db, be.tenantID, &assetID, assetSQL, be.tenantID, be.serial); err != nil {
				b.Fatal(err)
			}
			if err := readTx(ctx, db, be.tenantID, eventsSQL, be.tenantID, assetID, 10); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// readTx runs one statement in a read transaction scoped to tenant and reads every row.
func readTx(ctx context.Context, db *sql.DB, tenant, query string, args ...any) error {
	return readTxScan(ctx, db, tenant, nil, query, args...)
}

// readTxScan is readTx that also keeps the first column of the first row in id.
func readTxScan(ctx context.Context, db *sql.DB, tenant string, id *string, query string, args ...any) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, beginRead); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, setTenant, tenant); err != nil {
		return err
	}
	rows, err := conn.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	cols, _ := rows.Columns()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			rows.Close()
			return err
		}
		if n == 0 && id != nil {
			*id = fmt.Sprint(vals[1])
		}
		n++
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if n == 0 {
		return sql.ErrNoRows
	}
	_, err = conn.ExecContext(ctx, "COMMIT")
	return err
}
