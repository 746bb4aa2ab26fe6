package ledger_test

import (
	"bytes"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/custody-dev/custody/domain/ledger"
)

type leafRow struct {
	index int64
	leaf  []byte
}

type hashRow struct {
	index int64
	hash  tlog.Hash
}

// feed is what the server's tables hold for one tenant: events, stored
// hashes, signed checkpoints and the head's size. Tests edit it the way an
// attacker with database access would.
type feed struct {
	leaves      []leafRow
	hashes      []hashRow
	checkpoints [][]byte
	head        int64
}

func newFeed(l *memLog, checkpoints ...[]byte) *feed {
	f := &feed{head: int64(len(l.leaves)), checkpoints: checkpoints}
	for i, leaf := range l.leaves {
		f.leaves = append(f.leaves, leafRow{int64(i), bytes.Clone(leaf)})
	}
	for i, h := range l.hashes {
		f.hashes = append(f.hashes, hashRow{int64(i), h})
	}
	return f
}

// Ways to interleave the streams; all must give the same result.
const (
	inStep      = "in step"
	leavesFirst = "leaves first"
	hashesFirst = "hashes first"
)

func (f *feed) run(t testing.TB, a *ledger.Auditor, order string) *ledger.AuditResult {
	t.Helper()
	for _, c := range f.checkpoints {
		if err := a.AddCheckpoint(c); err != nil {
			t.Fatal(err)
		}
	}
	addHashes := func(hs []hashRow) {
		for _, h := range hs {
			a.AddStoredHash(h.index, h.hash)
		}
	}
	switch order {
	case inStep:
		next := 0
		for _, r := range f.leaves {
			a.AddLeaf(r.index, r.leaf)
			end := tlog.StoredHashCount(r.index + 1)
			for next < len(f.hashes) && f.hashes[next].index < end {
				a.AddStoredHash(f.hashes[next].index, f.hashes[next].hash)
				next++
			}
		}
		addHashes(f.hashes[next:])
	case leavesFirst:
		for _, r := range f.leaves {
			a.AddLeaf(r.index, r.leaf)
		}
		addHashes(f.hashes)
	case hashesFirst:
		addHashes(f.hashes)
		for _, r := range f.leaves {
			a.AddLeaf(r.index, r.leaf)
		}
	}
	return a.Finish(f.head)
}

func (f *feed) hashAt(index int64) *hashRow {
	for i := range f.hashes {
		if f.hashes[i].index == index {
			return &f.hashes[i]
		}
	}
	panic("no stored hash " + strconv.FormatInt(index, 10))
}

// dropLeaves removes the last n events and, with hashes, their stored hashes.
func (f *feed) dropLeaves(n int, hashes bool) {
	f.leaves = f.leaves[:len(f.leaves)-n]
	if hashes {
		end := tlog.StoredHashCount(int64(len(f.leaves)))
		f.hashes = slices.DeleteFunc(f.hashes, func(h hashRow) bool { return h.index >= end })
	}
}

