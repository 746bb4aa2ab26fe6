package domain

import (
	"fmt"
	"slices"
)

// AssetState is where an asset stands in its chain of custody.
type AssetState string

// The lifecycle of one asset (DESIGN.md). A parcel is RECEIVED at the dock;
// its assets are born SERIALIZED.
const (
	StateSerialized         AssetState = "SERIALIZED"
	StateAwaitingCollection AssetState = "AWAITING_COLLECTION"
	StateDeployed           AssetState = "DEPLOYED"
	StateReturnReceived     AssetState = "RETURN_RECEIVED"
	StateInStock            AssetState = "IN_STOCK"
	StateRetired            AssetState = "RETIRED"
	StateStaged             AssetState = "STAGED"
	StatePickedUp           AssetState = "PICKED_UP"
	StateAtVendor           AssetState = "AT_VENDOR"
	StateSanitized          AssetState = "SANITIZED"
	StateDestroyed          AssetState = "DESTROYED"
	StateRemarketed         AssetState = "REMARKETED"
	StateRecycled           AssetState = "RECYCLED"
	StateClosed             AssetState = "CLOSED"
	StateLost               AssetState = "LOST"
	StateStolen             AssetState = "STOLEN"
)

// AllAssetStates lists every state, in lifecycle order.
var AllAssetStates = []AssetState{
	StateSerialized, StateAwaitingCollection, StateDeployed, StateReturnReceived,
	StateInStock, StateRetired, StateStaged, StatePickedUp, StateAtVendor,
	StateSanitized, StateDestroyed, StateRemarketed, StateRecycled, StateClosed,
	StateLost, StateStolen,
}

// Valid reports whether s is a known state.
func (s AssetState) Valid() bool {
	for _, k := range AllAssetStates {
		if k == s {
			return true
		}
	}
	return false
}

// EventType names a custody event. Every state change appends exactly one.
type EventType string

// Custody event types.
const (
	EventParcelReceived    EventType = "PARCEL_RECEIVED"
	EventSerialized        EventType = "SERIALIZED"
	EventRecipientNotified EventType = "RECIPIENT_NOTIFIED"
	EventHandedOff         EventType = "HANDED_OFF"
	EventReturnReceived    EventType = "RETURN_RECEIVED"
	EventRestocked         EventType = "RESTOCKED"
	EventRedeployNotified  EventType = "REDEPLOY_NOTIFIED"
	EventRetired           EventType = "RETIRED"
	EventStaged            EventType = "STAGED"
	EventPickedUp          EventType = "PICKED_UP"
	EventArrivedAtVendor   EventType = "ARRIVED_AT_VENDOR"
	EventSanitized         EventType = "SANITIZED"
	EventDestroyed         EventType = "DESTROYED"
	EventRemarketed        EventType = "REMARKETED"
	EventRecycled          EventType = "RECYCLED"
	EventClosed            EventType = "CLOSED"
	EventReportedLost      EventType = "REPORTED_LOST"
	EventReportedStolen    EventType = "REPORTED_STOLEN"
	EventFound             EventType = "FOUND"
	// EventCorrection corrects the record of an earlier event (details
	// "corrects" = its id, "reason"): the log is never rewritten, so a
	// mistake is fixed by a new event that points at it. It changes no state.
	EventCorrection EventType = "CORRECTION"
	// EventOffboardingOpened and EventOffboardingCompleted are case-level
	// events (no asset; details "case", "person" and dates): HR hears them.
	EventOffboardingOpened    EventType = "OFFBOARDING_OPENED"
	EventOffboardingCompleted EventType = "OFFBOARDING_COMPLETED"
	// EventRetentionApproved records that a departing holder keeps an asset
	// with someone's approval (details "case", "reason", "approvedBy"). It
	// changes no state: the asset stays DEPLOYED to them.
	EventRetentionApproved EventType = "RETENTION_APPROVED"
	// EventUnstaged takes a STAGED asset off its pickup order (details
	// "order", "vendor", "reason"): it is RETIRED again.
	EventUnstaged EventType = "UNSTAGED"
	// EventPickupDiscrepancy records a scan at the dock or at receipt that
	// did not match the manifest, or a line found missing (no asset;
	// details "order", "vendor", "phase", "result", "scan" or "line",
	// "serial", "assetTag", "detail"): IT hears it live.
	EventPickupDiscrepancy EventType = "PICKUP_DISCREPANCY"
	// EventDiscrepancyResolved records IT's decision about one (no asset;
	// details "order", "phase", "scan" or "line", "action", "reason").
	EventDiscrepancyResolved EventType = "DISCREPANCY_RESOLVED"
	// EventCertificateIssued seals a certificate of sanitization and
	// destruction (no asset; details "order", "vendor", "certificate",
	// "number", "digest", "lines").
	EventCertificateIssued EventType = "CERTIFICATE_ISSUED"
	// EventSLABreached announces that a record overstayed a stage's window
	// (no asset; details "stage", "subjectKind", "subject", "since", "dueAt",
	// and "case" for an off-boarding case).
	EventSLABreached EventType = "SLA_BREACHED"
	// EventExported records that someone exported records of the tenant (no
	// asset; details "export", "profile" and the filter): an access event,
	// so auditors see who took what out of the system. No one hears it live.
	EventExported EventType = "EXPORTED"
	// EventImported records an asset that Custody first learnt of from an
	// ITAM import (asset-level, no parcel, no from state; details "source",
	// "itamRef" and the asset's identifying facts): IN_STOCK at a location
	// named after the source, or DEPLOYED to the person the ITAM system
	// assigns it to, with "assignedInITAM" = "true" to say that no signed
	// hand-off exists. Imports never move an asset Custody already holds.
	EventImported EventType = "IMPORTED"
)

