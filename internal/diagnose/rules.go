package diagnose

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/config"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/discovery"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logmatch"
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

	// The proxy's log.
	{id: "drops-funnel-relays-ipv6", perEndpoint: true, condition: true, check: dropsFunnelRelaysIPv6},
	{id: "drops-no-rules-matched", perEndpoint: true, condition: true, check: dropsNoRulesMatched},
	{id: "funnel-ingress-denied", perEndpoint: true, condition: true, check: funnelIngressDenied},
	{id: "certificate-not-issued", perEndpoint: true, condition: true, check: certificateNotIssued},

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
		if n := funnelRelayDrops(e.Logs); n > 0 {
			// Relays reaching a proxy without Funnel is the incident's pattern.
			f.Likelihood = 95
			f.Evidence = append(f.Evidence, fmt.Sprintf("its proxy dropped %d IPv6 connection(s) to port 443/80 with no rules matched (Funnel relays)", n))
		}
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
	if s.e.Endpoint.Funnel && s.compare.Endpoint.Funnel && funnelRelayDrops(s.e.Logs) > 0 {
		// Both ask for Funnel, relays are dropped at this one: the policy's
		// funnel nodeAttr covers the working one's tags only.
		likelihood = 92
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

// funnelRelayDrops counts no-rules-matched drops to the HTTPS/HTTP ports
// whose sources are IPv6 while none are IPv4: Funnel relays reach a proxy
// over the tailnet's IPv6 range only. It returns 0 when IPv4 sources were
// dropped too, which is the general ACL case.
func funnelRelayDrops(l LogSummary) int {
	v4, v6 := 0, 0
	for ev, n := range l.Events {
		if ev.Kind != logmatch.KindDrop || ev.Reason != logmatch.ReasonNoRulesMatched || ev.Port == logmatch.PortOther {
			continue
		}
		switch ev.Family {
		case logmatch.FamilyIPv4:
			v4 += n
		case logmatch.FamilyIPv6:
			v6 += n
		}
	}
	if v4 > 0 {
		return 0
	}
	return v6
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
	var out []string
	for _, s := range l.Matched {
		if s.Event.Kind == kind {
			out = append(out, "log: "+s.Line)
		}
	}
	return out
}

func dropsFunnelRelaysIPv6(s subject) []Finding {
	n := funnelRelayDrops(s.e.Logs)
	if n == 0 {
		return nil
	}
	f := Finding{
		Severity:   severityFor(s.e),
		Likelihood: likely(s.e, 90, 50),
		Cause:      causes.FunnelRelayTraffic,
		Evidence: append([]string{
			fmt.Sprintf("%d drop(s) \"no rules matched\" from IPv6 sources to port 443/80, none from IPv4, %s", n, logWindow(s.e.Logs, true)),
			"its proxy's tags: " + tagsOrDefaultOf(s.e),
		}, samplesOf(s.e.Logs, logmatch.KindDrop)...),
	}
	if s.e.Endpoint != nil && !s.e.Endpoint.Funnel {
		f.Evidence = append(f.Evidence, fmt.Sprintf("%s has no %s: \"true\" annotation", object(s.e), discovery.AnnotationFunnel))
		f.Next = append(f.Next, "enable Funnel on it if it is meant to be public (see funnel-annotation-differs)")
	}
	return []Finding{f}
}

func tagsOrDefaultOf(e *EndpointEvidence) string {
	if e.Endpoint == nil {
		return "the node's tags"
	}
	return tagsOrDefault(e.Endpoint)
}

func dropsNoRulesMatched(s subject) []Finding {
	if funnelRelayDrops(s.e.Logs) > 0 {
		return nil // the Funnel relay pattern says more
	}
	served := countEvents(s.e.Logs, func(ev logmatch.Event) bool {
		return ev.Kind == logmatch.KindDrop && ev.Reason == logmatch.ReasonNoRulesMatched && ev.Port != logmatch.PortOther
	})
	other := countEvents(s.e.Logs, func(ev logmatch.Event) bool {
		return ev.Kind == logmatch.KindDrop && ev.Reason == logmatch.ReasonNoRulesMatched && ev.Port == logmatch.PortOther
	})
	switch {
	case served > 0:
		return []Finding{{
			Severity:   severityFor(s.e),
			Likelihood: likely(s.e, 80, 45),
			Cause:      causes.ProxyDroppingTraffic,
			Evidence: append([]string{
				fmt.Sprintf("%d drop(s) \"no rules matched\" to port 443/80 (IPv4 sources among them), %s", served, logWindow(s.e.Logs, true)),
				"its proxy's tags: " + tagsOrDefaultOf(s.e),
			}, samplesOf(s.e.Logs, logmatch.KindDrop)...),
		}}
	case other > 0:
		return []Finding{{
			Severity:   SeverityInfo,
			Likelihood: 5,
			Cause:      causes.DropsToUnservedPorts,
			Evidence:   []string{fmt.Sprintf("%d drop(s) \"no rules matched\" to ports other than 443/80, %s", other, logWindow(s.e.Logs, true))},
		}}
	}
	return nil
}

func funnelIngressDenied(s subject) []Finding {
	n := countEvents(s.e.Logs, func(ev logmatch.Event) bool { return ev.Kind == logmatch.KindIngressDenied })
	if n == 0 {
		return nil
	}
	return []Finding{{
		Severity:   severityFor(s.e),
		Likelihood: likely(s.e, 85, 50),
		Cause:      causes.FunnelIngressDenied,
		Evidence: append([]string{fmt.Sprintf("%d \"ingress: denied; no ingress cap\" line(s) %s", n, logWindow(s.e.Logs, false)), "its proxy's tags: " + tagsOrDefaultOf(s.e)},
			samplesOf(s.e.Logs, logmatch.KindIngressDenied)...),
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
	if !fromLog {
		if other, ok := certificateSeen(s); ok {
			// A live handshake beats an Event that may be days old.
			severity, likelihood = SeverityInfo, 10
			ev = append(ev, other+" presented a certificate just now, so HTTPS is enabled: the Event is likely stale")
		}
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
