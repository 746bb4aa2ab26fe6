package domain

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/custody-dev/custody/domain/ledger"
	"github.com/custody-dev/custody/tenancy"
)

// ErrNoMasterKey means the server was started without the master key that
// seals checkpoint signing keys, so it cannot sign.
var ErrNoMasterKey = errors.New("ledger: no master key configured")

// WithMasterKey sets the key that seals tenants' checkpoint signing keys at
// rest (32 bytes, from configuration).
func WithMasterKey(key []byte) Option { return func(s *Service) { s.masterKey = key } }

// hashReader reads stored Merkle hashes inside tx.
func hashReader(tx Tx) tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) { return tx.ReadHashes(indexes) })
}

// signer returns the tenant's active signing key unsealed, creating the
// tenant's first key when it has none.
func (s *Service) signer(tx Tx, tenantID string) (signerKey string, key *SigningKey, err error) {
	if len(s.masterKey) == 0 {
		return "", nil, ErrNoMasterKey
	}
	key, err = tx.ActiveSigningKey()
	if errors.Is(err, ErrNotFound) {
		return s.newSigningKey(tx, tenantID)
	}
	if err != nil {
		return "", nil, fmt.Errorf("load signing key: %w", err)
	}
	signerKey, err = ledger.Unseal(s.masterKey, tenantID, key.SealedSigner)
	if err != nil {
		return "", nil, fmt.Errorf("unseal signing key %s: %w", key.ID, err)
	}
	return signerKey, key, nil
}

// newSigningKey creates, seals and stores a new active key (retiring the old one).
func (s *Service) newSigningKey(tx Tx, tenantID string) (string, *SigningKey, error) {
	signerKey, verifierKey, err := ledger.GenerateKey(rand.Reader, tenantID)
	if err != nil {
		return "", nil, fmt.Errorf("generate signing key: %w", err)
	}
	sealed, err := ledger.Seal(s.masterKey, tenantID, signerKey)
	if err != nil {
		return "", nil, fmt.Errorf("seal signing key: %w", err)
	}
	key := &SigningKey{ID: NewID(), VerifierKey: verifierKey, SealedSigner: sealed, CreatedAt: s.timestamp()}
	if err := tx.CreateSigningKey(key); err != nil {
		return "", nil, fmt.Errorf("store signing key: %w", err)
	}
	return signerKey, key, nil
}

// checkpoint signs the log's current size and root unless the latest
// checkpoint already covers it, and returns the latest checkpoint.
func (s *Service) checkpoint(tx Tx, tenantID string) (*Checkpoint, error) {
	size, err := tx.LedgerSize()
	if err != nil {
		return nil, fmt.Errorf("ledger size: %w", err)
	}
	latest, err := tx.LatestCheckpoint()
	switch {
	case err == nil && latest.TreeSize >= size:
		return latest, nil
	case err != nil && !errors.Is(err, ErrNotFound):
		return nil, fmt.Errorf("latest checkpoint: %w", err)
	}
	if size == 0 {
		return nil, ErrNotFound
	}
	root, err := tlog.TreeHash(size, hashReader(tx))
	if err != nil {
		return nil, fmt.Errorf("tree hash at %d: %w", size, err)
	}
	signerKey, key, err := s.signer(tx, tenantID)
	if err != nil {
		return nil, err
	}
	note, err := ledger.SignCheckpoint(signerKey, ledger.Origin(tenantID), size, root)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	c := &Checkpoint{TenantID: tenantID, TreeSize: size, RootHash: root, Note: note, KeyID: key.ID, CreatedAt: s.timestamp()}
	if err := tx.PutCheckpoint(c); err != nil {
		return nil, fmt.Errorf("store checkpoint: %w", err)
	}
	return c, nil
}

