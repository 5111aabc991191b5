package diagnose

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/config"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/discovery"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logmatch"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logs"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/causes"
)

// CertificateExpiryWarning is how close a certificate's expiry has to be
// for a warning (the CertificateExpiringSoon alert uses the same 14 days).
const CertificateExpiryWarning = 14 * 24 * time.Hour

// RestartsWarning is the restart count of a proxy container from which its
// restarts are a warning even while the endpoint works.
const RestartsWarning = 3

// subject is what a rule looks at: one endpoint asked about, and the
// working endpoint given with --compare (nil without). Evidence-wide rules
// get a nil e.
type subject struct {
	ev      *Evidence
	e       *EndpointEvidence
	compare *EndpointEvidence
}

// rule is one row of the rule table: a small pure function of the evidence.
type rule struct {
	id string
	// perEndpoint rules run once per endpoint asked about, the others once.
	perEndpoint bool
	// condition marks a rule that describes a state of one endpoint (not a
	// difference to the working one). When it holds for the working
	// endpoint as well, it cannot explain why the other fails: its finding
	// is kept, ranked lower.
	condition bool
	check     func(s subject) []Finding
}

// rules is the rule table. IDs are stable: tools key on them.
var rules = []rule{
	// Differences to the working endpoint (--compare).
	{id: "funnel-annotation-differs", perEndpoint: true, check: funnelDiffers},
	{id: "tags-differ", perEndpoint: true, check: tagsDiffer},
	{id: "proxy-class-differs", perEndpoint: true, check: proxyClassDiffers},
	{id: "namespace-differs", perEndpoint: true, check: namespaceDiffers},
	{id: "kind-differs", perEndpoint: true, check: kindDiffers},
	{id: "proxy-version-older", perEndpoint: true, check: proxyVersionOlder},
	{id: "compare-not-working", perEndpoint: false, check: compareNotWorking},

	// Probes from this machine.
	{id: "tls-handshake-stalls", perEndpoint: true, condition: true, check: tlsHandshakeStalls},
	{id: "certificate-invalid", perEndpoint: true, condition: true, check: certificateInvalid},
	{id: "certificate-expiring", perEndpoint: true, condition: true, check: certificateExpiring},
	{id: "probe-failed", perEndpoint: true, condition: true, check: probeFailed},
	{id: "public-path-fails", perEndpoint: true, condition: true, check: publicPathFails},

	// The proxy's log: the Funnel story in its order (REFERENCE.md §8),
	// then certificates and real drops.
	{id: "funnel-relay-traffic", perEndpoint: true, condition: true, check: funnelRelayTraffic},
	{id: "funnel-no-relay-traffic", perEndpoint: true, condition: true, check: funnelNoRelayTraffic},
	{id: "funnel-annotation-ignored", perEndpoint: true, condition: true, check: funnelAnnotationIgnored},
	{id: "funnel-ingress-denied", perEndpoint: true, condition: true, check: funnelIngressDenied},
	{id: "proxy-version-bug", perEndpoint: true, condition: true, check: proxyVersionBug},
	{id: "funnel-relay-handshake-failing", perEndpoint: true, condition: true, check: funnelRelayHandshakeFailing},
	{id: "certificate-not-issued", perEndpoint: true, condition: true, check: certificateNotIssued},
	{id: "certificate-rate-limited", perEndpoint: true, condition: true, check: certificateRateLimited},
	{id: "drops-no-rules-matched", perEndpoint: true, condition: true, check: dropsNoRulesMatched},
	{id: "exact-drops-unlogged", perEndpoint: true, condition: true, check: exactDropsUnlogged},

	// The tailnet policy, when one was read.
	{id: "policy-funnel-attribute-missing", perEndpoint: true, condition: true, check: policyFunnelAttributeMissing},
	{id: "policy-tailnet-access-denied", perEndpoint: true, condition: true, check: policyTailnetAccessDenied},
	{id: "policy-tag-unowned", perEndpoint: true, condition: true, check: policyTagUnowned},
	{id: "policy-cannot-tell", perEndpoint: true, condition: true, check: policyCannotTell},
	{id: "policy-unreadable", check: policyUnreadable},
	{id: "policy-invalid", check: policyInvalid},

	// The endpoint's objects.
	{id: "endpoint-not-found", perEndpoint: true, check: endpointNotFound},
	{id: "not-provisioned", perEndpoint: true, condition: true, check: notProvisioned},
	{id: "hostname-suffixed", perEndpoint: true, condition: true, check: hostnameSuffixed},
	{id: "annotation-invalid", perEndpoint: true, condition: true, check: annotationInvalid},
	{id: "operator-warning-events", perEndpoint: true, condition: true, check: operatorWarningEvents},
	{id: "backend-missing", perEndpoint: true, condition: true, check: backendMissing},
	{id: "backend-not-ready", perEndpoint: true, condition: true, check: backendNotReady},

	// Proxy pods and the operator.
	{id: "proxy-pod-missing", perEndpoint: true, condition: true, check: proxyPodMissing},
	{id: "proxy-pod-not-ready", perEndpoint: true, condition: true, check: proxyPodNotReady},
	{id: "proxy-pod-restarting", perEndpoint: true, condition: true, check: proxyPodRestarting},
	{id: "proxy-older-than-operator", perEndpoint: true, condition: true, check: proxyOlderThanOperator},
	{id: "operator-not-running", check: operatorNotRunning},
	{id: "operator-log-warnings", check: operatorLogWarnings},

	// The run itself.
	{id: "permission-missing", check: permissionMissing},
	{id: "gather-error", check: gatherError},
}

// Diagnose runs the rule table over the evidence and returns the findings,
// most likely first.
func Diagnose(ev Evidence) Report {
	var out []Finding
	for _, r := range rules {
		if !r.perEndpoint {
			out = append(out, stamp(r.id, "", r.check(subject{ev: &ev, compare: ev.Compare}))...)
			continue
		}
		for i := range ev.Endpoints {
			e := &ev.Endpoints[i]
			fs := stamp(r.id, e.Hostname, r.check(subject{ev: &ev, e: e, compare: ev.Compare}))
			if len(fs) > 0 && r.condition && ev.Compare != nil && !sameEndpoint(e, ev.Compare) &&
				len(r.check(subject{ev: &ev, e: ev.Compare})) > 0 {
				for j := range fs {
					fs[j] = sharedWithWorking(fs[j], ev.Compare)
				}
			}
			out = append(out, fs...)
		}
	}
	slices.SortStableFunc(out, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(b.Likelihood, a.Likelihood),
			cmp.Compare(severityRank(a.Severity), severityRank(b.Severity)),
			strings.Compare(a.Hostname, b.Hostname),
			strings.Compare(a.Rule, b.Rule),
		)
	})
	return Report{Evidence: ev, Findings: out}
}

