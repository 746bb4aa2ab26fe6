package domain

import "testing"

// TestClassifyScan: every way a scan can compare with a manifest.
func TestClassifyScan(t *testing.T) {
	lines := []*PickupLine{
		{AssetID: "a1", Serial: "S1", AssetTag: "T1", Model: "X1", Status: LineStaged},
		{AssetID: "a2", Serial: "S2", AssetTag: "T2", Model: "X1", Status: LineStaged},
		{AssetID: "a3", AssetTag: "T3", Model: "U27", Status: LineStaged}, // tag only
		{AssetID: "a4", Serial: "S4", Model: "X1", Status: LineStaged},    // serial only
		{AssetID: "a5", Serial: "S5", AssetTag: "T5", Model: "X1", Status: LineRemoved},
	}
	tests := []struct {
		name       string
		scans      []PickupScan // earlier scans of the same call first
		want       ScanResult
		wantLine   string
		serialOf   map[string]string // other assets of the tenant
		tagOf      map[string]string
		detailSays string
	}{
		{name: "serial", scans: []PickupScan{{Serial: "S1"}}, want: ScanMatched, wantLine: "a1"},
		{name: "tag", scans: []PickupScan{{AssetTag: "T1"}}, want: ScanMatched, wantLine: "a1"},
		{name: "both", scans: []PickupScan{{Serial: "S1", AssetTag: "T1", Model: "x1"}}, want: ScanMatched, wantLine: "a1"},
		{name: "twice", scans: []PickupScan{{Serial: "S1"}, {AssetTag: "T1"}}, want: ScanDuplicate, wantLine: "a1"},
		{name: "serial of one, tag of another", scans: []PickupScan{{Serial: "S1", AssetTag: "T2"}}, want: ScanSubstituted, wantLine: "a1"},
		{name: "tag matches, serial differs", scans: []PickupScan{{Serial: "S9", AssetTag: "T1"}}, want: ScanSubstituted, wantLine: "a1"},
		{name: "serial matches, tag differs", scans: []PickupScan{{Serial: "S1", AssetTag: "T9"}}, want: ScanSubstituted, wantLine: "a1"},
		{name: "model differs", scans: []PickupScan{{Serial: "S2", Model: "T14"}}, want: ScanSubstituted, wantLine: "a2"},
		{name: "unknown", scans: []PickupScan{{Serial: "S9"}}, want: ScanUnexpected},
		{name: "removed line", scans: []PickupScan{{Serial: "S5"}}, want: ScanUnexpected},
		{name: "tag-only line, unknown serial", scans: []PickupScan{{Serial: "S9", AssetTag: "T3"}}, want: ScanMatched, wantLine: "a3"},
		{name: "tag-only line, another asset's serial", scans: []PickupScan{{Serial: "S8", AssetTag: "T3"}},
			serialOf: map[string]string{"S8": "a8"}, want: ScanSubstituted, wantLine: "a3"},
		{name: "serial-only line, another asset's tag", scans: []PickupScan{{Serial: "S4", AssetTag: "T8"}},
			tagOf: map[string]string{"T8": "a8"}, want: ScanSubstituted, wantLine: "a4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newManifest(lines, PhaseCount)
			for k, v := range tc.serialOf {
				m.serialOwner[k] = v
			}
			for k, v := range tc.tagOf {
				m.tagOwner[k] = v
			}
			var last PickupScan
			for _, sc := range tc.scans {
				last = sc
				m.classify(&last)
			}
			if last.Result != tc.want || last.LineAssetID != tc.wantLine {
				t.Fatalf("result %s line %q (%s), want %s line %q", last.Result, last.LineAssetID, last.Detail, tc.want, tc.wantLine)
			}
			if tc.want == ScanSubstituted && last.Detail == "" {
				t.Fatal("a substitution without a detail")
			}
		})
	}
}
