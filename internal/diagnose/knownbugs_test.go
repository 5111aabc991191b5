package diagnose

import (
	"testing"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/causes"
)

// knownBugCases fire and quiet each row of the version table: a firing
// case (a version in range, the signature seen) and quiet ones (a version
// outside the range; the signature absent).
var knownBugCases = []struct {
	name    string
	row     int // index in knownBugs
	version string
	lines   []string
	fires   bool
}{
	{"1.102.0 denies ingress", 0, "v1.102.0", []string{sampleDenied}, true},
	{"1.102.1 denies ingress", 0, "v1.102.1", []string{sampleDenied}, true},
	{"1.102.2 denies ingress: fixed", 0, "v1.102.2", []string{sampleDenied}, false},
	{"1.101.9 denies ingress: before", 0, "v1.101.9", []string{sampleDenied}, false},
	{"1.102.1 without denials", 0, "v1.102.1", []string{relayDrop(relayLong, 46650)}, false},
}

func TestKnownBugs(t *testing.T) {
	fires, quiet := map[int]bool{}, map[int]bool{}
	for _, tc := range knownBugCases {
		t.Run(tc.name, func(t *testing.T) {
			a := withLog(endpoint("default", "app", "app", "app"), append([]string{programStarting(tc.version)}, tc.lines...)...)
			got := KnownBugsOf(a.Logs)
			matched := false
			for _, m := range got {
				if m.Bug.Name == knownBugs[tc.row].Name {
					matched = true
				}
			}
			if matched != tc.fires {
				t.Errorf("row %d matched %v, want %v", tc.row, matched, tc.fires)
			}
			if tc.fires {
				fires[tc.row] = true
			} else {
				quiet[tc.row] = true
			}
		})
	}
	for i, b := range knownBugs {
		if !fires[i] || !quiet[i] {
			t.Errorf("row %d (%s): a firing case %v, a quiet case %v", i, b.Name, fires[i], quiet[i])
		}
		if _, ok := causes.Lookup(b.Cause); !ok || len(b.Reports) == 0 || b.First.Compare(b.Last) > 0 || b.Last.Compare(b.FixedIn) >= 0 {
			t.Errorf("row %d is incomplete or its range is wrong: %+v", i, b)
		}
	}
}