// stamp names the rule and endpoint of the findings and writes their
// title and next steps from the catalog: a rule gives only the cause and
// what the evidence adds.
func stamp(id, hostname string, fs []Finding) []Finding {
	for i := range fs {
		f := &fs[i]
		f.Rule = id
		if f.Hostname == "" {
			f.Hostname = hostname
		}
		c := causes.Get(f.Cause)
		f.Title = c.Title + f.qualifier
		f.Next = append(f.Next, c.Next...)
	}
	return fs
}

// sharedWithWorking ranks down a finding that holds for the working
// endpoint too.
func sharedWithWorking(f Finding, working *EndpointEvidence) Finding {
	f.Likelihood /= 4
	switch f.Severity {
	case SeverityCritical:
		f.Severity = SeverityWarning
	case SeverityWarning:
		f.Severity = SeverityInfo
	}
	f.Evidence = append(f.Evidence, fmt.Sprintf("the same holds for %s, which works: this does not explain the difference", working.Hostname))
	return f
}

func severityRank(s Severity) int {
	switch s {
	case SeverityCritical:
		return 0
	case SeverityWarning:
		return 1
	}
	return 2
}

func sameEndpoint(a, b *EndpointEvidence) bool {
	if a.Endpoint != nil && b.Endpoint != nil {
		return a.Endpoint.Object() == b.Endpoint.Object()
	}
	return strings.EqualFold(a.Hostname, b.Hostname)
}

// failing reports whether a probe of e failed from any vantage.
func failing(e *EndpointEvidence) bool {
	for _, r := range e.Probes {
		if !r.Success {
			return true
		}
	}
	return false
}

// severityFor is critical for a cause of an observed failure, else
// warning: a condition that will bite, or explains a failure not probed.
func severityFor(e *EndpointEvidence) Severity {
	if failing(e) {
		return SeverityCritical
	}
	return SeverityWarning
}

// likely raises the likelihood of a condition that comes with a failure.
func likely(e *EndpointEvidence, failingLikelihood, otherwise int) int {
	if failing(e) {
		return failingLikelihood
	}
	return otherwise
}

// comparable reports whether s has a working endpoint to compare with and
// both have objects.
func (s subject) comparable() bool {
	return s.compare != nil && s.e != nil && s.e.Endpoint != nil && s.compare.Endpoint != nil && !sameEndpoint(s.e, s.compare)
}

func object(e *EndpointEvidence) string {
	if e.Endpoint == nil {
		return "no object"
	}
	o := e.Endpoint.Object()
	return fmt.Sprintf("%s %s/%s", o.Resource, o.Namespace, o.Name)
}

func kubectlDescribe(e *EndpointEvidence) string {
	o := e.Endpoint.Object()
	return fmt.Sprintf("kubectl describe %s -n %s %s", strings.ToLower(o.Resource), o.Namespace, o.Name)
}

// ---- differences to the working endpoint ----

func funnelDiffers(s subject) []Finding {
	if !s.comparable() || s.e.Endpoint.Funnel == s.compare.Endpoint.Funnel {
		return nil
	}
	e, w := s.e, s.compare
	f := Finding{
		Cause:      causes.FunnelDiffers,
		Severity:   severityFor(e),
		Likelihood: likely(e, 75, 40),
		Evidence: []string{
			fmt.Sprintf("%s: %s %s", object(e), discovery.AnnotationFunnel, funnelValue(e.Endpoint)),
			fmt.Sprintf("%s (works): %s %s", object(w), discovery.AnnotationFunnel, funnelValue(w.Endpoint)),
		},
	}
	if !e.Endpoint.Funnel {
		f.qualifier = ": not enabled here, enabled on the working one"
		f.Next = []string{
			fmt.Sprintf("if it is meant to be public: kubectl annotate -n %s %s %s %s=true", e.Endpoint.Namespace, strings.ToLower(e.Endpoint.Object().Resource), e.Endpoint.Name, discovery.AnnotationFunnel),
		}
	} else {
		f.qualifier = ": enabled here, not on the working one"
	}
	f.Evidence = append(f.Evidence, "its proxy's tags: "+tagsOrDefault(e.Endpoint))
	return []Finding{f}
}

func funnelValue(e *discovery.Endpoint) string {
	if e.Funnel {
		return `"true"`
	}
	return "absent or not \"true\""
}

func tagsOrDefault(e *discovery.Endpoint) string {
	if e.Tags == "" {
		return "the operator's default tags"
	}
	return e.Tags
}

func tagsDiffer(s subject) []Finding {
	if !s.comparable() || s.e.Endpoint.Tags == s.compare.Endpoint.Tags {
		return nil
	}
	likelihood := likely(s.e, 60, 30)
	if s.e.Endpoint.Funnel && s.compare.Endpoint.Funnel && noRelayTraffic(s.e) {
		// Both ask for Funnel, no relay reaches this one: the policy's
		// funnel nodeAttr may cover the working one's tags only.
		likelihood = 90
	}
	return []Finding{{
		Severity:   severityFor(s.e),
		Likelihood: likelihood,
		Cause:      causes.TagsDiffer,
		Evidence: []string{
			fmt.Sprintf("%s: %s %s", object(s.e), discovery.AnnotationTags, tagsOrDefault(s.e.Endpoint)),
			fmt.Sprintf("%s (works): %s %s", object(s.compare), discovery.AnnotationTags, tagsOrDefault(s.compare.Endpoint)),
		},
		Next: []string{"or give this endpoint the working one's tags"},
	}}
}