// SignCheckpoint signs the caller's tenant log at its current size (if not
// already signed) and returns the latest checkpoint, or nil for an empty log.
func (s *Service) SignCheckpoint(ctx context.Context) (*Checkpoint, error) {
	tenantID, err := tenancy.TenantID(ctx)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	var c *Checkpoint
	err = s.updateLedger(ctx, func(tx Tx) error {
		var err error
		c, err = s.checkpoint(tx, tenantID)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	return c, nil
}

// RotateSigningKey retires the tenant's signing key and creates a new one,
// for the reason given (logged). Checkpoints signed with the old key keep
// verifying: its public half stays in the key history.
func (s *Service) RotateSigningKey(ctx context.Context, reason string) (*SigningKey, error) {
	who, err := actor(ctx)
	if err != nil {
		return nil, fmt.Errorf("rotate signing key: %w", err)
	}
	tenantID := who.TenantID
	var errs UserErrors
	reason = text(&errs, reason, true, 2000, "input", "reason")
	if err := errs.Err(); err != nil {
		return nil, err
	}
	if len(s.masterKey) == 0 {
		return nil, fmt.Errorf("rotate signing key: %w", ErrNoMasterKey)
	}
	var key *SigningKey
	err = s.store.Update(ctx, func(tx Tx) error {
		var err error
		_, key, err = s.newSigningKey(tx, tenantID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("rotate signing key: %w", err)
	}
	s.log.InfoContext(ctx, "ledger signing key rotated", "tenant", tenantID, "key", key.ID, "by", who.MemberID, "byName", who.MemberName, "reason", reason)
	return key, nil
}

// SigningKeys returns the tenant's key history, oldest first.
func (s *Service) SigningKeys(ctx context.Context) ([]*SigningKey, error) {
	return batch(ctx, s.store, "signing keys", func(tx Tx) ([]*SigningKey, error) { return tx.ListSigningKeys() })
}

// LedgerHead is the tenant log's size and its latest signed checkpoint.
type LedgerHead struct {
	Origin     string
	Size       int64
	Checkpoint *Checkpoint // nil until the first one is signed
}

// LedgerHead returns the caller's tenant log head.
func (s *Service) LedgerHead(ctx context.Context) (*LedgerHead, error) {
	tenantID, err := tenancy.TenantID(ctx)
	if err != nil {
		return nil, fmt.Errorf("ledger head: %w", err)
	}
	h := &LedgerHead{Origin: ledger.Origin(tenantID)}
	err = s.store.View(ctx, func(tx Tx) error {
		var err error
		if h.Size, err = tx.LedgerSize(); err != nil {
			return err
		}
		c, err := tx.LatestCheckpoint()
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		h.Checkpoint = c
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ledger head: %w", err)
	}
	return h, nil
}

// Checkpoints lists the tenant's signed checkpoints by tree size.
func (s *Service) Checkpoints(ctx context.Context, first *int, after string) (Page[*Checkpoint], error) {
	return list(ctx, s.store, "checkpoints", first, after, func(tx Tx, p PageRequest) ([]*Checkpoint, error) {
		return tx.ListCheckpoints(p)
	})
}

// Receipt returns the offline-verifiable receipt of a custody event: the
// event's leaf, its inclusion proof in a signed checkpoint that covers it
// (signing one now if none does yet) and, for a hand-off, the signature's
// hashes, image and consent text. nil when the event does not exist.
func (s *Service) Receipt(ctx context.Context, eventID string) (*ledger.Receipt, error) {
	tenantID, err := tenancy.TenantID(ctx)
	if err != nil {
		return nil, fmt.Errorf("receipt: %w", err)
	}
	var r *ledger.Receipt
	err = s.updateLedger(ctx, func(tx Tx) error {
		e, err := tx.GetEvent(eventID)
		if err != nil {
			return err
		}
		leaf, err := CanonicalEvent(e)
		if err != nil {
			return err
		}
		c, err := tx.CheckpointCovering(e.Seq)
		if errors.Is(err, ErrNotFound) {
			c, err = s.checkpoint(tx, tenantID)
		}
		if err != nil {
			return fmt.Errorf("checkpoint covering %d: %w", e.Seq, err)
		}
		proof, err := tlog.ProveRecord(c.TreeSize, e.Seq-1, hashReader(tx))
		if err != nil {
			return fmt.Errorf("prove record %d in tree %d: %w", e.Seq-1, c.TreeSize, err)
		}
		keys, err := tx.ListSigningKeys()
		if err != nil {
			return fmt.Errorf("signing keys: %w", err)
		}
		var verifierKey string
		for _, k := range keys {
			if k.ID == c.KeyID {
				verifierKey = k.VerifierKey
			}
		}
		var sig *ledger.ReceiptSignature
		if e.SignatureID != "" {
			sg, err := tx.GetSignature(e.SignatureID)
			if err != nil {
				return fmt.Errorf("load signature: %w", err)
			}
			sig = receiptSignature(sg)
		}
		r, err = ledger.BuildReceipt(e.Seq-1, leaf, c.TreeSize, proof, c.Note, ledger.Origin(tenantID), verifierKey, sig)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("receipt: %w", err)
	}
	return r, nil
}

// ConsistencyProof proves that the tree of size older is a prefix of the tree
// of size newer (the latest checkpoint when newer is 0), with both signed
// checkpoints, for an auditor who kept the older one.
func (s *Service) ConsistencyProof(ctx context.Context, older, newer int64) (proof tlog.TreeProof, from, to *Checkpoint, err error) {
	err = s.store.View(ctx, func(tx Tx) error {
		if to, err = tx.LatestCheckpoint(); errors.Is(err, ErrNotFound) {
			return &ArgumentError{Argument: "oldSize", Message: "no checkpoint has been signed yet"}
		} else if err != nil {
			return err
		}
		if newer != 0 {
			if to, err = tx.CheckpointCovering(newer); err != nil {
				return err
			}
			if to.TreeSize != newer {
				return &ArgumentError{Argument: "newSize", Message: "no checkpoint was signed at tree size " + strconv.FormatInt(newer, 10)}
			}
		}
		if older <= 0 || older > to.TreeSize {
			return &ArgumentError{Argument: "oldSize", Message: fmt.Sprintf("must be between 1 and %d", to.TreeSize)}
		}
		if from, err = tx.CheckpointCovering(older); err != nil {
			return err
		}
		if from.TreeSize != older {
			return &ArgumentError{Argument: "oldSize", Message: "no checkpoint was signed at tree size " + strconv.FormatInt(older, 10)}
		}
		proof, err = tlog.ProveTree(to.TreeSize, older, hashReader(tx))
		return err
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("consistency proof: %w", err)
	}
	return proof, from, to, nil
}

// Checkpointer signs tenants' checkpoints shortly after their logs grow, at
// most once per interval per tenant, so a burst of appends costs one
// signature. Receipts never wait for it: they sign on demand.
type Checkpointer struct {
	svc      *Service
	interval time.Duration
	mu       sync.Mutex
	pending  map[string]bool
	wake     chan struct{}
}

// NewCheckpointer returns a checkpointer for svc's tenants.
func NewCheckpointer(svc *Service, interval time.Duration) *Checkpointer {
	return &Checkpointer{svc: svc, interval: interval, pending: map[string]bool{}, wake: make(chan struct{}, 1)}
}

// Poke notes that tenantID's log grew.
func (c *Checkpointer) Poke(tenantID string) {
	c.mu.Lock()
	c.pending[tenantID] = true
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Run signs pending checkpoints until ctx ends, then signs what is still
// pending once more so a clean shutdown leaves every append checkpointed.
func (c *Checkpointer) Run(ctx context.Context) {
	tick := time.NewTicker(c.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			c.flush(context.WithoutCancel(ctx))
			return
		case <-tick.C:
			c.flush(ctx)
		}
	}
}

// flush signs one checkpoint per pending tenant.
func (c *Checkpointer) flush(ctx context.Context) {
	c.mu.Lock()
	tenants := c.pending
	c.pending = map[string]bool{}
	c.mu.Unlock()
	for t := range tenants {
		tctx := tenancy.WithPrincipal(ctx, tenancy.Principal{TenantID: t})
		if _, err := c.svc.SignCheckpoint(tctx); err != nil {
			c.svc.log.ErrorContext(ctx, "sign checkpoint", "tenant", t, "err", err)
			c.Poke(t)
		}
	}
}

// receiptSignature is what a receipt carries of a hand-off signature: its
// hashes (bound in the event's details), and the drawn image and consent text
// themselves so the holder can re-hash what they signed.
func receiptSignature(sg *Signature) *ledger.ReceiptSignature {
	return &ledger.ReceiptSignature{
		ID: sg.ID, TypedName: sg.TypedName, SignedAt: sg.SignedAt,
		ImageSha256: sg.ImageSHA256, ConsentSha256: sg.ConsentSHA256, ConsentVersion: sg.ConsentVersion,
		ImageFormat: sg.ImageType, Image: sg.Image, ConsentText: sg.ConsentText,
	}
}

// updateLedger runs fn in a write transaction, once more if a concurrent
// request created the tenant's first signing key at the same moment (the
// loser's transaction is aborted; on retry it finds the winner's key).
func (s *Service) updateLedger(ctx context.Context, fn func(tx Tx) error) error {
	err := s.store.Update(ctx, fn)
	var dup *DuplicateError
	if errors.As(err, &dup) && dup.Key == "activeSigningKey" {
		err = s.store.Update(ctx, fn)
	}
	return err
}

// LedgerVerification is the outcome of recomputing a tenant's whole log.
type LedgerVerification struct {
	OK                 bool
	TreeSize           int64
	EventsChecked      int64
	CheckpointsChecked int
	// FirstBadSeq is the sequence number of the first event that does not
	// match (0 when the problem is not about one event, or there is none).
	FirstBadSeq int64
	Problem     string
}

// verifyChunk is how many events are re-encoded between two reads of stored
// hashes, so memory stays bounded whatever the log's size.
const verifyChunk = 5000

// errChunkDone stops a scan at the end of a chunk.
var errChunkDone = errors.New("chunk done")

// VerifyLedger recomputes the caller's tenant log from its stored events:
// every event is re-encoded and hashed, the Merkle tree rebuilt and compared
// with every stored hash and every signed checkpoint (verified against the
// tenant's key history). It reports the first event that does not match.
func (s *Service) VerifyLedger(ctx context.Context) (*LedgerVerification, error) {
	tenantID, err := tenancy.TenantID(ctx)
	if err != nil {
		return nil, fmt.Errorf("verify ledger: %w", err)
	}
	out := &LedgerVerification{}
	err = s.store.View(ctx, func(tx Tx) error {
		if out.TreeSize, err = tx.LedgerSize(); err != nil {
			return err
		}
		keys, err := tx.ListSigningKeys()
		if err != nil {
			return err
		}
		verifiers := make([]string, len(keys))
		for i, k := range keys {
			verifiers[i] = k.VerifierKey
		}
		a := ledger.NewAuditor(ledger.Origin(tenantID), verifiers...)
		for after := ""; ; {
			page, err := tx.ListCheckpoints(PageRequest{First: MaxPageSize, After: after})
			if err != nil {
				return err
			}
			for _, c := range page {
				if err := a.AddCheckpoint(c.Note); err != nil {
					return fmt.Errorf("checkpoint %d: %w", c.TreeSize, err)
				}
			}
			if len(page) < MaxPageSize {
				break
			}
			after = strconv.FormatInt(page[len(page)-1].TreeSize, 10)
		}
		var seq, hashes int64
		for {
			n, last := 0, seq
			err := tx.ScanEvents(seq, func(e *CustodyEvent) error {
				leaf, err := CanonicalEvent(e)
				if err != nil {
					return err
				}
				a.AddLeaf(e.Seq-1, leaf)
				last = e.Seq
				if n++; n == verifyChunk {
					return errChunkDone
				}
				return nil
			})
			if err != nil && !errors.Is(err, errChunkDone) {
				return fmt.Errorf("scan events after %d: %w", seq, err)
			}
			if err := feedHashes(tx, a, &hashes, tlog.StoredHashCount(last)); err != nil {
				return err
			}
			seq = last
			if n < verifyChunk {
				break
			}
		}
		// Stored hashes beyond the last event are themselves a finding.
		if err := feedHashes(tx, a, &hashes, -1); err != nil {
			return err
		}
		res := a.Finish(out.TreeSize)
		out.EventsChecked, out.CheckpointsChecked, out.OK = res.Leaves, res.CheckpointsVerified, res.OK()
		if f := res.Failure; f != nil {
			out.FirstBadSeq, out.Problem = max(f.Seq(), 0), f.Error()
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("verify ledger: %w", err)
	}
	return out, nil
}

// feedHashes streams stored hashes from *next up to (not including) until
// (-1: to the end) into a.
func feedHashes(tx Tx, a *ledger.Auditor, next *int64, until int64) error {
	if until >= 0 && *next >= until {
		return nil
	}
	err := tx.ScanHashes(*next, func(i int64, h tlog.Hash) error {
		if until >= 0 && i >= until {
			return errChunkDone
		}
		a.AddStoredHash(i, h)
		*next = i + 1
		return nil
	})
	if err != nil && !errors.Is(err, errChunkDone) {
		return fmt.Errorf("scan stored hashes from %d: %w", *next, err)
	}
	return nil
}
