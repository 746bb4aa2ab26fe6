package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/ledger"
	"github.com/custody-dev/custody/domain/storage"
	"github.com/custody-dev/custody/graph/server"
	"github.com/custody-dev/custody/tenancy"
)

// stringList is a flag that may be repeated (--key a --key b).
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func verifyCmd() *command {
	var (
		receiptPath string
		keyFiles    stringList
		tenant      string
		consistency string
		kept        string
		asJSON      bool
	)
	return &command{
		name: "verify",
		args: "RECEIPT.json --key KEYFILE [--key KEYFILE ...] [--json]\n" +
			"       custody verify --consistency PROOF.json --checkpoint KEPT.txt --key KEYFILE [--json]\n" +
			"       custody verify --tenant <slug|id> [--json] [flags]",
		summary: "verify a receipt offline with the tenant's public keys, or a tenant's whole log (exit 1 if invalid)",
		kind:    adminCommand,
		flags: func(fs *flag.FlagSet) {
			fs.Var(&keyFiles, "key", "file of trusted verifier keys: one key per line (custody key list), or the JSON of GET /ledger/keys; repeatable")
			fs.StringVar(&tenant, "tenant", "", "recompute this tenant's whole log instead (slug or id; opens the store)")
			fs.StringVar(&consistency, "consistency", "", "check a ledgerConsistency answer (JSON) instead: that the log still extends --checkpoint")
			fs.StringVar(&kept, "checkpoint", "", "with --consistency: the signed checkpoint you kept earlier (its note text)")
			fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
		},
		operands: func(args []string) error {
			if len(args) > 1 {
				return usagef("one receipt at a time, got %d files", len(args))
			}
			if len(args) == 1 {
				receiptPath = args[0]
			}
			return nil
		},
		run: func(ctx context.Context, e env, cfg *config) error {
			modes := 0
			for _, set := range []bool{receiptPath != "", tenant != "", consistency != ""} {
				if set {
					modes++
				}
			}
			switch {
			case modes > 1:
				return usagef("verify one thing at a time: a receipt file, --consistency or --tenant")
			case tenant != "" && len(keyFiles) > 0:
				return usagef("--tenant checks the log against the keys in the database; --key is for receipts and consistency proofs")
			case tenant != "":
				return verifyTenant(ctx, e, cfg, tenant, asJSON)
			case consistency != "" && (kept == "" || len(keyFiles) == 0):
				return usagef("--consistency needs the checkpoint you kept (--checkpoint FILE) and the tenant's public keys (--key FILE)")
			case consistency != "":
				return verifyConsistency(e, consistency, kept, keyFiles, asJSON)
			case kept != "":
				return usagef("--checkpoint goes with --consistency")
			case receiptPath == "":
				return usagef("give a receipt file to verify (or --tenant to verify a whole log)")
			case len(keyFiles) == 0:
				return usagef("give the tenant's public keys with --key KEYFILE (from custody key list, GraphQL ledger { keys { verifierKey } } or GET /ledger/keys)")
			}
			return verifyReceipt(e, receiptPath, keyFiles, asJSON)
		},
	}
}

// receiptVerdict is `custody verify RECEIPT --json`'s output.
type receiptVerdict struct {
	Valid  bool                  `json:"valid"`
	Error  string                `json:"error,omitempty"`
	Report *ledger.ReceiptReport `json:"report,omitempty"`
}

// verifyReceipt checks one receipt file with nothing but the key files.
// Unreadable inputs are errors; evidence that does not verify is an
// INVALID verdict on stdout and exit code 1.
func verifyReceipt(e env, receiptPath string, keyFiles []string, asJSON bool) error {
	keys, err := readKeyFiles(keyFiles)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(receiptPath)
	if err != nil {
		return fmt.Errorf("read receipt: %w", err)
	}
	rep, err := func() (*ledger.ReceiptReport, error) {
		r, err := ledger.ParseReceipt(raw)
		if err != nil {
			return nil, err
		}
		return ledger.VerifyReceipt(r, keys...)
	}()
	if asJSON {
		v := receiptVerdict{Valid: err == nil, Report: rep}
		if err != nil {
			v.Error = err.Error()
		}
		if werr := writeJSON(e.stdout, v); werr != nil {
			return werr
		}
	} else if err != nil {
		fmt.Fprintf(e.stdout, "INVALID: %v\n", err)
	} else {
		printReceiptReport(e.stdout, receiptPath, rep)
	}
	if err != nil {
		return errReported
	}
	return nil
}

