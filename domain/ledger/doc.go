// Package ledger is the cryptographic core of Custody's tamper-evident
// custody log: per-tenant RFC 6962 Merkle trees (golang.org/x/mod/sumdb/tlog),
// checkpoints signed as C2SP signed notes with Ed25519
// (golang.org/x/mod/sumdb/note), sealed signing keys, offline receipts,
// consistency proofs and a streaming auditor that recomputes a whole log.
//
// It works on bytes, hashes and strings only. It imports no storage, no
// GraphQL and not package domain, so the offline verifier can run with
// nothing but a tenant's public key: a leaf is whatever bytes the caller
// logged (in Custody, domain.CanonicalEvent), and this package reads from a
// leaf only the few canonical fields it must check (v, tenant, seq, details).
//
// Every error names the check that failed; the sentinel errors below let a
// caller classify failures with errors.Is.
package ledger

import "errors"

// Classes of verification failure. Errors returned by this package wrap one of
// them (with the precise reason in the message) when the failure is about
// the evidence rather than about the caller's arguments.
var (
	// ErrUnknownKey: a checkpoint is not signed by any of the trusted keys.
	ErrUnknownKey = errors.New("checkpoint signed by an unknown key")
	// ErrBadSignature: a trusted key's signature does not verify, so the
	// checkpoint text or its signature was altered.
	ErrBadSignature = errors.New("checkpoint signature is invalid")
	// ErrMalformedCheckpoint: the signed note or its checkpoint body cannot be parsed.
	ErrMalformedCheckpoint = errors.New("malformed checkpoint")
	// ErrWrongOrigin: the evidence is about another log (another tenant).
	ErrWrongOrigin = errors.New("wrong log origin")
	// ErrMalformedReceipt: a receipt document is not a well-formed custody-receipt/v1.
	ErrMalformedReceipt = errors.New("malformed receipt")
	// ErrProofMismatch: an inclusion proof does not lead to the checkpoint root.
	ErrProofMismatch = errors.New("inclusion proof does not match the checkpoint root")
	// ErrLeafModified: the logged event bytes (or the copy shown beside them) were changed.
	ErrLeafModified = errors.New("leaf was modified")
	// ErrSignatureMismatch: a receipt's signature evidence (hashes, image,
	// consent text) does not match what the logged event recorded.
	ErrSignatureMismatch = errors.New("signature evidence does not match the event")
	// ErrInconsistent: a newer checkpoint does not extend an older one, so the
	// log was rewritten (or the consistency proof is wrong).
	ErrInconsistent = errors.New("checkpoints are not consistent")
)
