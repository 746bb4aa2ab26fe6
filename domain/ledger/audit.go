package ledger

import (
	"errors"
	"fmt"
	"sort"

	"golang.org/x/mod/sumdb/tlog"
)

// FailureKind classifies what a full log verification found wrong.
type FailureKind string

// The kinds of AuditFailure.
const (
	// FailureLeafChanged: an event no longer hashes to the leaf hash stored
	// when it was logged (or a checkpoint shows the event itself changed).
	FailureLeafChanged FailureKind = "leaf-changed"
	// FailureStoredHashChanged: a stored tree hash differs from the one
	// recomputed from the events, while the events match the signed checkpoints.
	FailureStoredHashChanged FailureKind = "stored-hash-changed"
	// FailureLeafMissing: a seq is missing from the events (a deleted row).
	FailureLeafMissing FailureKind = "leaf-missing"
	// FailureLeafOutOfOrder: an event repeats a seq or comes after a later one.
	FailureLeafOutOfOrder FailureKind = "leaf-out-of-order"
	// FailureStoredHashMissing: a stored tree hash an event needs is missing.
	FailureStoredHashMissing FailureKind = "stored-hash-missing"
	// FailureStoredHashOutOfOrder: a stored hash index repeats or goes backwards.
	FailureStoredHashOutOfOrder FailureKind = "stored-hash-out-of-order"
	// FailureTruncated: the log ends before its head, a checkpoint, or its
	// stored hashes say it should (events at its end were deleted).
	FailureTruncated FailureKind = "truncated"
	// FailureExtraLeaves: the log holds more events than its head records.
	FailureExtraLeaves FailureKind = "extra-leaves"
	// FailureCheckpointMismatch: a signed checkpoint's root is not the root
	// recomputed from the events at its size, although the stored hashes
	// agree with the events: events were changed and the hashes rewritten.
	FailureCheckpointMismatch FailureKind = "checkpoint-mismatch"
	// FailureCheckpointInvalid: a stored checkpoint does not verify with the
	// trusted keys (forged, altered, wrong key or wrong log).
	FailureCheckpointInvalid FailureKind = "checkpoint-invalid"
)

// AuditFailure is the first thing a full log verification found wrong.
type AuditFailure struct {
	// LeafIndex is the first leaf (seq - 1) known to be wrong, or from which
	// the log is wrong; -1 when the failure is not about a leaf (a
	// checkpoint that does not verify).
	LeafIndex int64
	// Kind classifies the failure.
	Kind FailureKind
	// Reason says in plain words what does not match.
	Reason string
	cause  error
}

// Seq is the sequence number of the failing event (LeafIndex + 1), or 0
// when the failure is not about a leaf.
func (f *AuditFailure) Seq() int64 {
	if f.LeafIndex < 0 {
		return 0
	}
	return f.LeafIndex + 1
}

// Error describes the failure, naming the event.
func (f *AuditFailure) Error() string {
	if f.LeafIndex < 0 {
		return fmt.Sprintf("log verification failed (%s): %s", f.Kind, f.Reason)
	}
	return fmt.Sprintf("log verification failed at event seq %d (leaf %d, %s): %s", f.Seq(), f.LeafIndex, f.Kind, f.Reason)
}

// Unwrap returns the underlying verification error, if any (for a
// checkpoint-invalid failure, the ErrUnknownKey/ErrBadSignature/... error).
func (f *AuditFailure) Unwrap() error { return f.cause }

// AuditResult is the outcome of a full log verification.
type AuditResult struct {
	// Origin is the audited log.
	Origin string
	// Leaves is how many leaves were recomputed, in order from leaf 0.
	Leaves int64
	// Root is the tree hash recomputed from those leaves.
	Root tlog.Hash
	// CheckpointsVerified counts signed checkpoints whose root equals the
	// root recomputed at their size.
	CheckpointsVerified int
	// Failure is the first failure, or nil when the log verified. A failure
	// about a leaf wins over a checkpoint that does not verify.
	Failure *AuditFailure
}

// OK reports whether the log verified.
func (r *AuditResult) OK() bool { return r.Failure == nil }

