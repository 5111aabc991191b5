package proxymetrics

import "testing"

func TestTotalsObserve(t *testing.T) {
	acl := func(v float64) Drops { return drops(map[string]float64{"inbound/acl": v}) }
	tests := []struct {
		name       string
		reads      []Drops
		wantACL    float64
		wantResets int
	}{
		{"first read is tailscaled's count", []Drops{acl(5)}, 5, 0},
		{"growth adds", []Drops{acl(5), acl(5), acl(9)}, 9, 0},
		{"a restart counts on from the new count", []Drops{acl(5), acl(2), acl(4)}, 9, 1},
		{"a restart to zero keeps the total", []Drops{acl(5), acl(0)}, 5, 1},
		{"two restarts", []Drops{acl(5), acl(1), acl(3), acl(2)}, 10, 2},
		{"a series gone after a restart is a reset to zero", []Drops{
			drops(map[string]float64{"inbound/acl": 5, "inbound/fragment": 2}), acl(1),
		}, 6, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tot Totals
			resets, last := 0, 0.0
			for i, d := range tt.reads {
				if tot.Observe(d) {
					resets++
				}
				got := tot.Count[Inbound][ReasonACL]
				if got < last {
					t.Fatalf("read %d: acl total went down from %v to %v", i, last, got)
				}
				last = got
			}
			if last != tt.wantACL || resets != tt.wantResets {
				t.Errorf("acl total %v after %d resets, want %v after %d", last, resets, tt.wantACL, tt.wantResets)
			}
		})
	}

	t.Run("a series once seen stays exposed", func(t *testing.T) {
		var tot Totals
		tot.Observe(drops(map[string]float64{"inbound/acl": 5, "inbound/fragment": 2}))
		tot.Observe(acl(1))
		if !tot.Seen[Inbound][ReasonFragment] || tot.Count[Inbound][ReasonFragment] != 2 {
			t.Errorf("fragment seen %v count %v after a restart that lost the series, want seen, 2",
				tot.Seen[Inbound][ReasonFragment], tot.Count[Inbound][ReasonFragment])
		}
	})
}
