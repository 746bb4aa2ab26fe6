package ledger_test

import (
	"strconv"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/custody-dev/custody/domain/ledger"
)

const benchTenant = "0b9c1a52-3c1e-4f7e-9a51-4c3f8e2b7d10"

// benchLeaf appends a canonical event of realistic size (about 400 bytes)
// for seq to buf.
func benchLeaf(buf []byte, seq int64) []byte {
	buf = append(buf, `{"v":1,"tenant":"`+benchTenant+`","seq":`...)
	buf = strconv.AppendInt(buf, seq, 10)
	buf = append(buf, `,"id":"7f3e2a10-9c4b-4d21-8e6f-`...)
	buf = strconv.AppendInt(buf, 100000000000+seq, 10)
	buf = append(buf, `","type":"HANDED_OFF","asset":"5d1c9e77-0a2b-4f3c-b8d9-2e6f1a3c4b5d","parcel":"",`+
		`"fromState":"AWAITING_COLLECTION","toState":"DEPLOYED","fromCustodian":["LOCATION","mailroom-2"],`+
		`"toCustodian":["PERSON","c4a8e1f0-6b7d-4e2a-9f31-8d5c2b7e9a40"],"actor":"e2f4a6c8-1b3d-4f5a-8c7e-9d0b2a4c6e81",`+
		`"location":"HQ mailroom","deviceTime":"","recordedAt":"2026-03-14T08:26:53.589793Z","signature":"",`+
		`"details":{"consentVersion":"2026-01"}}`...)
	return buf
}

// BenchmarkAuditor1M verifies a one-million-event log in memory: every
// leaf re-hashed, every stored hash compared, one signed checkpoint.
func BenchmarkAuditor1M(b *testing.B) {
	const n = 1_000_000
	var hashes []tlog.Hash
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = hashes[x]
		}
		return out, nil
	})
	var buf []byte
	for i := range int64(n) {
		buf = benchLeaf(buf[:0], i+1)
		hs, err := tlog.StoredHashes(i, buf, reader)
		if err != nil {
			b.Fatal(err)
		}
		hashes = append(hashes, hs...)
	}
	root, err := tlog.TreeHash(n, reader)
	if err != nil {
		b.Fatal(err)
	}
	k := newKey(b, benchTenant, 1)
	origin := ledger.Origin(benchTenant)
	cp, err := ledger.SignCheckpoint(k.signer, origin, n, root)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		a := ledger.NewAuditor(origin, k.verifier)
		if err := a.AddCheckpoint(cp); err != nil {
			b.Fatal(err)
		}
		next := int64(0)
		for i := range int64(n) {
			buf = benchLeaf(buf[:0], i+1)
			a.AddLeaf(i, buf)
			for end := tlog.StoredHashCount(i + 1); next < end; next++ {
				a.AddStoredHash(next, hashes[next])
			}
		}
		res := a.Finish(n)
		if !res.OK() || res.CheckpointsVerified != 1 || res.Root != root {
			b.Fatalf("%+v: %v", res, res.Failure)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "leaves/s")
}
