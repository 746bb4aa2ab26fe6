package domain

import (
	"errors"
	"testing"
)

func TestNext(t *testing.T) {
	tests := []struct {
		from  AssetState
		event EventType
		want  AssetState // "" means illegal
	}{
		{StateSerialized, EventRecipientNotified, StateAwaitingCollection},
		{StateAwaitingCollection, EventHandedOff, StateDeployed},
		{StateDeployed, EventReturnReceived, StateReturnReceived},
		{StateReturnReceived, EventRestocked, StateInStock},
		{StateReturnReceived, EventRetired, StateRetired},
		{StateInStock, EventRedeployNotified, StateAwaitingCollection},
		{StateRetired, EventStaged, StateStaged},
		{StateStaged, EventPickedUp, StatePickedUp},
		{StatePickedUp, EventArrivedAtVendor, StateAtVendor},
		{StateAtVendor, EventSanitized, StateSanitized},
		{StateAtVendor, EventDestroyed, StateDestroyed},
		{StateSanitized, EventRemarketed, StateRemarketed},
		{StateDestroyed, EventClosed, StateClosed},
		{StateDeployed, EventReportedLost, StateLost},
		{StateStaged, EventReportedStolen, StateStolen},
		{StateLost, EventFound, StateInStock},
		// Illegal: the hand-off of an asset that was never announced, twice, or closed.
		{StateSerialized, EventHandedOff, ""},
		{StateDeployed, EventHandedOff, ""},
		{StateClosed, EventHandedOff, ""},
		{StateDeployed, EventRecipientNotified, ""},
		{StateClosed, EventReportedLost, ""},
		{StateInStock, EventFound, ""},
		{StateAwaitingCollection, EventReturnReceived, ""},
	}
	for _, tt := range tests {
		t.Run(string(tt.from)+"/"+string(tt.event), func(t *testing.T) {
			got, err := Next(tt.from, tt.event)
			if tt.want == "" {
				var ill *IllegalTransitionError
				if !errors.As(err, &ill) {
					t.Fatalf("Next = %s, %v; want IllegalTransitionError", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Next = %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func TestEveryStateIsReachable(t *testing.T) {
	reached := map[AssetState]bool{StateSerialized: true}
	for tr, to := range lifecycle {
		if !tr.from.Valid() || !to.Valid() {
			t.Fatalf("transition %v -> %s uses an unknown state", tr, to)
		}
		reached[to] = true
	}
	for _, s := range AllAssetStates {
		if !reached[s] {
			t.Errorf("state %s is unreachable", s)
		}
	}
}