func proxyClassDiffers(s subject) []Finding {
	if !s.comparable() || s.e.Endpoint.ProxyClass == s.compare.Endpoint.ProxyClass {
		return nil
	}
	return []Finding{{
		Severity:   severityFor(s.e),
		Likelihood: likely(s.e, 40, 20),
		Cause:      causes.ProxyClassDiffers,
		Evidence: []string{
			fmt.Sprintf("%s: proxy class %s", object(s.e), orNone(s.e.Endpoint.ProxyClass)),
			fmt.Sprintf("%s (works): proxy class %s", object(s.compare), orNone(s.compare.Endpoint.ProxyClass)),
		},
	}}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func namespaceDiffers(s subject) []Finding {
	if !s.comparable() || s.e.Endpoint.Namespace == s.compare.Endpoint.Namespace {
		return nil
	}
	return []Finding{{
		Severity:   SeverityInfo,
		Likelihood: 15,
		Cause:      causes.NamespaceDiffers,
		Evidence: []string{
			fmt.Sprintf("%s vs %s (works)", object(s.e), object(s.compare)),
		},
		Next: []string{"kubectl get networkpolicies -n " + s.e.Endpoint.Namespace},
	}}
}

func kindDiffers(s subject) []Finding {
	if !s.comparable() {
		return nil
	}
	onGroup, workingOnGroup := s.e.Endpoint.ProxyGroup != "", s.compare.Endpoint.ProxyGroup != ""
	if s.e.Endpoint.Kind == s.compare.Endpoint.Kind && onGroup == workingOnGroup {
		return nil
	}
	return []Finding{{
		Severity:   SeverityInfo,
		Likelihood: 20,
		Cause:      causes.KindDiffers,
		Evidence: []string{
			fmt.Sprintf("%s%s vs %s%s (works)", object(s.e), proxyGroupNote(s.e.Endpoint), object(s.compare), proxyGroupNote(s.compare.Endpoint)),
		},
	}}
}

func proxyGroupNote(e *discovery.Endpoint) string {
	if e.ProxyGroup == "" {
		return ""
	}
	return " on ProxyGroup " + e.ProxyGroup
}

func proxyVersionOlder(s subject) []Finding {
	if !s.comparable() {
		return nil
	}
	mine, theirs := oldestVersion(s.e.Pods), oldestVersion(s.compare.Pods)
	if mine == "" || theirs == "" || compareVersions(mine, theirs) >= 0 {
		return nil
	}
	return []Finding{{
		Severity:   severityFor(s.e),
		Likelihood: likely(s.e, 45, 25),
		Cause:      causes.ProxyOutdated,
		qualifier:  " than the working one",
		Evidence: []string{
			fmt.Sprintf("proxy %s: %s", s.e.Hostname, mine),
			fmt.Sprintf("proxy %s (works): %s", s.compare.Hostname, theirs),
		},
	}}
}

// oldestVersion is the lowest comparable version among the pods' images.
func oldestVersion(pods []discovery.ProxyPod) string {
	out := ""
	for _, p := range pods {
		if _, ok := parseVersion(p.Version); !ok {
			continue
		}
		if out == "" || compareVersions(p.Version, out) < 0 {
			out = p.Version
		}
	}
	return out
}

// parseVersion reads vMAJOR.MINOR.PATCH (any suffix after the numbers is
// ignored: v1.80.3-tsabc).
func parseVersion(v string) ([3]int, bool) {
	var out [3]int
	v = strings.TrimPrefix(v, "v")
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return out, false
	}
	for i, p := range parts {
		end := strings.IndexFunc(p, func(r rune) bool { return r < '0' || r > '9' })
		if end == 0 {
			return out, false
		}
		if end > 0 {
			p = p[:end]
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			return out, false
		}
		out[i] = n
	}
	return out, true
}

// compareVersions orders two versions parseVersion reads; unreadable ones
// compare equal to anything.
func compareVersions(a, b string) int {
	va, oka := parseVersion(a)
	vb, okb := parseVersion(b)
	if !oka || !okb {
		return 0
	}
	return cmp.Or(cmp.Compare(va[0], vb[0]), cmp.Compare(va[1], vb[1]), cmp.Compare(va[2], vb[2]))
}

func compareNotWorking(s subject) []Finding {
	if s.compare == nil {
		return nil
	}
	w := s.compare
	var ev []string
	if w.Endpoint == nil && len(w.Probes) == 0 {
		ev = append(ev, "no Ingress or Service claims "+w.Hostname+" and it was not probed")
	}
	for _, v := range vantagesOf(w) {
		if r := w.Probes[v]; !r.Success {
			ev = append(ev, probeLine(v, r))
		}
	}
	if len(ev) == 0 {
		return nil
	}
	return []Finding{{
		Hostname:   w.Hostname,
		Severity:   SeverityWarning,
		Likelihood: 30,
		Cause:      causes.CompareNotWorking,
		Evidence:   ev,
	}}
}

// ---- probes ----

func vantagesOf(e *EndpointEvidence) []string {
	var out []string
	for _, v := range probeVantages {
		if _, ok := e.Probes[v]; ok {
			out = append(out, v)
		}
	}
	return out
}

// probeLine describes one probe result in a sentence.
func probeLine(vantage string, r prober.Result) string {
	if r.Success {
		return fmt.Sprintf("%s probe: HTTP %d in %s", vantage, r.HTTPStatus, reportDuration(r.Duration))
	}
	var steps []string
	for _, p := range prober.Phases {
		d, ok := r.Phases[p]
		if !ok || p == r.FailedPhase {
			continue
		}
		steps = append(steps, fmt.Sprintf("%s %s", phaseVerb(p), reportDuration(d)))
	}
	what := string(r.Reason)
	if r.CertProb != prober.CertOK {
		what += " (" + string(r.CertProb) + ")"
	}
	line := fmt.Sprintf("%s probe failed: %s", vantage, what)
	if r.FailedPhase != "" {
		line += fmt.Sprintf(" in the %s phase after %s", r.FailedPhase, reportDuration(r.Phases[r.FailedPhase]))
	}
	if len(steps) > 0 {
		line += "; " + strings.Join(steps, ", ")
	}
	if r.HTTPStatus != 0 {
		line += fmt.Sprintf("; HTTP %d", r.HTTPStatus)
	}
	return line
}

func phaseVerb(p prober.Phase) string {
	switch p {
	case prober.PhaseResolve:
		return "resolved in"
	case prober.PhaseConnect:
		return "TCP connected in"
	case prober.PhaseTLS:
		return "TLS handshake done in"
	}
	return "HTTP answered in"
}

func tlsHandshakeStalls(s subject) []Finding {
	var ev []string
	for _, v := range vantagesOf(s.e) {
		if r := s.e.Probes[v]; r.Reason == prober.ReasonTLSHandshakeTimeout {
			ev = append(ev, probeLine(v, r))
		}
	}
	if len(ev) == 0 {
		return nil
	}
	return []Finding{{
		Severity:   SeverityCritical,
		Likelihood: 80,
		Cause:      causes.TLSHandshakeStalling,
		Evidence:   ev,
	}}
}

func certificateInvalid(s subject) []Finding {
	var out []Finding
	for _, v := range vantagesOf(s.e) {
		r := s.e.Probes[v]
		if r.Reason != prober.ReasonTLSCertInvalid {
			continue
		}
		f := Finding{Cause: causes.CertificateInvalid, Severity: SeverityCritical, Likelihood: 85, Evidence: []string{probeLine(v, r)}}
		if !r.CertExpiry.IsZero() {
			f.Evidence = append(f.Evidence, "earliest certificate expiry "+r.CertExpiry.UTC().Format(time.RFC3339))
		}
		if d, ok := causes.CertificateProblems[string(r.CertProb)]; ok {
			f.qualifier = ": " + d.Says
			f.Next = []string{d.Next}
		}
		out = append(out, f)
		break // one finding per endpoint: every vantage sees the same certificate
	}
	return out
}

func certificateExpiring(s subject) []Finding {
	for _, v := range vantagesOf(s.e) {
		r := s.e.Probes[v]
		if r.CertExpiry.IsZero() || r.Reason == prober.ReasonTLSCertInvalid {
			continue
		}
		left := r.CertExpiry.Sub(s.ev.GatheredAt)
		if left > CertificateExpiryWarning {
			return nil
		}
		return []Finding{{
			Severity:   SeverityWarning,
			Likelihood: 35,
			Cause:      causes.CertificateExpiring,
			qualifier:  ": in " + plural(int(left.Hours()/24), "day"),
			Evidence:   []string{fmt.Sprintf("%s probe: earliest certificate expiry %s", v, r.CertExpiry.UTC().Format(time.RFC3339))},
		}}
	}
	return nil
}