// readKeyFiles reads and concatenates the keys of every key file.
func readKeyFiles(paths []string) ([]string, error) {
	var keys []string
	for _, f := range paths {
		k, err := readKeyFile(f)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k...)
	}
	return keys, nil
}

// consistencyAnswer is the ledgerConsistency object, alone or inside a
// GraphQL response ({"data": {"ledgerConsistency": ...}}).
type consistencyAnswer struct {
	OldCheckpoint string   `json:"oldCheckpoint"`
	NewCheckpoint string   `json:"newCheckpoint"`
	OldSize       int64    `json:"oldSize"`
	NewSize       int64    `json:"newSize"`
	Proof         []string `json:"proof"`
}

// consistencyVerdict is `custody verify --consistency --json`'s output.
type consistencyVerdict struct {
	Valid         bool             `json:"valid"`
	Error         string           `json:"error,omitempty"`
	Origin        string           `json:"origin,omitempty"`
	Older         *checkpointFacts `json:"older,omitempty"`
	Newer         *checkpointFacts `json:"newer,omitempty"`
	NewCheckpoint string           `json:"newCheckpoint,omitempty"`
}

// checkpointFacts is what a verified checkpoint commits to.
type checkpointFacts struct {
	Size  int64     `json:"size"`
	Root  tlog.Hash `json:"root"`
	KeyID string    `json:"keyId"`
}

func factsOf(c *ledger.Checkpoint) *checkpointFacts {
	return &checkpointFacts{Size: c.Size, Root: c.Root, KeyID: c.KeyID}
}

// verifyConsistency checks, offline, that the log the server answers with
// today extends the checkpoint the auditor kept: whatever the answer's own
// oldCheckpoint says, the proof must lead from the kept one.
func verifyConsistency(e env, answerPath, keptPath string, keyFiles []string, asJSON bool) error {
	keys, err := readKeyFiles(keyFiles)
	if err != nil {
		return err
	}
	kept, err := os.ReadFile(keptPath)
	if err != nil {
		return fmt.Errorf("read kept checkpoint: %w", err)
	}
	// A signed note ends with exactly one newline; saving it with echo or
	// jq -r adds another.
	kept = append(bytes.TrimRight(kept, "\r\n\t "), '\n')
	raw, err := os.ReadFile(answerPath)
	if err != nil {
		return fmt.Errorf("read consistency proof: %w", err)
	}
	ans, err := parseConsistency(raw)
	if err != nil {
		return fmt.Errorf("consistency proof %s: %w", answerPath, err)
	}
	v := consistencyVerdict{NewCheckpoint: ans.NewCheckpoint}
	err = func() error {
		// The origin is the kept checkpoint's first line; a checkpoint of
		// another log then fails as a wrong origin.
		origin, _, _ := strings.Cut(string(kept), "\n")
		older, err := ledger.OpenCheckpoint(kept, origin, keys...)
		if err != nil {
			return fmt.Errorf("the kept checkpoint: %w", err)
		}
		newer, err := ledger.OpenCheckpoint([]byte(ans.NewCheckpoint), origin, keys...)
		if err != nil {
			return fmt.Errorf("the new checkpoint: %w", err)
		}
		v.Origin, v.Older, v.Newer = origin, factsOf(older), factsOf(newer)
		if ans.OldSize != 0 && ans.OldSize != older.Size {
			return fmt.Errorf("the answer proves consistency from size %d, but the kept checkpoint has %d events: ask for ledgerConsistency(oldSize: %d)",
				ans.OldSize, older.Size, older.Size)
		}
		proof := make(tlog.TreeProof, len(ans.Proof))
		for i, h := range ans.Proof {
			b, err := base64.StdEncoding.DecodeString(h)
			if err != nil || len(b) != tlog.HashSize {
				return fmt.Errorf("%w: proof hash %d is not base64 of %d bytes", ledger.ErrInconsistent, i, tlog.HashSize)
			}
			copy(proof[i][:], b)
		}
		if ans.OldCheckpoint != string(kept) {
			// The server's checkpoint at that size is not the one kept: fine
			// if it commits to the same tree (a re-signature), a fork if not.
			if err := ledger.VerifyConsistency(kept, []byte(ans.OldCheckpoint), origin, nil, keys...); err != nil {
				return fmt.Errorf("the server's checkpoint at size %d is not the one you kept: %w", older.Size, err)
			}
		}
		return ledger.VerifyConsistency(kept, []byte(ans.NewCheckpoint), origin, proof, keys...)
	}()
	v.Valid = err == nil
	if err != nil {
		v.Error = err.Error()
	}
	switch {
	case asJSON:
		if werr := writeJSON(e.stdout, v); werr != nil {
			return werr
		}
	case err != nil:
		fmt.Fprintf(e.stdout, "INVALID: %v\n", err)
	default:
		fmt.Fprintf(e.stdout, "VALID: the log %s at %d events (root %s, signed by %s)\n", v.Origin, v.Older.Size, v.Older.Root, v.Older.KeyID)
		fmt.Fprintf(e.stdout, "  is a prefix of the log at %d events (root %s, signed by %s):\n", v.Newer.Size, v.Newer.Root, v.Newer.KeyID)
		fmt.Fprintln(e.stdout, "  nothing logged by the time of the kept checkpoint was changed or removed since.")
		fmt.Fprintln(e.stdout, "Keep the newer checkpoint for your next check:")
		fmt.Fprint(e.stdout, ans.NewCheckpoint)
	}
	if err != nil {
		return errReported
	}
	return nil
}

