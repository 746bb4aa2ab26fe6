package domain

import (
	"slices"
	"testing"
	"time"
)

func TestTopics(t *testing.T) {
	tests := []struct {
		name string
		e    CustodyEvent
		want []Topic
	}{
		{"asset event", CustodyEvent{AssetID: "a", ParcelID: "p", Type: EventHandedOff}, []Topic{TopicCustody}},
		{"parcel event", CustodyEvent{ParcelID: "p", Type: EventParcelReceived}, []Topic{TopicCustody}},
		{"return parcel received", CustodyEvent{ParcelID: "p", Type: EventParcelReceived, Details: map[string]string{"case": "c"}},
			[]Topic{TopicCustody, TopicOffboarding}},
		{"return toward a case", CustodyEvent{AssetID: "a", Type: EventReturnReceived, Details: map[string]string{"case": "c"}},
			[]Topic{TopicCustody, TopicReturns, TopicOffboarding}},
		{"unmatched return", CustodyEvent{AssetID: "a", Type: EventReturnReceived, Details: map[string]string{"unmatched": "yes"}},
			[]Topic{TopicCustody, TopicReturns}},
		{"case opened", CustodyEvent{Type: EventOffboardingOpened, Details: map[string]string{"case": "c"}}, []Topic{TopicOffboarding}},
		// The type alone makes a case-level event HR's, whatever its details.
		{"case completed without details", CustodyEvent{Type: EventOffboardingCompleted}, []Topic{TopicOffboarding}},
		{"retention approved", CustodyEvent{AssetID: "a", Type: EventRetentionApproved, Details: map[string]string{"case": "c"}},
			[]Topic{TopicCustody, TopicOffboarding}},
		{"event about nothing", CustodyEvent{Type: EventCorrection}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Topics(&tc.e); !slices.Equal(got, tc.want) {
				t.Errorf("Topics = %v; want %v", got, tc.want)
			}
		})
	}
}

func TestFollowFilterMatches(t *testing.T) {
	var (
		returned   = &CustodyEvent{AssetID: "a1", Type: EventReturnReceived, Details: map[string]string{"case": "c1"}}
		serialized = &CustodyEvent{AssetID: "a2", ParcelID: "p1", Type: EventSerialized}
		opened     = &CustodyEvent{Type: EventOffboardingOpened, Details: map[string]string{"case": "c1", "person": "x"}}
		nowhere    = &CustodyEvent{Type: EventCorrection, Details: map[string]string{"corrects": "e1"}}
	)
	may := func(ts ...Topic) func(Topic) bool { return func(t Topic) bool { return slices.Contains(ts, t) } }
	all := may(AllTopics...)
	tests := []struct {
		name string
		f    FollowFilter
		e    *CustodyEvent
		want bool
	}{
		{"admin hears custody", FollowFilter{May: all}, serialized, true},
		{"admin hears cases", FollowFilter{May: all}, opened, true},
		{"HR hears a case opening", FollowFilter{May: may(TopicOffboarding)}, opened, true},
		{"HR hears a return toward a case", FollowFilter{May: may(TopicOffboarding)}, returned, true},
		{"HR does not hear serialization", FollowFilter{May: may(TopicOffboarding)}, serialized, false},
		{"returns topic hears the return", FollowFilter{May: may(TopicReturns)}, returned, true},
		{"returns topic does not hear the case", FollowFilter{May: may(TopicReturns)}, opened, false},
		{"no topic hears nothing", FollowFilter{May: may()}, returned, false},
		{"an event in no topic reaches no one", FollowFilter{May: all}, nowhere, false},
		{"type asked", FollowFilter{Types: []EventType{EventOffboardingOpened}, May: all}, opened, true},
		{"type not asked", FollowFilter{Types: []EventType{EventOffboardingOpened}, May: all}, returned, false},
		{"case asked", FollowFilter{CaseID: "c1", May: all}, returned, true},
		{"case-level event of the case", FollowFilter{CaseID: "c1", May: all}, opened, true},
		{"another case", FollowFilter{CaseID: "c2", May: all}, returned, false},
		{"no case on the event", FollowFilter{CaseID: "c1", May: all}, serialized, false},
		{"asset asked", FollowFilter{AssetID: "a1", May: all}, returned, true},
		{"asset asked, case-level event", FollowFilter{AssetID: "a1", May: all}, opened, false},
		// Asking for a case does not grant its topic.
		{"case asked but its topic denied", FollowFilter{CaseID: "c1", May: may(TopicCustody)}, opened, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.f.matches(tc.e); got != tc.want {
				t.Errorf("matches = %v; want %v", got, tc.want)
			}
		})
	}
}

func TestCaseStatus(t *testing.T) {
	due := time.Date(2025, 7, 14, 0, 0, 0, 0, time.UTC)
	done := due.AddDate(0, 0, -3)
	open := &OffboardingCase{State: CaseOpen, DueDate: due}
	completed := &OffboardingCase{State: CaseCompleted, DueDate: due, CompletedAt: &done}
	tests := []struct {
		name string
		c    *OffboardingCase
		now  time.Time
		want CaseStatus
	}{
		{"before the due day", open, due.Add(-time.Second), CaseStatusOpen},
		{"start of the due day", open, due, CaseStatusOpen},
		{"end of the due day", open, due.Add(24*time.Hour - time.Nanosecond), CaseStatusOpen},
		{"day after", open, due.AddDate(0, 0, 1), CaseStatusOverdue},
		// 01:00 at UTC+2 is still the due day in UTC.
		{"due day in UTC, next day locally", open, time.Date(2025, 7, 15, 1, 0, 0, 0, time.FixedZone("UTC+2", 2*3600)), CaseStatusOpen},
		{"completed, long overdue", completed, due.AddDate(1, 0, 0), CaseStatusCompleted},
		{"completed before due", completed, done, CaseStatusCompleted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.Status(tc.now); got != tc.want {
				t.Errorf("Status(%s) = %s; want %s", tc.now, got, tc.want)
			}
		})
	}
}