func probeFailed(s subject) []Finding {
	var out []Finding
	for _, v := range vantagesOf(s.e) {
		r := s.e.Probes[v]
		if r.Success || r.Reason == prober.ReasonTLSHandshakeTimeout || r.Reason == prober.ReasonTLSCertInvalid {
			continue
		}
		out = append(out, Finding{
			Cause:      r.Reason.Cause(),
			qualifier:  " (" + v + " vantage)",
			Severity:   SeverityCritical,
			Likelihood: 70,
			Evidence:   []string{probeLine(v, r)},
		})
	}
	return out
}

func publicPathFails(s subject) []Finding {
	d, okd := s.e.Probes[config.VantageDirect]
	t, okt := s.e.Probes[config.VantageTailnet]
	if !okd || !okt || d.Success == t.Success {
		return nil
	}
	if !d.Success {
		return []Finding{{
			Severity:   SeverityCritical,
			Likelihood: 65,
			Cause:      causes.FunnelPathBroken,
			Evidence:   []string{probeLine(config.VantageDirect, d), probeLine(config.VantageTailnet, t)},
		}}
	}
	return []Finding{{
		Severity:   SeverityWarning,
		Likelihood: 40,
		Cause:      causes.TailnetPathBroken,
		Evidence:   []string{probeLine(config.VantageDirect, d), probeLine(config.VantageTailnet, t)},
	}}
}

// ---- proxy logs ----

// dropsWhere sums the drop lines whose key matches.
func dropsWhere(l LogSummary, match func(DropKey) bool) int {
	n := 0
	for k, c := range l.Drops {
		if match(k) {
			n += c
		}
	}
	return n
}

// relayConnections counts TCP drops from IPv6 sources to the node's peer
// API port: one per Funnel relay connection (tailscaled logs the SYN as a
// drop and lets it through, REFERENCE.md §2).
func relayConnections(l LogSummary) int {
	return dropsWhere(l, func(k DropKey) bool {
		return k.Class == logmatch.DropClassPeerAPI && k.Family == logmatch.FamilyIPv6
	})
}

// relayTLSErrors counts TLS handshake errors from IPv6 sources with the
// cause (TLSCauseNone: any).
func relayTLSErrors(l LogSummary, cause logmatch.TLSCause) int {
	return countEvents(l, func(ev logmatch.Event) bool {
		return ev.Kind == logmatch.KindTLSHandshakeError && ev.Family == logmatch.FamilyIPv6 && (cause == logmatch.TLSCauseNone || ev.TLSCause == cause)
	})
}

// certificateErrors counts TLS handshake errors that say no certificate
// could be had (HTTPS off, Let's Encrypt rate limits).
func certificateErrors(l LogSummary) int {
	return countEvents(l, func(ev logmatch.Event) bool {
		return ev.Kind == logmatch.KindTLSHandshakeError && (ev.TLSCause == logmatch.TLSCauseCertUnavailable || ev.TLSCause == logmatch.TLSCauseRateLimited)
	})
}

// peerAPIPortSource says how the peer API port the relay drops were
// classified with was known.
func peerAPIPortSource(l LogSummary) string {
	learned := dropsWhere(l, func(k DropKey) bool {
		return k.Class == logmatch.DropClassPeerAPI && k.Source == logmatch.PortSourceLearned
	})
	if learned > 0 {
		return "its port learned from the proxy's \"peerapi: serving on\" line"
	}
	return "its port inferred from the node's address by tailscaled's own rule"
}

// countEvents sums the events that match.
func countEvents(l LogSummary, match func(logmatch.Event) bool) int {
	n := 0
	for ev, c := range l.Events {
		if match(ev) {
			n += c
		}
	}
	return n
}

// logWindow says which lines were read; filter is true for counts of the
// packet filter's lines, which tailscaled rate-limits.
func logWindow(l LogSummary, filter bool) string {
	s := fmt.Sprintf("in the last %d proxy log lines", l.Lines)
	if !l.Since.IsZero() {
		s += " since " + l.Since.UTC().Format(time.RFC3339)
	}
	if filter && l.RateLimit {
		s += "; tailscaled rate-limited its filter log, so there were more"
	}
	return s
}

// samplesOf returns the kept log lines of one kind of event.
func samplesOf(l LogSummary, kind logmatch.Kind) []string {
	return samplesWhere(l, func(s logs.Sample) bool { return s.Event.Kind == kind })
}

func samplesWhere(l LogSummary, keep func(logs.Sample) bool) []string {
	var out []string
	for _, s := range l.Matched {
		if keep(s) {
			out = append(out, "log: "+s.Line)
		}
	}
	return out
}

// maxRelayPairs bounds the pairs a finding quotes.
const maxRelayPairs = 2

// relayPair is a relay's drop at the peer API port and a TLS handshake
// error from the same source address and port.
type relayPair struct {
	source    netip.AddrPort
	drop, tls string
}

// relayPairs pairs the kept relay lines by source: a drop line's
// "{SRC > DST}" and a handshake error's "from SRC: CAUSE", parsed from the
// kept text here (not on the exporter's per-line path). Latest first.
func relayPairs(l LogSummary) []relayPair {
	drops := map[netip.AddrPort]string{}
	var out []relayPair
	for _, s := range l.Relay {
		switch s.Event.Kind {
		case logmatch.KindDrop:
			if src, ok := dropSource(s.Line); ok {
				drops[src] = s.Line
			}
		case logmatch.KindTLSHandshakeError:
			if src, ok := tlsErrorSource(s.Line); ok && drops[src] != "" {
				out = append(out, relayPair{source: src, drop: drops[src], tls: s.Line})
				delete(drops, src)
			}
		}
	}
	slices.Reverse(out)
	return out[:min(len(out), maxRelayPairs)]
}

// dropSource reads SRC of "Drop: PROTO{SRC > DST} ...".
func dropSource(line string) (netip.AddrPort, bool) {
	_, rest, ok := strings.Cut(line, "{")
	if !ok {
		return netip.AddrPort{}, false
	}
	src, _, ok := strings.Cut(rest, " > ")
	if !ok {
		return netip.AddrPort{}, false
	}
	a, err := netip.ParseAddrPort(src)
	return a, err == nil
}

// tlsErrorSource reads ADDR of "http: TLS handshake error from ADDR: CAUSE"
// (an IPv6 address is bracketed, so its colons are never followed by a
// space).
func tlsErrorSource(line string) (netip.AddrPort, bool) {
	_, rest, ok := strings.Cut(line, "TLS handshake error from ")
	if !ok {
		return netip.AddrPort{}, false
	}
	src, _, _ := strings.Cut(rest, ": ")
	a, err := netip.ParseAddrPort(src)
	return a, err == nil
}

// pairEvidence quotes the relay pairs of l.
func pairEvidence(l LogSummary) []string {
	var out []string
	for _, p := range relayPairs(l) {
		out = append(out, "from the same relay "+p.source.String()+":", "log: "+p.drop, "log: "+p.tls)
	}
	return out
}