// parseConsistency reads a ledgerConsistency answer, bare or as a GraphQL response.
func parseConsistency(raw []byte) (*consistencyAnswer, error) {
	var wrapped struct {
		Data struct {
			LedgerConsistency *consistencyAnswer `json:"ledgerConsistency"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &wrapped); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	ans := wrapped.Data.LedgerConsistency
	if ans == nil {
		ans = &consistencyAnswer{}
		if err := json.Unmarshal(raw, ans); err != nil {
			return nil, fmt.Errorf("not a ledgerConsistency answer: %w", err)
		}
	}
	if ans.NewCheckpoint == "" {
		return nil, errors.New("no newCheckpoint: want the answer of GraphQL ledgerConsistency { oldCheckpoint newCheckpoint oldSize newSize proof }")
	}
	return ans, nil
}

// printReceiptReport writes what a verified receipt proves, then every check.
func printReceiptReport(w io.Writer, path string, rep *ledger.ReceiptReport) {
	fmt.Fprintf(w, "VALID: %s proves event seq %d (%s) is in the custody log %s\n\n", path, rep.Seq, rep.EventType, rep.Origin)
	row := func(label, value string) {
		if value != "" {
			fmt.Fprintf(w, "  %-12s %s\n", label, value)
		}
	}
	row("Event", rep.EventID)
	row("Type", rep.EventType)
	row("Seq", fmt.Sprintf("%d (leaf %d)", rep.Seq, rep.LeafIndex))
	row("Recorded at", rep.RecordedAt)
	row("Device time", rep.DeviceTime)
	row("Asset", rep.Asset)
	row("Parcel", rep.Parcel)
	row("Tenant", rep.Tenant)
	row("Checkpoint", fmt.Sprintf("%d events, root %s", rep.TreeSize, rep.Root))
	row("Signed by", rep.KeyID)
	sig := "none (this event rests on no signature)"
	if rep.SignatureChecked {
		sig = "hashes match the event"
		if rep.ImageChecked {
			sig += "; drawn image re-hashed"
		}
		if rep.ConsentChecked {
			sig += "; consent text re-hashed"
		}
	}
	row("Signature", sig)
	fmt.Fprintln(w, "\nChecks passed:")
	for _, c := range rep.Checks {
		fmt.Fprintf(w, "  ✓ %s\n", c)
	}
}

// readKeyFile reads trusted verifier keys from a file: the JSON document of
// GET /ledger/keys, or text with one key per line (blank lines and lines
// starting with # ignored), as custody key list prints.
func readKeyFile(path string) ([]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	text := strings.TrimSpace(string(raw))
	var keys []string
	if strings.HasPrefix(text, "{") {
		var doc struct {
			Keys []struct {
				VerifierKey string `json:"verifierKey"`
			} `json:"keys"`
		}
		if err := json.Unmarshal([]byte(text), &doc); err != nil {
			return nil, fmt.Errorf("key file %s: not the JSON of GET /ledger/keys: %w", path, err)
		}
		for _, k := range doc.Keys {
			keys = append(keys, k.VerifierKey)
		}
	} else {
		for line := range strings.Lines(text) {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				keys = append(keys, line)
			}
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("key file %s holds no verifier key", path)
	}
	for i, k := range keys {
		if _, err := ledger.KeyID(k); err != nil {
			return nil, fmt.Errorf("key file %s, key %d: not a verifier key (want name+hash+key, as custody key list prints)", path, i+1)
		}
	}
	return keys, nil
}

// logVerdict is `custody verify --tenant --json`'s output.
type logVerdict struct {
	Valid              bool   `json:"valid"`
	Tenant             string `json:"tenant"`
	Origin             string `json:"origin"`
	TreeSize           int64  `json:"treeSize"`
	EventsChecked      int64  `json:"eventsChecked"`
	CheckpointsChecked int    `json:"checkpointsChecked"`
	FirstBadSeq        int64  `json:"firstBadSeq,omitempty"`
	Problem            string `json:"problem,omitempty"`
}

// verifyTenant recomputes a tenant's whole log from the store.
func verifyTenant(ctx context.Context, e env, cfg *config, tenant string, asJSON bool) error {
	return withTenant(ctx, e, cfg, tenant, nil, func(ctx context.Context, t *domain.Tenant, svc *domain.Service) error {
		res, err := svc.VerifyLedger(ctx)
		if err != nil {
			return err
		}
		v := logVerdict{Valid: res.OK, Tenant: t.Slug, Origin: ledger.Origin(t.ID), TreeSize: res.TreeSize,
			EventsChecked: res.EventsChecked, CheckpointsChecked: res.CheckpointsChecked,
			FirstBadSeq: res.FirstBadSeq, Problem: res.Problem}
		switch {
		case asJSON:
			if err := writeJSON(e.stdout, v); err != nil {
				return err
			}
		case res.OK:
			fmt.Fprintf(e.stdout, "VALID: the custody log of tenant %s (%s) verifies\n", t.Slug, v.Origin)
			fmt.Fprintf(e.stdout, "  %d events re-encoded and hashed; the Merkle tree rebuilt matches every stored hash;\n", res.EventsChecked)
			fmt.Fprintf(e.stdout, "  %s checked against the tenant's keys and the recomputed roots.\n",
				plural(res.CheckpointsChecked, "signed checkpoint"))
		default:
			fmt.Fprintf(e.stdout, "INVALID: the custody log of tenant %s (%s) does not verify\n", t.Slug, v.Origin)
			if res.FirstBadSeq > 0 {
				fmt.Fprintf(e.stdout, "  first bad event: seq %d\n", res.FirstBadSeq)
			}
			fmt.Fprintf(e.stdout, "  problem: %s\n", res.Problem)
		}
		if !res.OK {
			return errReported
		}
		return nil
	})
}

func keyListCmd() *command {
	var tenant, out string
	return &command{
		name:    "key list",
		args:    "--tenant <slug|id> [--out DIR] [flags]",
		summary: "print a tenant's ledger verifier keys, oldest first (a --key file for verify)",
		kind:    adminCommand,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&tenant, "tenant", "", "tenant slug or id")
			fs.StringVar(&out, "out", "", "also write each key to its own file in this directory")
		},
		run: func(ctx context.Context, e env, cfg *config) error {
			if tenant == "" {
				return usagef("--tenant is required")
			}
			return withTenant(ctx, e, cfg, tenant, nil, func(ctx context.Context, t *domain.Tenant, svc *domain.Service) error {
				keys, err := svc.SigningKeys(ctx)
				if err != nil {
					return err
				}
				if len(keys) == 0 {
					fmt.Fprintf(e.stdout, "# Tenant %s has no signing key yet: one is created when its log is first checkpointed.\n", t.Slug)
					return nil
				}
				printKeys(e.stdout, t, keys)
				if out != "" {
					return writeKeyFiles(e.stdout, out, t, keys)
				}
				return nil
			})
		},
	}
}

// printKeys writes the key history as a key file: comments for people, one
// verifier key per line for custody verify --key.
func printKeys(w io.Writer, t *domain.Tenant, keys []*domain.SigningKey) {
	fmt.Fprintf(w, "# Ledger signing keys of tenant %s (log %s), oldest first.\n", t.Slug, ledger.Origin(t.ID))
	fmt.Fprintln(w, "# This output is a key file: custody verify RECEIPT.json --key FILE")
	for _, k := range keys {
		state := "active"
		if k.RetiredAt != nil {
			state = "retired " + k.RetiredAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "# key %s, created %s, %s\n%s\n", k.ID, k.CreatedAt.UTC().Format(time.RFC3339), state, k.VerifierKey)
	}
}

// writeKeyFiles writes one file per key, named by tenant slug and key hash.
func writeKeyFiles(w io.Writer, dir string, t *domain.Tenant, keys []*domain.SigningKey) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	for _, k := range keys {
		id, err := ledger.KeyID(k.VerifierKey)
		if err != nil {
			return fmt.Errorf("key %s: %w", k.ID, err)
		}
		hash := id[strings.LastIndexByte(id, '+')+1:]
		path := filepath.Join(dir, t.Slug+"-"+hash+".key")
		// Public keys: readable by anyone who verifies.
		if err := os.WriteFile(path, []byte(k.VerifierKey+"\n"), 0o644); err != nil {
			return fmt.Errorf("write key file: %w", err)
		}
		fmt.Fprintf(w, "# wrote %s\n", path)
	}
	return nil
}

func keyRotateCmd() *command {
	var tenant, reason string
	return &command{
		name:    "key rotate",
		args:    "--tenant <slug|id> --reason <why> [flags]",
		summary: "retire a tenant's ledger signing key and create a new one (old receipts keep verifying)",
		kind:    keyCommand,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&tenant, "tenant", "", "tenant slug or id")
			fs.StringVar(&reason, "reason", "", "why, e.g. \"scheduled rotation\" or \"suspected compromise\" (logged)")
		},
		run: func(ctx context.Context, e env, cfg *config) error {
			if tenant == "" || strings.TrimSpace(reason) == "" {
				return usagef("--tenant and --reason are required")
			}
			key, err := cfg.resolveMasterKey()
			if err != nil {
				return err
			}
			sc := cfg.startConfig(nil)
			sc.MasterKey = key
			if err := ensureDataDir(sc); err != nil {
				return err
			}
			if key, _, err = server.MasterKey(sc); err != nil {
				return err
			}
			return withTenant(ctx, e, cfg, tenant, key, func(ctx context.Context, t *domain.Tenant, svc *domain.Service) error {
				k, err := svc.RotateSigningKey(ctx, reason)
				if err != nil {
					var ue domain.UserErrors
					if errors.As(err, &ue) {
						return usagef("--reason: %v", err)
					}
					return err
				}
				fmt.Fprintf(e.stdout, "Rotated the ledger signing key of tenant %s: key %s is now active.\n", t.Slug, k.ID)
				fmt.Fprintf(e.stdout, "Its verifier key (publish it to your auditors with the older ones, see custody key list):\n%s\n", k.VerifierKey)
				return nil
			})
		},
	}
}

func keyGenerateMasterCmd() *command {
	var out string
	return &command{
		name:    "key generate-master",
		args:    "[--out FILE]",
		summary: "print a new master key for CUSTODY_MASTER_KEY, or write it to a new 0600 file",
		kind:    offlineCommand,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&out, "out", "", "write the key to this new file (mode 0600; an existing file is never overwritten)")
		},
		run: func(_ context.Context, e env, _ *config) error {
			key := ledger.NewMasterKey(nil)
			if out == "" {
				fmt.Fprintln(e.stdout, key)
				fmt.Fprintln(e.stderr, "Keep this key in your secret store and give the same key to every server instance (CUSTODY_MASTER_KEY or CUSTODY_MASTER_KEY_FILE).")
				return nil
			}
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%s exists: refusing to overwrite a master key", out)
			}
			if err != nil {
				return fmt.Errorf("create master key file: %w", err)
			}
			if _, err := fmt.Fprintln(f, key); err != nil {
				_ = f.Close()
				return fmt.Errorf("write master key file: %w", err)
			}
			if err := f.Close(); err != nil {
				return fmt.Errorf("write master key file: %w", err)
			}
			fmt.Fprintf(e.stdout, "Wrote a new master key to %s (mode 0600).\nGive every server instance the same file: CUSTODY_MASTER_KEY_FILE=%s\n", out, out)
			return nil
		},
	}
}

// withTenant opens the store, finds the tenant and runs fn with a domain
// service (sealing keys under masterKey, if given) and a context carrying
// the tenant as principal, the only place the domain takes a tenant from.
func withTenant(ctx context.Context, e env, cfg *config, slugOrID string, masterKey []byte,
	fn func(ctx context.Context, t *domain.Tenant, svc *domain.Service) error) error {
	return withStore(ctx, e, cfg, func(db *storage.DB) error {
		t, err := findTenant(ctx, db, slugOrID)
		if err != nil {
			return err
		}
		opts := []domain.Option{domain.WithLogger(cfg.logger(e.stderr))}
		if masterKey != nil {
			opts = append(opts, domain.WithMasterKey(masterKey))
		}
		// No bus: these commands append no custody event.
		svc := domain.NewService(db, nil, opts...)
		tctx := tenancy.WithPrincipal(ctx, tenancy.Principal{TenantID: t.ID, TenantSlug: t.Slug, TenantName: t.Name,
			MemberName: "custody CLI"})
		return fn(tctx, t, svc)
	})
}

// plural writes n and noun, with an s unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// writeJSON writes v indented, with a final newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}
