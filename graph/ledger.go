package graph

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/ledger"
	"github.com/custody-dev/custody/graph/model"
)

// ReceiptPath is where a receipt file is served for an event's global id
// (graph/server serves it with the same authentication as /graphql).
func ReceiptPath(eventGlobalID string) string { return "/receipts/" + eventGlobalID }

// rootHash shows a checkpoint's Merkle root as base64, as in its note.
func rootHash(c *domain.Checkpoint) string { return base64.StdEncoding.EncodeToString(c.RootHash[:]) }

func checkpointConnection(page domain.Page[*domain.Checkpoint]) *model.CheckpointConnection {
	edges, info := connection(page,
		func(c *domain.Checkpoint) string {
			return encodeCursor(listCheckpoints, strconv.FormatInt(c.TreeSize, 10))
		},
		func(cur string, c *domain.Checkpoint) *model.CheckpointEdge {
			return &model.CheckpointEdge{Cursor: cur, Node: c}
		})
	return &model.CheckpointConnection{Edges: edges, PageInfo: info}
}

// receiptOf renders a receipt for GraphQL: the document as `custody verify`
// reads it, and its headline facts.
func receiptOf(eventGlobalID string, r *ledger.Receipt) (*model.Receipt, error) {
	doc, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode receipt: %w", err)
	}
	return &model.Receipt{JSON: string(doc), LeafIndex: int(r.LeafIndex), TreeSize: int(r.TreeSize),
		Checkpoint: r.Checkpoint, DownloadPath: ReceiptPath(eventGlobalID)}, nil
}

func consistencyOf(proof tlog.TreeProof, from, to *domain.Checkpoint) *model.LedgerConsistency {
	hashes := make([]string, len(proof))
	for i, h := range proof {
		hashes[i] = base64.StdEncoding.EncodeToString(h[:])
	}
	return &model.LedgerConsistency{OldCheckpoint: string(from.Note), NewCheckpoint: string(to.Note),
		OldSize: int(from.TreeSize), NewSize: int(to.TreeSize), Proof: hashes}
}

func correctionInput(in model.CustodyEventCorrectInput) (domain.CorrectionInput, error) {
	var d ids
	out := domain.CorrectionInput{
		EventID: d.one(typeCustodyEvent, in.EventID, "custody event", "input", "eventId"),
		Reason:  in.Reason, IdempotencyKey: str(in.IdempotencyKey), Facts: map[string]string{},
	}
	for i, f := range in.Facts {
		if _, dup := out.Facts[f.Key]; dup {
			d.errs.Add(domain.CodeInvalid, "fact named twice", "input", "facts", strconv.Itoa(i))
		}
		out.Facts[f.Key] = f.Value
	}
	return out, d.errs.Err()
}