// directProbe is the public probe's result, if there was one.
func directProbe(e *EndpointEvidence) (prober.Result, bool) {
	r, ok := e.Probes[config.VantageDirect]
	return r, ok
}

func funnelRelayTraffic(s subject) []Finding {
	n := relayConnections(s.e.Logs)
	if n == 0 {
		return nil
	}
	ev := []string{
		fmt.Sprintf("%d TCP drop(s) \"no rules matched\" from IPv6 sources to the node's peer API port (%s), %s", n, peerAPIPortSource(s.e.Logs), logWindow(s.e.Logs, true)),
		"not the cause of a failure: tailscaled logs one for every Funnel connection, working or not, and lets it through",
	}
	ev = append(ev, samplesWhere(s.e.Logs, func(x logs.Sample) bool {
		return x.Event.Kind == logmatch.KindDrop && x.Class == logmatch.DropClassPeerAPI
	})...)
	return []Finding{{
		// Never above a warning or a critical finding: these lines are
		// proof that Funnel works up to the proxy, not a fault.
		Severity:   SeverityInfo,
		Likelihood: 1,
		Cause:      causes.FunnelRelayTraffic,
		qualifier:  fmt.Sprintf(": %s reached the proxy", plural(n, "relay connection")),
		Evidence:   ev,
	}}
}

// noRelayTraffic reports case (a): a Funnel endpoint whose public probe
// fails while its log read shows no relay line at all.
func noRelayTraffic(e *EndpointEvidence) bool {
	if e.Endpoint == nil || !e.Endpoint.Funnel && !e.Endpoint.FunnelIgnored || !e.Logs.Read {
		return false
	}
	if d, ok := directProbe(e); !ok || d.Success {
		return false
	}
	l := e.Logs
	return relayConnections(l) == 0 && relayTLSErrors(l, logmatch.TLSCauseNone) == 0 && relayDenials(l) == 0
}

func funnelNoRelayTraffic(s subject) []Finding {
	e := s.e
	if !noRelayTraffic(e) {
		return nil
	}
	d, _ := directProbe(e)
	f := Finding{
		Severity:   SeverityCritical,
		Likelihood: 88,
		Cause:      causes.FunnelNoRelayTraffic,
		Evidence: []string{
			probeLine(config.VantageDirect, d),
			fmt.Sprintf("no Funnel relay line (a TCP drop to the peer API port, a TLS handshake error from IPv6, an ingress denial) %s", logWindow(e.Logs, false)),
		},
	}
	switch {
	case e.Endpoint.FunnelIgnored:
		// The reason is known from the object: say it, not the guesses.
		f.Cause = causes.FunnelAnnotationIgnored
		f.Evidence = append(f.Evidence, funnelIgnoredLine(e))
	default:
		f.Evidence = append(f.Evidence, "its proxy's tags: "+tagsOrDefault(e.Endpoint)+": the tailnet policy's nodeAttrs must give them the funnel attribute")
		f.Evidence = appendNonEmpty(f.Evidence, policyConfirmsNoFunnel(e),
			policyGivesFunnel(e, "look elsewhere: Funnel lost after a control reconnect (toggle it off and on), or the policy read is not the one in force"))
	}
	return []Finding{f}
}

// funnelAnnotationIgnored reports a funnel annotation the operator ignores
// on an endpoint that does not (yet) fail for it; one that fails is
// funnel-no-relay-traffic's, with the probe and the log as evidence.
func funnelAnnotationIgnored(s subject) []Finding {
	e := s.e
	if e.Endpoint == nil || !e.Endpoint.FunnelIgnored || noRelayTraffic(e) {
		return nil
	}
	return []Finding{{
		Severity:   SeverityWarning,
		Likelihood: 60,
		Cause:      causes.FunnelAnnotationIgnored,
		Evidence:   []string{funnelIgnoredLine(e)},
	}}
}

// funnelIgnoredLine says where the ignored funnel annotation sits.
func funnelIgnoredLine(e *EndpointEvidence) string {
	if e.Endpoint.Kind == discovery.KindService {
		return fmt.Sprintf("%s has %s: \"true\" on a Service; the operator reads it on Ingresses only", object(e), discovery.AnnotationFunnel)
	}
	return fmt.Sprintf("%s is served by ProxyGroup %s; the operator does not read %s there (Funnel is not implemented for ProxyGroup Ingresses)", object(e), e.Endpoint.ProxyGroup, discovery.AnnotationFunnel)
}

func funnelRelayHandshakeFailing(s subject) []Finding {
	l := s.e.Logs
	relays, eof := relayConnections(l), relayTLSErrors(l, logmatch.TLSCauseEOF)
	if relays == 0 || eof == 0 || relayDenials(l) > 0 {
		return nil // no relay handshakes, or the proxy refused the relays first (funnel-ingress-denied)
	}
	d, probed := directProbe(s.e)
	if probed && d.Success {
		return nil // clients giving up mid-handshake happen on working endpoints too
	}
	f := Finding{
		Severity:   SeverityCritical,
		Likelihood: 95,
		Cause:      causes.FunnelRelayHandshakeFailing,
		Evidence: []string{
			fmt.Sprintf("%s reached the proxy (TCP drops at the peer API port from IPv6), then %d TLS handshake error(s) from IPv6 sources ended in EOF, %s",
				plural(relays, "relay connection"), eof, logWindow(l, true)),
		},
	}
	if probed {
		f.Evidence = append(f.Evidence, probeLine(config.VantageDirect, d))
	} else {
		f.Severity, f.Likelihood = SeverityWarning, 50
		f.Evidence = append(f.Evidence, "not probed from the internet: run diagnose with the direct vantage to confirm")
	}
	if t, ok := s.e.Probes[config.VantageTailnet]; ok && t.Success {
		f.Evidence = append(f.Evidence, probeLine(config.VantageTailnet, t)+": tailnet clients still work, as in the reports")
	}
	if n := certificateErrors(l); n > 0 {
		// No certificate explains failed handshakes better than the bug.
		f.Likelihood = 60
		f.Evidence = append(f.Evidence, fmt.Sprintf("%d TLS handshake error(s) say no certificate could be had: see that finding first", n))
	}
	f.Evidence = append(f.Evidence, "no configuration change fixes this: an open upstream bug, tailscale/tailscale#19290 (also #18181, #21114)")
	f.Evidence = appendNonEmpty(f.Evidence, policyGivesFunnel(s.e, noPolicyFixesBug))
	f.Evidence = append(f.Evidence, pairEvidence(l)...)
	f.Next = []string{"attach the proxy's tailscaled version (" + proxyVersions(l) + ") to the report"}
	return []Finding{f}
}

// proxyVersions lists the versions of the proxies whose logs were read.
func proxyVersions(l LogSummary) string {
	var vs []string
	for _, p := range l.Proxies {
		if p.VersionFrom != VersionUnknown {
			vs = append(vs, versionString(p.Version))
		}
	}
	return joinDistinct(vs, "unknown: kubectl logs the proxy's \"Program starting\" line")
}