// AllEventTypes lists every event type.
var AllEventTypes = []EventType{
	EventParcelReceived, EventSerialized, EventRecipientNotified, EventHandedOff,
	EventReturnReceived, EventRestocked, EventRedeployNotified, EventRetired, EventStaged,
	EventPickedUp, EventArrivedAtVendor, EventSanitized, EventDestroyed, EventRemarketed,
	EventRecycled, EventClosed, EventReportedLost, EventReportedStolen, EventFound,
	EventCorrection, EventOffboardingOpened, EventOffboardingCompleted,
	EventRetentionApproved, EventUnstaged, EventPickupDiscrepancy, EventDiscrepancyResolved,
	EventCertificateIssued, EventSLABreached, EventExported, EventImported,
}

// Valid reports whether t is a known event type.
func (t EventType) Valid() bool { return slices.Contains(AllEventTypes, t) }

// transition is one edge of the lifecycle graph.
type transition struct {
	from  AssetState
	event EventType
}

// custodyStates are the states in which someone (a location, a person or a
// vendor) holds the asset, so it can be reported lost or stolen.
var custodyStates = []AssetState{
	StateSerialized, StateAwaitingCollection, StateDeployed, StateReturnReceived,
	StateInStock, StateRetired, StateStaged, StatePickedUp, StateAtVendor,
}

// lifecycle maps (from, event) to the state the event leads to. Anything not
// listed is an illegal transition. FOUND is handled separately: it returns a
// lost or stolen asset to stock.
var lifecycle = func() map[transition]AssetState {
	m := map[transition]AssetState{
		{StateSerialized, EventRecipientNotified}: StateAwaitingCollection,
		{StateAwaitingCollection, EventHandedOff}: StateDeployed,
		{StateDeployed, EventReturnReceived}:      StateReturnReceived,
		{StateReturnReceived, EventRestocked}:     StateInStock,
		{StateReturnReceived, EventRetired}:       StateRetired,
		{StateInStock, EventRedeployNotified}:     StateAwaitingCollection,
		{StateInStock, EventRetired}:              StateRetired,
		{StateSerialized, EventRetired}:           StateRetired,
		{StateRetired, EventStaged}:               StateStaged,
		{StateStaged, EventUnstaged}:              StateRetired,
		{StateStaged, EventPickedUp}:              StatePickedUp,
		{StatePickedUp, EventArrivedAtVendor}:     StateAtVendor,
		{StateAtVendor, EventSanitized}:           StateSanitized,
		{StateAtVendor, EventDestroyed}:           StateDestroyed,
		{StateSanitized, EventRemarketed}:         StateRemarketed,
		{StateSanitized, EventDestroyed}:          StateDestroyed,
		// An asset that bears no data reaches its outcome unsanitized.
		{StateAtVendor, EventRemarketed}: StateRemarketed,
		{StateSanitized, EventRecycled}:  StateRecycled,
		{StateAtVendor, EventRecycled}:   StateRecycled,
		{StateSanitized, EventClosed}:    StateClosed,
		{StateDestroyed, EventClosed}:    StateClosed,
		{StateRemarketed, EventClosed}:   StateClosed,
		{StateRecycled, EventClosed}:     StateClosed,
		// A lost or stolen asset handed back is received like any return.
		{StateLost, EventReturnReceived}:   StateReturnReceived,
		{StateStolen, EventReturnReceived}: StateReturnReceived,
		{StateLost, EventFound}:            StateInStock,
		{StateStolen, EventFound}:          StateInStock,
	}
	for _, s := range custodyStates {
		m[transition{s, EventReportedLost}] = StateLost
		m[transition{s, EventReportedStolen}] = StateStolen
	}
	return m
}()

// Next returns the state that event leads to from state from, or an
// *IllegalTransitionError when the lifecycle does not allow it.
func Next(from AssetState, event EventType) (AssetState, error) {
	if to, ok := lifecycle[transition{from, event}]; ok {
		return to, nil
	}
	return "", &IllegalTransitionError{From: from, Event: event}
}

// IllegalTransitionError reports an event the asset's current state does not allow.
type IllegalTransitionError struct {
	From  AssetState
	Event EventType
}

// Error says which state refused which event.
func (e *IllegalTransitionError) Error() string {
	return fmt.Sprintf("an asset in state %s cannot be %s", e.From, eventVerb(e.Event))
}

// eventVerb words an event type for error messages.
func eventVerb(e EventType) string {
	switch e {
	case EventRecipientNotified:
		return "announced to its recipient (it must be SERIALIZED)"
	case EventHandedOff:
		return "handed off (it must be AWAITING_COLLECTION: received, serialized and its recipient notified)"
	case EventReturnReceived:
		return "received back (it must be DEPLOYED, LOST or STOLEN)"
	default:
		return "moved by event " + string(e)
	}
}