func TestAuditor(t *testing.T) {
	const n = 100
	l := newLog(t, "t1", n)
	old, cur := newKey(t, "t1", 1), newKey(t, "t1", 2)
	keys := []string{old.verifier, cur.verifier}
	cp10, cp37, cp64, cp100 := sign(t, old, l, 10), sign(t, old, l, 37), sign(t, cur, l, 64), sign(t, cur, l, n)

	// The same log with event seq 31 changed, and all its hashes rewritten.
	rewritten := &memLog{tenant: "t1"}
	for i, leaf := range l.leaves {
		if i == 30 {
			leaf = bytes.Replace(leaf, []byte(`"RESTOCKED"`), []byte(`"RETIRED"`), 1)
		}
		rewritten.append(t, leaf)
	}
	edit := func(leaf []byte) []byte {
		out := bytes.Replace(leaf, []byte(`"location":"Dock`), []byte(`"location":"Dusk`), 1)
		if bytes.Equal(out, leaf) {
			t.Fatal("edit changed nothing")
		}
		return out
	}

	for _, tc := range []struct {
		name     string
		mutate   func(f *feed)
		kind     ledger.FailureKind // "" for a log that verifies
		leaf     int64
		fragment string
		cause    error
	}{
		{name: "intact log"},
		{"event changed", func(f *feed) { f.leaves[41].leaf = edit(f.leaves[41].leaf) },
			ledger.FailureLeafChanged, 41, "event seq 42 was changed after it was logged", nil},
		{"event changed, no checkpoint after it", func(f *feed) {
			f.leaves[41].leaf = edit(f.leaves[41].leaf)
			f.checkpoints = [][]byte{cp10, cp37}
		}, ledger.FailureLeafChanged, 41, "the event or that stored hash was changed", nil},
		{"stored leaf hash changed", func(f *feed) { f.hashAt(tlog.StoredHashIndex(0, 41)).hash[0] ^= 1 },
			ledger.FailureStoredHashChanged, 41, "the event still matches the checkpoint of size 64", nil},
		{"interior stored hash changed", func(f *feed) { f.hashAt(tlog.StoredHashIndex(2, 5)).hash[31] ^= 1 },
			ledger.FailureStoredHashChanged, 23, "level 2, completed by event seq 24", nil},
		{"event deleted", func(f *feed) { f.leaves = slices.Delete(f.leaves, 49, 50) },
			ledger.FailureLeafMissing, 49, "event seq 50 is missing: the events go from seq 49 to seq 51", nil},
		{"events swapped", func(f *feed) { f.leaves[20].leaf, f.leaves[21].leaf = f.leaves[21].leaf, f.leaves[20].leaf },
			ledger.FailureLeafChanged, 20, "event seq 21 was changed", nil},
		{"events out of order", func(f *feed) { f.leaves[20], f.leaves[21] = f.leaves[21], f.leaves[20] },
			ledger.FailureLeafMissing, 20, "event seq 21 is missing", nil},
		{"event repeated", func(f *feed) { f.leaves = slices.Insert(f.leaves, 31, f.leaves[30]) },
			ledger.FailureLeafOutOfOrder, 31, "event seq 31 appears where seq 32 belongs", nil},
		{"last events deleted", func(f *feed) { f.dropLeaves(5, true) },
			ledger.FailureTruncated, 95, "the log head records 100 events but only 95 are present", nil},
		{"last events deleted and head rewritten", func(f *feed) { f.dropLeaves(5, true); f.head = 95 },
			ledger.FailureTruncated, 95, "the checkpoint of size 100 signed by " + mustKeyID(t, cur.verifier) + " covers 100 events", nil},
		{"last events deleted, their hashes left", func(f *feed) {
			f.dropLeaves(5, false)
			f.head, f.checkpoints = 95, [][]byte{cp10, cp37, cp64}
		}, ledger.FailureTruncated, 95, "stored hashes continue past the last event", nil},
		{"events added outside the log", func(f *feed) { f.head, f.checkpoints = 90, [][]byte{cp10} },
			ledger.FailureExtraLeaves, 90, "the log holds 100 events but its head records only 90", nil},
		{"stored hash deleted", func(f *feed) {
			i := slices.IndexFunc(f.hashes, func(h hashRow) bool { return h.index == tlog.StoredHashIndex(1, 20) })
			f.hashes = slices.Delete(f.hashes, i, i+1)
		}, ledger.FailureStoredHashMissing, 41, "level 1 of event seq 42) is missing", nil},
		{"stored hash repeated", func(f *feed) { f.hashes = slices.Insert(f.hashes, 60, f.hashes[59]) },
			ledger.FailureStoredHashOutOfOrder, 31, "stored hash 59 is repeated or out of order where 60", nil},
		{"stored hashes end early", func(f *feed) { f.hashes = f.hashes[:len(f.hashes)-3] },
			ledger.FailureStoredHashMissing, 99, "the stored hashes end before it", nil},
		{"checkpoint with a different root", func(f *feed) { f.checkpoints[1] = sign(t, old, rewritten, 37) },
			ledger.FailureCheckpointMismatch, 10, "the checkpoint of size 37 signed by " + mustKeyID(t, old.verifier), nil},
		{"event changed and hashes rewritten", func(f *feed) {
			*f = *newFeed(rewritten, cp10, cp37, cp64, cp100)
		}, ledger.FailureCheckpointMismatch, 10, "an event among seq 11..37 was changed and the stored hashes rewritten", nil},
		{"checkpoint altered", func(f *feed) { f.checkpoints[2] = []byte(strings.Replace(string(cp64), "\n64\n", "\n63\n", 1)) },
			ledger.FailureCheckpointInvalid, -1, "a stored checkpoint does not verify", ledger.ErrBadSignature},
		{"checkpoint by an unknown key", func(f *feed) { f.checkpoints[2] = sign(t, newKey(t, "t1", 9), l, 64) },
			ledger.FailureCheckpointInvalid, -1, "signed by an unknown key", ledger.ErrUnknownKey},
		{"event changed and a checkpoint forged", func(f *feed) {
			f.leaves[70].leaf = edit(f.leaves[70].leaf)
			f.checkpoints[3] = sign(t, newKey(t, "t1", 9), l, 100)
		}, ledger.FailureLeafChanged, 70, "the event or that stored hash", nil},
	} {
		for _, order := range []string{inStep, leavesFirst, hashesFirst} {
			t.Run(tc.name+"/"+order, func(t *testing.T) {
				f := newFeed(l, cp10, cp37, cp64, cp100)
				if tc.mutate != nil {
					tc.mutate(f)
				}
				res := f.run(t, ledger.NewAuditor(ledger.Origin("t1"), keys...), order)
				if tc.kind == "" {
					if !res.OK() || res.Leaves != n || res.Root != l.root(t, n) || res.CheckpointsVerified != 4 {
						t.Fatalf("intact log: %+v, failure %v", res, res.Failure)
					}
					return
				}
				fl := res.Failure
				switch {
				case res.OK():
					t.Fatalf("not detected: %+v", res)
				case fl.Kind != tc.kind || fl.LeafIndex != tc.leaf:
					t.Fatalf("failure %s at leaf %d, want %s at %d: %v", fl.Kind, fl.LeafIndex, tc.kind, tc.leaf, fl)
				case !strings.Contains(fl.Error(), tc.fragment):
					t.Fatalf("failure %q does not say %q", fl, tc.fragment)
				case tc.cause != nil && !errors.Is(fl, tc.cause):
					t.Fatalf("failure %q does not wrap %q", fl, tc.cause)
				case fl.LeafIndex >= 0 && (fl.Seq() != fl.LeafIndex+1 || !strings.Contains(fl.Error(), "at event seq "+strconv.FormatInt(fl.Seq(), 10))):
					t.Fatalf("failure %q does not name seq %d", fl, fl.Seq())
				}
				if order == inStep {
					t.Logf("detected: %v", fl)
				}
			})
		}
	}
}