func funnelIngressDenied(s subject) []Finding {
	l := s.e.Logs
	n := ingressDenials(l)
	if n == 0 {
		return nil
	}
	f := Finding{
		Severity:   severityFor(s.e),
		Likelihood: likely(s.e, 85, 50),
		Cause:      causes.FunnelIngressDenied,
		Evidence: append([]string{fmt.Sprintf("%d \"ingress: denied; no ingress cap\" line(s) %s", n, logWindow(l, false)), "its proxy's tags: " + tagsOrDefaultOf(s.e)},
			samplesOf(l, logmatch.KindIngressDenied)...),
	}
	var regression []string
	for _, m := range KnownBugsOf(l) {
		if m.Bug.Explains == causes.FunnelIngressDenied {
			regression = append(regression, fmt.Sprintf("%s runs tailscaled %s", m.Proxy.Pod, versionString(m.Proxy.Version)))
		}
	}
	switch {
	case relayDenials(l) == 0:
		// Relays come over IPv6; an IPv4 peer calling the ingress
		// endpoint without the capability is refused by design.
		f.Severity, f.Likelihood = SeverityInfo, 5
		f.qualifier = ": from tailnet peers, not Funnel relays"
		f.Evidence = append(f.Evidence, "every denial came from an IPv4 tailnet address; Funnel relays come over the tailnet's IPv6 range fd7a:115c:a1e0::/48, so none of these is a public Funnel request")
		f.Next = []string{"nothing to do for Funnel; find the peer that calls the proxy's /v0/ingress if it is unexpected"}
	case len(regression) > 0:
		// The version bug finding leads; this one says the same from the
		// log's side.
		f.Likelihood = likely(s.e, 80, 45)
		f.qualifier = ": the 1.102.0–1.102.1 regression"
		f.Evidence = append(f.Evidence, regression...)
		f.Evidence = appendNonEmpty(f.Evidence, policyGivesFunnel(s.e, noPolicyFixesBug))
		f.Next = []string{"upgrade the proxy image to 1.102.2 or later (see proxy-version-bug)"}
	case knownVersions(l):
		f.qualifier = ": the node lacks the capability"
		f.Evidence = append(f.Evidence, "tailscaled "+proxyVersions(l)+" does not have the 1.102.0–1.102.1 regression")
		f.Evidence = appendNonEmpty(f.Evidence, policyConfirmsNoFunnel(s.e),
			policyGivesFunnel(s.e, "yet control did not give the node the capability: the policy read may not be the one in force, or toggle Funnel off and on"))
		f.Next = []string{"add the funnel attribute for " + tagsOrDefaultOf(s.e) + " to the tailnet policy's nodeAttrs"}
	default:
		f.Evidence = append(f.Evidence, "the proxy's version is unknown (no \"Program starting\" line read, and no version in its image tag)")
	}
	return []Finding{f}
}

// knownVersions reports whether every proxy read has a known version.
func knownVersions(l LogSummary) bool {
	for _, p := range l.Proxies {
		if p.VersionFrom == VersionUnknown {
			return false
		}
	}
	return len(l.Proxies) > 0
}

func proxyVersionBug(s subject) []Finding {
	var out []Finding
	for _, m := range KnownBugsOf(s.e.Logs) {
		from := "its log's \"Program starting\" line"
		if m.Proxy.VersionFrom == VersionFromImage {
			from = "its image tag"
		}
		var policyNote string
		if m.Bug.Explains == causes.FunnelIngressDenied {
			policyNote = policyGivesFunnel(s.e, noPolicyFixesBug)
		}
		out = append(out, Finding{
			Severity:   severityFor(s.e),
			Likelihood: likely(s.e, 92, 60),
			Cause:      m.Bug.Cause,
			qualifier:  fmt.Sprintf(": %s has %s", versionString(m.Proxy.Version), m.Bug.Name),
			Evidence: appendNonEmpty([]string{
				fmt.Sprintf("%s runs tailscaled %s (from %s); affected: %s to %s", m.Proxy.Pod, versionString(m.Proxy.Version), from, versionString(m.Bug.First), versionString(m.Bug.Last)),
				fmt.Sprintf("%d %s line(s) %s", m.Lines, m.Bug.Signature, logWindow(s.e.Logs, false)),
				"reports: " + strings.Join(m.Bug.Reports, ", "),
			}, policyNote),
			Next: []string{fmt.Sprintf("upgrade the proxy image to %d.%d.%d or later", m.Bug.FixedIn.Major, m.Bug.FixedIn.Minor, m.Bug.FixedIn.Patch)},
		})
	}
	return out
}

func tagsOrDefaultOf(e *EndpointEvidence) string {
	if e.Endpoint == nil {
		return "the node's tags"
	}
	return tagsOrDefault(e.Endpoint)
}

func dropsNoRulesMatched(s subject) []Finding {
	l := s.e.Logs
	noRules := func(class ...logmatch.DropClass) func(DropKey) bool {
		return func(k DropKey) bool {
			return k.Reason == logmatch.ReasonNoRulesMatched && slices.Contains(class, k.Class)
		}
	}
	served := dropsWhere(l, noRules(logmatch.DropClassServed))
	other := dropsWhere(l, noRules(logmatch.DropClassOther, logmatch.DropClassUnknown))
	switch {
	case served > 0:
		byFamily := func(f logmatch.Family) int {
			return dropsWhere(l, func(k DropKey) bool { return noRules(logmatch.DropClassServed)(k) && k.Family == f })
		}
		return []Finding{{
			Severity: severityFor(s.e),
			// Above the stall it explains for tailnet clients.
			Likelihood: likely(s.e, 85, 45),
			Cause:      causes.ProxyDroppingTraffic,
			qualifier:  " at a served port",
			Evidence: slices.Concat([]string{
				fmt.Sprintf("%d drop(s) \"no rules matched\" to a served port (443/80), %d from IPv4 and %d from IPv6 tailnet clients, %s",
					served, byFamily(logmatch.FamilyIPv4), byFamily(logmatch.FamilyIPv6), logWindow(l, true)),
			}, exactEvidence(s.e), []string{
				"Funnel relays never connect to 443 or 80: these are tailnet clients the policy does not allow",
				"its proxy's tags: " + tagsOrDefaultOf(s.e),
			}, samplesWhere(l, func(x logs.Sample) bool {
				return x.Event.Kind == logmatch.KindDrop && x.Class == logmatch.DropClassServed
			})),
		}}
	case other > 0:
		return []Finding{{
			Severity:   SeverityInfo,
			Likelihood: 5,
			Cause:      causes.DropsToUnservedPorts,
			Evidence:   []string{fmt.Sprintf("%d drop(s) \"no rules matched\" to ports other than 443/80 and the peer API, %s", other, logWindow(l, true))},
		}}
	}
	return nil
}

// exactSince says what the two counts of a summary line are.
const exactSince = "; exact counts are tailscaled's own since it started, the log a rate-limited sample"

// exactEvidence quotes the proxy's own counters next to the log, when
// they were read: the log is a sample, they are not.
func exactEvidence(e *EndpointEvidence) []string {
	if line := summarizeExact(e).line(e.Logs.Read); line != "" {
		return []string{line + exactSince}
	}
	return nil
}

