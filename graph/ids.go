package graph

import (
	"encoding/base64"
	"strings"

	"github.com/google/uuid"
)

// Node type names, as they appear in global ids and in the schema.
const (
	typeAsset        = "Asset"
	typeParcel       = "Parcel"
	typePerson       = "Person"
	typeSignature    = "Signature"
	typeCustodyEvent = "CustodyEvent"
	typeMember       = "Member"
	typeTenant       = "Tenant"
	// typeOffboardingCase and typeAssetReturn: off-boarding.
	typeOffboardingCase = "OffboardingCase"
	typeAssetReturn     = "AssetReturn"
	// typeVendor: ITAD disposition.
	typeVendor      = "Vendor"
	typePickupOrder = "PickupOrder"
	typeCertificate = "Certificate"
)

// globalTypes are the types whose ids EncodeID and DecodeID accept.
var globalTypes = map[string]bool{
	typeAsset: true, typeParcel: true, typePerson: true, typeSignature: true,
	typeCustodyEvent: true, typeMember: true, typeTenant: true,
	typeOffboardingCase: true, typeAssetReturn: true, typeVendor: true,
	typePickupOrder: true, typeCertificate: true,
}

// EncodeID returns the opaque global id of the record of type typeName
// (a schema type such as "Asset") with the database id id: the URL-safe,
// unpadded base64 of "Type:uuid".
func EncodeID(typeName, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(typeName + ":" + id))
}

// DecodeID parses a global id into its type name and database id (a UUID in
// canonical form). ok is false for anything EncodeID could not have produced
// for a known type. Standard and padded base64 are accepted too, since
// clients sometimes re-encode ids.
func DecodeID(gid string) (typeName, id string, ok bool) {
	if gid == "" || len(gid) > 128 {
		return "", "", false
	}
	s := strings.NewReplacer("+", "-", "/", "_").Replace(strings.TrimRight(gid, "="))
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return "", "", false
	}
	typeName, rest, found := strings.Cut(string(raw), ":")
	if !found || !globalTypes[typeName] {
		return "", "", false
	}
	u, err := uuid.Parse(rest)
	if err != nil || len(rest) != 36 {
		return "", "", false
	}
	return typeName, u.String(), true
}

// idOf returns the database id in gid when gid names a record of type want.
func idOf(want, gid string) (string, bool) {
	typeName, id, ok := DecodeID(gid)
	if !ok || typeName != want {
		return "", false
	}
	return id, true
}
