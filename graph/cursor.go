package graph

import (
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/custody-dev/custody/domain"
)

// A cursor is the unpadded URL-safe base64 of "list|key": the list it belongs
// to (the node type) and the keyset position the store understands (an id, or
// a log sequence number for custody events). Naming the list lets a cursor of
// one list be refused by another instead of silently paging wrong.

// encodeCursor returns the opaque cursor of key in list.
func encodeCursor(list, key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(list + "|" + key))
}

// decodeCursor returns the keyset position in an `after` argument of list,
// "" when after is absent, or a BAD_USER_INPUT error when it is not a cursor
// of list.
func decodeCursor(list string, after *string) (string, error) {
	if after == nil || *after == "" {
		return "", nil
	}
	bad := &domain.ArgumentError{Argument: "after", Message: "is not a cursor of this list"}
	raw, err := base64.RawURLEncoding.DecodeString(*after)
	if err != nil {
		return "", bad
	}
	name, key, ok := strings.Cut(string(raw), "|")
	if !ok || name != list || !validCursorKey(list, key) {
		return "", bad
	}
	return key, nil
}

// listCheckpoints names the checkpoint list in cursors (checkpoints are not
// nodes: they page by tree size).
const listCheckpoints = "Checkpoint"

// listSLABreaches names the list of SLA breaches in cursors (breaches are
// not nodes; they page by id).
const listSLABreaches = "SLABreach"

// validCursorKey checks a key before it reaches SQL: custody events page by
// sequence number, checkpoints by tree size, every other list by UUID.
func validCursorKey(list, key string) bool {
	if list == typeCustodyEvent || list == listCheckpoints {
		n, err := strconv.ParseInt(key, 10, 64)
		return err == nil && n >= 0 && strconv.FormatInt(n, 10) == key
	}
	u, err := uuid.Parse(key)
	return err == nil && u.String() == key
}