// Auditor recomputes a tenant's whole log from its events and compares it
// with the stored tree hashes and the signed checkpoints, in one streaming
// pass with O(log n) state.
//
// Drive it from three ordered streams, interleaved as convenient:
//   - AddCheckpoint for each stored signed checkpoint, before the leaves
//     reach its size (simplest: all of them first, or each before the page of
//     leaves it ends in);
//   - AddLeaf(seq-1, canonical event bytes) for the events in seq order;
//   - AddStoredHash(index, hash) for the stored hashes in index order.
//
// Leaf n is checked once its stored hashes (indexes tlog.StoredHashCount(n)
// to tlog.StoredHashCount(n+1)-1) have arrived. Input one stream has sent
// ahead of the other is buffered (about 40 bytes per leaf or hash), so feed
// them in step, e.g. a page of events and then the hashes below
// tlog.StoredHashCount(last seq). Then call Finish with the size the log's
// head records. After the first failure the Auditor stops checking (it only
// watches the next checkpoint to tell a changed event from a changed stored
// hash) and drops further input. An Auditor is not safe for concurrent use.
type Auditor struct {
	origin string
	keys   *keySet
	keyErr error

	size     int64        // leaves recomputed so far
	frontier []storedHash // frontier[level]: the latest complete subtree at that level
	scratch  []tlog.Hash
	reader   tlog.HashReader

	leaves  queue[pendingLeaf]
	hashes  queue[storedHash]
	maxHash int64 // highest stored hash index received

	pending  []*Checkpoint // verified checkpoints not reached yet, by size
	goodSize int64         // size of the latest checkpoint that matched
	matched  int

	failure     *AuditFailure
	badCheck    *AuditFailure // first checkpoint that did not verify
	classifying bool          // failure is a leaf-hash mismatch a later checkpoint can explain
	done        bool          // stop checking and drop input
	finished    bool
}

type pendingLeaf struct {
	index int64
	hash  tlog.Hash
}

type storedHash struct {
	index int64
	hash  tlog.Hash
}

// NewAuditor returns an Auditor of log origin whose checkpoints must verify
// with one of verifierKeys (the log's key history). A malformed key makes
// every checkpoint fail as checkpoint-invalid.
func NewAuditor(origin string, verifierKeys ...string) *Auditor {
	a := &Auditor{origin: origin, maxHash: -1}
	a.keys, a.keyErr = newKeySet(origin, verifierKeys)
	a.reader = tlog.HashReaderFunc(a.readHashes)
	return a
}

// AddCheckpoint adds a stored signed checkpoint to compare with the
// recomputed tree at its size. A checkpoint that does not verify is recorded
// as a checkpoint-invalid failure, not returned. The error is for misuse
// only: a checkpoint smaller than the leaves already checked, or a call
// after Finish.
func (a *Auditor) AddCheckpoint(signedNote []byte) error {
	if a.finished {
		return errors.New("add checkpoint: the audit is finished")
	}
	if a.done {
		return nil
	}
	var c *Checkpoint
	err := a.keyErr
	if err == nil {
		c, err = a.keys.open(signedNote)
	}
	if err != nil {
		a.badCheckpoint(err)
		return nil
	}
	if c.Size < a.size {
		return fmt.Errorf("add checkpoint: the checkpoint of size %d came after leaf %d was checked; add checkpoints before the leaves they cover", c.Size, a.size-1)
	}
	i := sort.Search(len(a.pending), func(i int) bool { return a.pending[i].Size > c.Size })
	a.pending = append(a.pending, nil)
	copy(a.pending[i+1:], a.pending[i:])
	a.pending[i] = c
	a.checkCheckpoints()
	return nil
}

// badCheckpoint records the first checkpoint that does not verify.
func (a *Auditor) badCheckpoint(err error) {
	if a.badCheck == nil {
		a.badCheck = &AuditFailure{LeafIndex: -1, Kind: FailureCheckpointInvalid,
			Reason: "a stored checkpoint does not verify: " + err.Error(), cause: err}
	}
}

// AddLeaf adds leaf index (the event's seq - 1) with its canonical bytes.
// Leaves must come in index order; a gap or repeat is a failure. The bytes
// are hashed at once and not kept.
func (a *Auditor) AddLeaf(index int64, leaf []byte) {
	if a.done || a.finished {
		return
	}
	a.leaves.push(pendingLeaf{index: index, hash: tlog.RecordHash(leaf)})
	a.drain(false)
}

// AddStoredHash adds the stored tree hash at a storage index (see
// tlog.StoredHashIndex). Hashes must come in index order; a gap or repeat
// is a failure.
func (a *Auditor) AddStoredHash(index int64, h tlog.Hash) {
	if a.done || a.finished || a.classifying {
		return
	}
	a.hashes.push(storedHash{index: index, hash: h})
	a.maxHash = max(a.maxHash, index)
	a.drain(false)
}