func TestAuditorMisuse(t *testing.T) {
	l := newLog(t, "t1", 10)
	k := newKey(t, "t1", 1)
	a := ledger.NewAuditor(ledger.Origin("t1"), k.verifier)
	for i := range int64(5) {
		a.AddLeaf(i, l.leaves[i])
		for idx := tlog.StoredHashCount(i); idx < tlog.StoredHashCount(i+1); idx++ {
			a.AddStoredHash(idx, l.hashes[idx])
		}
	}
	if err := a.AddCheckpoint(sign(t, k, l, 3)); err == nil || !strings.Contains(err.Error(), "came after leaf 4 was checked") {
		t.Errorf("late checkpoint: %v", err)
	}
	if err := a.AddCheckpoint(sign(t, k, l, 5)); err != nil {
		t.Errorf("checkpoint at the current size: %v", err)
	}
	res := a.Finish(5)
	if !res.OK() || res.CheckpointsVerified != 1 || res.Root != l.root(t, 5) {
		t.Fatalf("%+v %v", res, res.Failure)
	}
	if again := a.Finish(5); again.Root != res.Root || again.Leaves != 5 {
		t.Error("Finish is not repeatable")
	}
	if err := a.AddCheckpoint(sign(t, k, l, 10)); err == nil {
		t.Error("AddCheckpoint after Finish")
	}

	// A malformed trusted key fails every checkpoint, not the leaves.
	b := ledger.NewAuditor(ledger.Origin("t1"), "not a key")
	if err := b.AddCheckpoint(sign(t, k, l, 10)); err != nil {
		t.Fatal(err)
	}
	if res := newFeed(l).run(t, b, inStep); res.Failure == nil || res.Failure.Kind != ledger.FailureCheckpointInvalid ||
		!strings.Contains(res.Failure.Reason, "verifier key #1 is malformed") {
		t.Errorf("malformed key: %v", res.Failure)
	}

	// An empty log verifies, with the empty tree's root.
	empty := ledger.NewAuditor(ledger.Origin("t1"), k.verifier)
	if res := empty.Finish(0); !res.OK() || res.Leaves != 0 || res.Root != (&memLog{}).root(t, 0) {
		t.Errorf("empty log: %+v", res)
	}
}
