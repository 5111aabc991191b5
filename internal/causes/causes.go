// Package causes is the one place that says what a failure of a ts.net
// endpoint means and what to do about it. Diagnose findings, the prober's
// debug-log hints and the alerts' annotations quote it; each cause has a
// runbook, alerts/runbooks/<ID>.md, for the long form.
//
// The package depends on nothing else in the module, so that every layer
// can quote it.
package causes

// ID names a cause. IDs are stable and kebab-case: they are runbook file
// names, the runbook_url of alerts and the cause of diagnose findings.
type ID string

// Cause is one way an endpoint, its proxy or the exporter fails.
type Cause struct {
	ID ID
	// Title names the failure in one line. Alert summaries start with it;
	// findings use it as their title.
	Title string
	// Meaning says what the failure means and why it happens, in a
	// sentence or two, with no label or object name: alert descriptions
	// contain it word for word.
	Meaning string
	// Next is what to do, most useful first, independent of the instance.
	Next []string
}

// RunbookBase is where the runbooks are published; with the ID and ".md"
// it is a cause's runbook URL.
const RunbookBase = "https://github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/blob/main/alerts/runbooks/"

// RunbookDir is the runbooks' directory in the repository.
const RunbookDir = "alerts/runbooks"

// Runbook is the URL of the cause's runbook.
func (c Cause) Runbook() string { return RunbookBase + string(c.ID) + ".md" }

// Lookup returns the cause with the ID.
func Lookup(id ID) (Cause, bool) {
	for _, c := range catalog {
		if c.ID == id {
			return c, true
		}
	}
	return Cause{}, false
}

// Get returns the cause with the ID, or one titled with the ID when the
// catalog has none (a test fails for that: every ID used is in the catalog).
func Get(id ID) Cause {
	if c, ok := Lookup(id); ok {
		return c
	}
	return Cause{ID: id, Title: string(id)}
}

// All lists the catalog in its order.
func All() []Cause {
	out := make([]Cause, len(catalog))
	copy(out, catalog)
	return out
}