// Finish checks what is still buffered and the log's end against headSize,
// the size the log's head records (negative if there is none), the
// checkpoints and the stored hashes, and returns the result. The Auditor
// takes no input afterwards; calling Finish again returns the same result.
func (a *Auditor) Finish(headSize int64) *AuditResult {
	if !a.finished {
		a.finished = true
		a.drain(true)
		if a.failure == nil {
			a.checkEnd(headSize)
		}
		a.done = true
	}
	res := &AuditResult{Origin: a.origin, Leaves: a.size, CheckpointsVerified: a.matched, Failure: a.failure}
	if res.Failure == nil {
		res.Failure = a.badCheck
	}
	if root, err := tlog.TreeHash(a.size, a.reader); err == nil {
		res.Root = root
	}
	return res
}

// checkEnd finds a log that ends early or late.
func (a *Auditor) checkEnd(headSize int64) {
	n := a.size
	switch {
	case headSize >= 0 && headSize > n:
		a.fail(n, FailureTruncated, "the log head records %d events but only %d are present: events from seq %d on are missing", headSize, n, n+1)
	case len(a.pending) > 0:
		c := a.pending[len(a.pending)-1]
		a.fail(n, FailureTruncated, "the checkpoint of size %d signed by %s covers %d events, but the log ends after %d: events from seq %d on are missing",
			c.Size, c.KeyID, c.Size, n, n+1)
	case a.hashes.len() > 0:
		a.fail(n, FailureTruncated, "stored hashes continue past the last event (index %d onwards, from leaf %d): events from seq %d on were deleted",
			a.hashes.peek().index, n, n+1)
	case headSize >= 0 && headSize < n:
		a.fail(headSize, FailureExtraLeaves, "the log holds %d events but its head records only %d: events from seq %d on were added outside the log",
			n, headSize, headSize+1)
	}
}

// fail records the first failure and stops checking.
func (a *Auditor) fail(leaf int64, kind FailureKind, format string, args ...any) {
	if a.failure == nil {
		a.failure = &AuditFailure{LeafIndex: leaf, Kind: kind, Reason: fmt.Sprintf(format, args...)}
	}
	a.stop()
}

// stop ends checking and drops buffered input.
func (a *Auditor) stop() {
	a.classifying = false
	a.done = true
	a.leaves.reset()
	a.hashes.reset()
	a.pending = nil
}

// drain checks the buffered leaves whose stored hashes have arrived (or all
// of them when final).
func (a *Auditor) drain(final bool) {
	for !a.done && a.leaves.len() > 0 {
		n := a.size
		start, end := tlog.StoredHashCount(n), tlog.StoredHashCount(n+1)
		if !final && !a.classifying && a.maxHash < end-1 {
			return // wait for leaf n's hashes
		}
		l := a.leaves.pop()
		switch {
		case l.index > n:
			a.fail(n, FailureLeafMissing, "event seq %d is missing: the events go from seq %d to seq %d", n+1, n, l.index+1)
			return
		case l.index < n:
			a.fail(n, FailureLeafOutOfOrder, "event seq %d appears where seq %d belongs (repeated or out of order)", l.index+1, n+1)
			return
		}
		hs, err := tlog.StoredHashesForRecordHash(n, l.hash, a.reader)
		if err != nil {
			a.fail(n, FailureStoredHashMissing, "recomputing leaf %d: %v", n, err)
			return
		}
		if !a.classifying && !a.compareStored(n, start, hs) {
			return
		}
		for i, h := range hs {
			if i == len(a.frontier) {
				a.frontier = append(a.frontier, storedHash{})
			}
			a.frontier[i] = storedHash{index: start + int64(i), hash: h}
		}
		a.size++
		a.checkCheckpoints()
	}
}