// exactDropsUnlogged: the proxy's own counter says its packet filter
// dropped packets while the log read shows none at a served port —
// tailscaled rate-limits its drop log, and older lines rotate away or
// fall outside the window read. The counter does not say the port, so
// this is the served-port cause only as a likely reading.
func exactDropsUnlogged(s subject) []Finding {
	x := summarizeExact(s.e)
	if x.acl == 0 || x.logged > 0 {
		return nil
	}
	ev := []string{x.line(s.e.Logs.Read) + exactSince}
	if s.e.Logs.Read {
		ev = append(ev, fmt.Sprintf("no drop line to a served port %s: tailscaled logs a burst of 10 drops, then about one per 5 s", logWindow(s.e.Logs, true)))
		if other := dropsWhere(s.e.Logs, func(k DropKey) bool {
			return k.Class == logmatch.DropClassOther || k.Class == logmatch.DropClassUnknown
		}); other > 0 {
			ev = append(ev, fmt.Sprintf("the log shows %d drop(s) to other ports: some of the counted drops may be those", other))
		}
	}
	ev = append(ev, "the counter does not say the port: drops to ports the proxy does not serve count too; the peer API's never do",
		"its proxy's tags: "+tagsOrDefaultOf(s.e))
	sev := SeverityInfo
	if failing(s.e) {
		sev = SeverityWarning
	}
	return []Finding{{
		Severity:   sev,
		Likelihood: likely(s.e, 50, 15),
		Cause:      causes.ProxyDroppingTraffic,
		qualifier:  " (likely: tailscaled counted drops at some port, none in the log read)",
		Evidence:   ev,
		Next: []string{
			"read the proxy's whole log (kubectl logs -c tailscale) for Drop lines, or set TS_DEBUG_FILTER_RATE_LIMIT_LOGS=all on the proxy to log every drop",
			"tailscale_tunnel_proxy_dropped_packets_total{direction=\"inbound\",reason=\"acl\"} shows when they happen",
		},
	}}
}

func certificateRateLimited(s subject) []Finding {
	l := s.e.Logs
	n := countEvents(l, func(ev logmatch.Event) bool {
		return ev.Kind == logmatch.KindTLSHandshakeError && ev.TLSCause == logmatch.TLSCauseRateLimited
	})
	if n == 0 {
		return nil
	}
	return []Finding{{
		Severity:   severityFor(s.e),
		Likelihood: likely(s.e, 90, 45),
		Cause:      causes.CertificateRateLimited,
		Evidence: append([]string{fmt.Sprintf("%d TLS handshake error(s) with acme:error:rateLimited %s", n, logWindow(l, false))},
			samplesWhere(l, func(x logs.Sample) bool { return x.Event.TLSCause == logmatch.TLSCauseRateLimited })...),
	}}
}

func certificateNotIssued(s subject) []Finding {
	var ev []string
	n := countEvents(s.e.Logs, func(ev logmatch.Event) bool {
		return ev.Kind == logmatch.KindTLSHandshakeError && ev.TLSCause == logmatch.TLSCauseCertUnavailable
	})
	fromLog := n > 0
	if fromLog {
		ev = append(ev, fmt.Sprintf("%d TLS handshake error(s) in the proxy log: the account cannot get TLS certificates, %s", n, logWindow(s.e.Logs, false)))
		ev = append(ev, samplesWhere(s.e.Logs, func(x logs.Sample) bool { return x.Event.TLSCause == logmatch.TLSCauseCertUnavailable })...)
	}
	for _, w := range s.e.Warnings {
		if w.Reason == "HTTPSNotEnabled" {
			ev = append(ev, fmt.Sprintf("Warning Event %s (x%d): %s", w.Reason, w.Count, w.Message))
		}
	}
	if len(ev) == 0 {
		return nil
	}
	severity, likelihood := severityFor(s.e), likely(s.e, 70, 40)
	if fromLog {
		// The proxy says it itself: nothing explains failed handshakes better.
		likelihood = likely(s.e, 90, 45)
	} else if other, ok := certificateSeen(s); ok {
		// A live handshake beats an Event that may be days old.
		severity, likelihood = SeverityInfo, 10
		ev = append(ev, other+" presented a certificate just now, so HTTPS is enabled: the Event is likely stale")
	}
	return []Finding{{
		Severity:   severity,
		Likelihood: likelihood,
		Cause:      causes.HTTPSNotEnabled,
		Evidence:   ev,
	}}
}

// certificateSeen names an endpoint of the same tailnet (this one or the
// working one) whose probe completed a TLS handshake.
func certificateSeen(s subject) (string, bool) {
	for _, e := range []*EndpointEvidence{s.e, s.compare} {
		if e == nil {
			continue
		}
		for _, v := range vantagesOf(e) {
			if r := e.Probes[v]; r.TLSVersion != "" {
				return e.Hostname, true
			}
		}
	}
	return "", false
}

// ---- the endpoint's objects ----

func endpointNotFound(s subject) []Finding {
	if s.e.Endpoint != nil || clusterUnread(s.ev) {
		return nil
	}
	return []Finding{{
		Severity:   SeverityWarning,
		Likelihood: likely(s.e, 50, 20),
		Cause:      causes.EndpointNotFound,
		Evidence:   []string{fmt.Sprintf("no Ingress of the operator's class or Tailscale Service has %q as its requested or obtained name", s.e.Hostname)},
	}}
}

// clusterUnread reports whether no Kubernetes evidence was gathered at all.
func clusterUnread(ev *Evidence) bool {
	for _, e := range ev.Endpoints {
		if e.Endpoint != nil {
			return false
		}
	}
	for _, m := range ev.Missing {
		if strings.HasPrefix(m, "list ingresses") {
			return true
		}
	}
	return len(ev.Errors) > 0 || !ev.Operator.Found && !anyPodsListed(ev)
}

func anyPodsListed(ev *Evidence) bool {
	for _, e := range ev.Endpoints {
		if e.PodsListed {
			return true
		}
	}
	return false
}

func notProvisioned(s subject) []Finding {
	if s.e.Endpoint == nil || s.e.Endpoint.Provisioned {
		return nil
	}
	return []Finding{{
		Severity:   SeverityCritical,
		Likelihood: 85,
		Cause:      causes.EndpointNotProvisioned,
		Evidence:   []string{fmt.Sprintf("%s requests %q; status.loadBalancer.ingress has no hostname", object(s.e), s.e.Endpoint.RequestedHostname)},
		Next:       []string{kubectlDescribe(s.e) + ": the operator's Events say why"},
	}}
}

func hostnameSuffixed(s subject) []Finding {
	if s.e.Endpoint == nil || !s.e.Endpoint.Suffixed {
		return nil
	}
	return []Finding{{
		Severity:   SeverityWarning,
		Likelihood: likely(s.e, 55, 40),
		Cause:      causes.EndpointHostnameSuffixed,
		Evidence:   []string{fmt.Sprintf("requested %q, obtained %q", s.e.Endpoint.RequestedHostname, s.e.Endpoint.Hostname)},
	}}
}

