package scheduler

import (
	"encoding/json"
	"net/http"
	"sort"
)

// SDGroup is one entry of Prometheus HTTP service discovery.
type SDGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// SDGroups lists every scheduled target for Prometheus HTTP service
// discovery, one group per (hostname, vantage). __param_vantage and
// __param_module become /probe's query parameters, so a scrape config only
// has to move the address into __param_target (see the README).
func SDGroups(statuses []Status) []SDGroup {
	groups := make([]SDGroup, 0, len(statuses))
	for _, st := range statuses {
		t := st.Target
		labels := map[string]string{
			"hostname":        t.Hostname,
			"vantage":         t.Vantage,
			"source":          t.Source,
			"__param_vantage": t.Vantage,
			"__param_module":  t.Module,
		}
		for k, v := range t.Labels {
			labels[k] = v
		}
		groups = append(groups, SDGroup{Targets: []string{t.Hostname}, Labels: labels})
	}
	sort.SliceStable(groups, func(i, j int) bool {
		return groups[i].Targets[0] < groups[j].Targets[0]
	})
	return groups
}

// SDHandler serves SDGroups as JSON.
func SDHandler(statuses func() []Status) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(SDGroups(statuses()))
	})
}
