package diagnose

import (
	"fmt"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logmatch"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/causes"
)

// KnownBug is one row of the version table: a tailscaled bug that a range
// of releases has and that shows in the proxy's log. The proxy-version-bug
// rule fires for a proxy whose version is in [First, Last] while its log
// shows the signature. Adding a row is one line here and a firing and a
// quiet case in knownbugs_test.go.
type KnownBug struct {
	First, Last logmatch.Version // the affected releases, both included
	FixedIn     logmatch.Version // the first release with the fix
	// Name says what the bug does, as a finding's title ends
	// ("1.102.1 has <Name>").
	Name string
	// Signature names what the log shows, for the finding's evidence.
	Signature string
	// Seen counts the signature's lines in a log summary.
	Seen func(LogSummary) int
	// Reports are the public reports and the fix, as owner/repo#N.
	Reports []string
	Cause   causes.ID
	// Explains is the cause of the log's own finding that the bug
	// explains (funnel-ingress-denied for the ingress regression), which
	// then points at the upgrade.
	Explains causes.ID
}

func v(major, minor, patch uint16) logmatch.Version {
	return logmatch.Version{Major: major, Minor: minor, Patch: patch}
}

// knownBugs is the version table (REFERENCE.md §8).
var knownBugs = []KnownBug{
	{First: v(1, 102, 0), Last: v(1, 102, 1), FixedIn: v(1, 102, 2), Name: "the no-ingress-cap regression (capabilities of unsigned peers such as Funnel relays are dropped)", Signature: `"ingress: denied; no ingress cap" from relays (IPv6 sources)`, Seen: relayDenials, Reports: []string{"tailscale/tailscale#20739", "tailscale/tailscale#20746", "tailscale/tailscale#20928", "fixed by tailscale/tailscale#20745 in 1.102.2 (tailscale/tailscale#20748)"}, Cause: causes.ProxyVersionBug, Explains: causes.FunnelIngressDenied},
}

// Affects reports whether version ver is in the bug's range. Pre-releases
// compare by number: 1.102.1-dev is taken for 1.102.1.
func (b KnownBug) Affects(ver logmatch.Version) bool {
	return ver != (logmatch.Version{}) && ver.Compare(b.First) >= 0 && ver.Compare(b.Last) <= 0
}

// BugMatch is a known bug that one proxy has, and how many of its
// signature's lines the endpoint's log shows.
type BugMatch struct {
	Bug   KnownBug
	Proxy ProxyFacts
	Lines int
}

// KnownBugsOf returns the known bugs the proxies of a log summary run
// with and whose signature the log shows, in table order.
func KnownBugsOf(l LogSummary) []BugMatch {
	var out []BugMatch
	for _, b := range knownBugs {
		n := b.Seen(l)
		if n == 0 {
			continue
		}
		for _, p := range l.Proxies {
			if b.Affects(p.Version) {
				out = append(out, BugMatch{Bug: b, Proxy: p, Lines: n})
			}
		}
	}
	return out
}

// versionString writes a version as tailscale does, with "v".
func versionString(ver logmatch.Version) string {
	s := fmt.Sprintf("v%d.%d.%d", ver.Major, ver.Minor, ver.Patch)
	if ver.Dev {
		s += " (a development build)"
	}
	return s
}

// ingressDenials counts "ingress: denied; no ingress cap" lines.
func ingressDenials(l LogSummary) int {
	return countEvents(l, func(ev logmatch.Event) bool { return ev.Kind == logmatch.KindIngressDenied })
}

// relayDenials counts the ingress denials from IPv6 sources: Funnel relays
// come over the tailnet's IPv6 range, while a denial from an IPv4 tailnet
// address is an ordinary peer calling the peer API's ingress endpoint (as
// in the real capture of collector/logmatch/testdata/real).
func relayDenials(l LogSummary) int {
	return countEvents(l, func(ev logmatch.Event) bool {
		return ev.Kind == logmatch.KindIngressDenied && ev.Family == logmatch.FamilyIPv6
	})
}