func annotationInvalid(s subject) []Finding {
	if s.e.Endpoint == nil || len(s.e.Endpoint.Invalid) == 0 {
		return nil
	}
	return []Finding{{
		Severity:   SeverityWarning,
		Likelihood: likely(s.e, 60, 35),
		Cause:      causes.AnnotationInvalid,
		Evidence:   []string{fmt.Sprintf("%s: the operator does not accept the values of %s as meant", object(s.e), strings.Join(s.e.Endpoint.Invalid, ", "))},
	}}
}

func operatorWarningEvents(s subject) []Finding {
	var out []Finding
	for _, w := range s.e.Warnings {
		if w.Reason == "HTTPSNotEnabled" {
			continue
		}
		next := []string{kubectlDescribe(s.e) + " shows the Event in full"}
		if a, ok := causes.OperatorEvents[w.Reason]; ok {
			next = append([]string{a}, next...)
		}
		out = append(out, Finding{
			Cause:      causes.OperatorWarningEvents,
			qualifier:  ": " + w.Reason,
			Severity:   severityFor(s.e),
			Likelihood: likely(s.e, 60, 35),
			Evidence:   []string{fmt.Sprintf("Warning Event %s (x%d, last %s): %s", w.Reason, w.Count, w.Last.UTC().Format(time.RFC3339), w.Message)},
			Next:       next,
		})
	}
	return out
}

func backendMissing(s subject) []Finding {
	b := s.e.Backend
	if b.Service == "" || !b.Known || b.Found {
		return nil
	}
	return []Finding{{
		Severity:   SeverityCritical,
		Likelihood: likely(s.e, 75, 60),
		Cause:      causes.BackendMissing,
		Evidence:   []string{fmt.Sprintf("%s sends traffic to %s, which is not there", object(s.e), b.Service)},
	}}
}

func backendNotReady(s subject) []Finding {
	b := s.e.Backend
	if !b.Found || !b.Checked || b.ReadyAddr > 0 {
		return nil
	}
	return []Finding{{
		Severity:   severityFor(s.e),
		Likelihood: likely(s.e, 70, 50),
		Cause:      causes.BackendNotReady,
		Evidence:   []string{fmt.Sprintf("the EndpointSlices of %s list no ready address", b.Service)},
		Next:       []string{"kubectl get pods,endpointslices -n " + s.e.Endpoint.Namespace},
	}}
}

// ---- proxy pods and the operator ----

func proxyPodMissing(s subject) []Finding {
	if s.e.Endpoint == nil || !s.e.PodsListed || len(s.e.Pods) > 0 {
		return nil
	}
	return []Finding{{
		Severity:   SeverityCritical,
		Likelihood: likely(s.e, 85, 70),
		Cause:      causes.ProxyPodMissing,
		Evidence:   []string{fmt.Sprintf("no pod labelled %s=true in the operator namespace serves %s", discovery.LabelManaged, object(s.e))},
	}}
}

func proxyPodNotReady(s subject) []Finding {
	var ev []string
	for _, p := range s.e.Pods {
		if !p.Ready {
			ev = append(ev, fmt.Sprintf("pod %s/%s: phase %s, not ready", p.Namespace, p.Name, orNone(p.Phase)))
		}
	}
	if len(ev) == 0 {
		return nil
	}
	return []Finding{{
		Severity:   SeverityCritical,
		Likelihood: likely(s.e, 80, 60),
		Cause:      causes.ProxyPodNotReady,
		Evidence:   ev,
	}}
}

func proxyPodRestarting(s subject) []Finding {
	var ev []string
	for _, p := range s.e.Pods {
		if p.Restarts > 0 && (failing(s.e) || p.Restarts >= RestartsWarning) {
			ev = append(ev, fmt.Sprintf("pod %s/%s: container tailscale restarted %d time(s)", p.Namespace, p.Name, p.Restarts))
		}
	}
	if len(ev) == 0 {
		return nil
	}
	return []Finding{{
		Severity:   severityFor(s.e),
		Likelihood: likely(s.e, 50, 30),
		Cause:      causes.ProxyPodRestarting,
		Evidence:   ev,
	}}
}

func proxyOlderThanOperator(s subject) []Finding {
	op := s.ev.Operator.Version
	mine := oldestVersion(s.e.Pods)
	if mine == "" || compareVersions(mine, op) >= 0 {
		return nil
	}
	if _, ok := parseVersion(op); !ok {
		return nil
	}
	return []Finding{{
		Severity:   SeverityWarning,
		Likelihood: likely(s.e, 35, 15),
		Cause:      causes.ProxyOutdated,
		qualifier:  " than the operator",
		Evidence:   []string{fmt.Sprintf("proxy %s, operator %s", mine, op)},
	}}
}

func operatorNotRunning(s subject) []Finding {
	o := s.ev.Operator
	switch {
	case o.Found && !o.Ready:
		return []Finding{{
			Severity:   SeverityWarning,
			Likelihood: 45,
			Cause:      causes.OperatorNotRunning,
			qualifier:  ": its pod is not ready",
			Evidence:   []string{fmt.Sprintf("pod %s (version %s) is not ready", o.Pod, orNone(o.Version))},
		}}
	case !o.Found && anyPodsListed(s.ev):
		return []Finding{{
			Severity:   SeverityWarning,
			Likelihood: 30,
			Cause:      causes.OperatorNotRunning,
			qualifier:  ": no pod of it in the operator namespace",
			Evidence:   []string{"no pod labelled app=operator (or named operator*) among the pods listed"},
		}}
	}
	return nil
}

func operatorLogWarnings(s subject) []Finding {
	o := s.ev.Operator
	if len(o.WarningLines) == 0 {
		return nil
	}
	ev := []string{fmt.Sprintf("%d warning/error line(s) among the last %d lines of pod %s", len(o.WarningLines), OperatorLogLines, o.Pod)}
	for _, l := range o.WarningLines {
		ev = append(ev, "log: "+l)
	}
	return []Finding{{
		Severity:   SeverityInfo,
		Likelihood: 25,
		Cause:      causes.OperatorLogWarnings,
		Evidence:   ev,
	}}
}

// ---- the run itself ----

func permissionMissing(s subject) []Finding {
	if len(s.ev.Missing) == 0 {
		return nil
	}
	ev := make([]string, 0, len(s.ev.Missing))
	for _, m := range s.ev.Missing {
		ev = append(ev, "forbidden: "+m)
	}
	return []Finding{{
		Severity:   SeverityInfo,
		Likelihood: 10,
		Cause:      causes.PermissionMissing,
		Evidence:   ev,
	}}
}

func gatherError(s subject) []Finding {
	if len(s.ev.Errors) == 0 {
		return nil
	}
	return []Finding{{
		Severity:   SeverityInfo,
		Likelihood: 10,
		Cause:      causes.GatherError,
		Evidence:   slices.Clone(s.ev.Errors),
	}}
}