// compareStored compares leaf n's recomputed hashes with the stored ones
// (storage indexes from start) and reports whether checking goes on.
func (a *Auditor) compareStored(n, start int64, hs []tlog.Hash) bool {
	for i, h := range hs {
		idx := start + int64(i)
		if a.hashes.len() == 0 {
			a.fail(n, FailureStoredHashMissing, "stored hash %d (level %d of event seq %d) is missing: the stored hashes end before it", idx, i, n+1)
			return false
		}
		s := a.hashes.peek()
		switch {
		case s.index > idx:
			a.fail(n, FailureStoredHashMissing, "stored hash %d (level %d of event seq %d) is missing: the next stored hash is %d", idx, i, n+1, s.index)
			return false
		case s.index < idx:
			a.fail(n, FailureStoredHashOutOfOrder, "stored hash %d is repeated or out of order where %d (level %d of event seq %d) belongs", s.index, idx, i, n+1)
			return false
		}
		a.hashes.pop()
		if s.hash == h {
			continue
		}
		if i > 0 {
			a.fail(n, FailureStoredHashChanged, "stored hash %d (level %d, completed by event seq %d) is %s, but the events recompute it to %s: the stored hash was changed",
				idx, i, n+1, s.hash, h)
			return false
		}
		// Either the event or its stored leaf hash changed; keep recomputing
		// from the events so the next checkpoint can tell which.
		a.failure = &AuditFailure{LeafIndex: n, Kind: FailureLeafChanged,
			Reason: fmt.Sprintf("event seq %d does not hash to its stored leaf hash (stored %s, recomputed %s): the event or that stored hash was changed after it was logged", n+1, s.hash, h)}
		a.classifying = true
		a.hashes.reset()
		return true
	}
	return true
}

// checkCheckpoints compares the checkpoints at the current size with the
// recomputed root.
func (a *Auditor) checkCheckpoints() {
	for !a.done && len(a.pending) > 0 && a.pending[0].Size == a.size {
		c := a.pending[0]
		a.pending = a.pending[1:]
		root, err := tlog.TreeHash(a.size, a.reader)
		if err != nil {
			a.fail(a.size, FailureStoredHashMissing, "recomputing the root at size %d: %v", a.size, err)
			return
		}
		if a.classifying {
			a.explainLeafChange(c, root == c.Root)
			return
		}
		if root != c.Root {
			a.fail(a.goodSize, FailureCheckpointMismatch,
				"the checkpoint of size %d signed by %s has root %s, but the events recompute to %s: an event among seq %d..%d was changed and the stored hashes rewritten to match",
				c.Size, c.KeyID, c.Root, root, a.goodSize+1, c.Size)
			return
		}
		a.goodSize = c.Size
		a.matched++
	}
}

// explainLeafChange settles a leaf-hash mismatch with the first checkpoint
// after it: if the events still give the signed root, the stored hash was
// changed, not the event.
func (a *Auditor) explainLeafChange(c *Checkpoint, rootMatches bool) {
	f := a.failure
	if rootMatches {
		a.matched++
		f.Kind = FailureStoredHashChanged
		f.Reason = fmt.Sprintf("the stored leaf hash of event seq %d was changed: the event still matches the checkpoint of size %d signed by %s", f.Seq(), c.Size, c.KeyID)
	} else {
		f.Reason = fmt.Sprintf("event seq %d was changed after it was logged: it no longer hashes to its stored leaf hash, and the events no longer give the root of the checkpoint of size %d signed by %s",
			f.Seq(), c.Size, c.KeyID)
	}
	a.stop()
}

// readHashes serves tlog the recomputed frontier: StoredHashesForRecordHash
// and TreeHash only ever read the latest complete subtree at each level.
func (a *Auditor) readHashes(indexes []int64) ([]tlog.Hash, error) {
	out := a.scratch[:0]
next:
	for _, idx := range indexes {
		for _, f := range a.frontier {
			if f.index == idx {
				out = append(out, f.hash)
				continue next
			}
		}
		return nil, fmt.Errorf("stored hash %d is not on the recomputed frontier", idx)
	}
	a.scratch = out
	return out, nil
}

// queue is a FIFO that reuses its storage once drained.
type queue[T any] struct {
	items []T
	head  int
}

func (q *queue[T]) push(v T) { q.items = append(q.items, v) }
func (q *queue[T]) len() int { return len(q.items) - q.head }
func (q *queue[T]) peek() *T { return &q.items[q.head] }
func (q *queue[T]) reset()   { q.items, q.head = q.items[:0], 0 }
func (q *queue[T]) pop() T {
	v := q.items[q.head]
	q.head++
	switch {
	case q.head == len(q.items):
		q.reset()
	case q.head >= 1024 && 2*q.head >= len(q.items):
		q.items = q.items[:copy(q.items, q.items[q.head:])]
		q.head = 0
	}
	return v
}
