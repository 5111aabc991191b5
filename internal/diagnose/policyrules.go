package diagnose

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/config"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/discovery"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logmatch"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/causes"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/policy"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/policy/source"
)

// Rules over the tailnet policy's verdicts (REFERENCE.md §8, the policy
// rows): each "no" is a finding ranked by what else the evidence shows,
// each "unknown" a note that never ranks above a warning.

// policyLines quotes the policy lines a result rests on.
func policyLines(r policy.Result) []string {
	out := make([]string, 0, len(r.Evidence))
	for _, l := range r.Evidence {
		out = append(out, fmt.Sprintf("policy line %d: %s", l.N, l.Text))
	}
	return out
}

// linesRef names the lines a result rests on: "line 12", "lines 3, 12".
func linesRef(r policy.Result) string {
	if len(r.Evidence) == 0 {
		return "no such section in the policy"
	}
	ns := make([]string, 0, len(r.Evidence))
	for _, l := range r.Evidence {
		ns = append(ns, strconv.Itoa(l.N))
	}
	if len(ns) == 1 {
		return "line " + ns[0]
	}
	return "lines " + strings.Join(ns, ", ")
}

// policyEvidence is a result's reason and lines, and what was assumed.
func policyEvidence(e *EndpointEvidence, r policy.Result) []string {
	ev := append([]string{"the tailnet policy: " + r.Reason}, policyLines(r)...)
	if e.Policy.Assumed {
		ev = append(ev, fmt.Sprintf("assumed tags: no Ingress or Service claims %s, so it was checked with the default tags (%s, --tailnet.default-tags) and as a Funnel endpoint",
			e.Hostname, strings.Join(e.Policy.Checked.Tags, ", ")))
	}
	return ev
}

// fixNext is a result's fix as a step the user can paste.
func fixNext(r policy.Result) []string {
	if r.Fix == "" {
		return nil
	}
	return []string{"merge into the tailnet policy (append to the array, add to the object of the same name): " + r.Fix}
}

// capAssumed keeps a finding about a plain host, whose tags are only
// assumed, at most a warning.
func capAssumed(e *EndpointEvidence, f Finding) Finding {
	if e.Policy.Assumed && f.Severity == SeverityCritical {
		f.Severity, f.Likelihood = SeverityWarning, min(f.Likelihood, 50)
	}
	return f
}

// relaysArrived reports whether the log read shows any Funnel relay line.
func relaysArrived(l LogSummary) bool {
	return relayConnections(l) > 0 || relayTLSErrors(l, logmatch.TLSCauseNone) > 0 || relayDenials(l) > 0
}

func policyFunnelAttributeMissing(s subject) []Finding {
	e := s.e
	r, ok := e.Policy.Result(policy.FunnelAttribute, 0)
	if !ok || r.Verdict != policy.No {
		return nil
	}
	f := Finding{Cause: causes.PolicyFunnelAttributeMissing, Evidence: policyEvidence(e, r), Next: fixNext(r)}
	d, probed := directProbe(e)
	switch {
	case e.Policy.Assumed:
		// Whether a plain host uses Funnel, and how this machine reaches
		// it, is not known: a note, or a warning beside a failing probe.
		f.Severity, f.Likelihood = SeverityInfo, 10
		if probed && !d.Success {
			f.Severity, f.Likelihood = SeverityWarning, 50
		}
		if probed {
			f.Evidence = append(f.Evidence, probeLine(config.VantageDirect, d))
		}
	case probed && !d.Success && noRelayTraffic(e):
		// What a missing attribute looks like, and the policy says it is
		// missing: nothing explains the failure better.
		f.Severity, f.Likelihood = SeverityCritical, 97
		f.qualifier = ": no Funnel relay traffic reaches the proxy"
		f.Evidence = append(f.Evidence, probeLine(config.VantageDirect, d),
			fmt.Sprintf("no Funnel relay line %s: control routes no Funnel traffic to it, as without the attribute", logWindow(e.Logs, false)))
	case probed && !d.Success && e.Logs.Read && relaysArrived(e.Logs):
		f.Severity, f.Likelihood = SeverityWarning, 40
		f.Evidence = append(f.Evidence, probeLine(config.VantageDirect, d),
			"yet Funnel relays reach the proxy (see its log), which they do only with the attribute: the policy read is likely not the one in force; the failure is elsewhere")
	case probed && !d.Success:
		f.Severity, f.Likelihood = SeverityCritical, 85
		f.Evidence = append(f.Evidence, probeLine(config.VantageDirect, d),
			"the proxy's log was not read, so whether relays reach it is unknown")
	case probed:
		f.Severity, f.Likelihood = SeverityWarning, 30
		f.Evidence = append(f.Evidence, probeLine(config.VantageDirect, d),
			"the public probe works, which it does not without the attribute: the policy read is likely not the one in force (a file not pushed yet?); applied as it is, it stops Funnel")
	default:
		f.Severity, f.Likelihood = SeverityWarning, 60
		f.Evidence = append(f.Evidence, "not probed from the internet: the public will not reach it")
	}
	return []Finding{capAssumed(e, f)}
}

// tailnetRefused reports whether a tailnet probe failed the way a
// connection the proxy's packet filter drops fails: tailscaled's dial
// times out, or the handshake never starts.
func tailnetRefused(r prober.Result) bool {
	switch r.Reason {
	case prober.ReasonConnectTimeout, prober.ReasonConnectError, prober.ReasonTLSHandshakeTimeout, prober.ReasonTimeout:
		return !r.Success
	}
	return false
}

// dropsAtPort counts "no rules matched" drop lines to a served port.
func dropsAtPort(l LogSummary, port int) int {
	class := map[int]logmatch.PortClass{443: logmatch.Port443, 80: logmatch.Port80}[port]
	if class == logmatch.PortNone {
		return 0
	}
	return countEvents(l, func(ev logmatch.Event) bool {
		return ev.Kind == logmatch.KindDrop && ev.Reason == logmatch.ReasonNoRulesMatched && ev.Port == class
	})
}

func policyTailnetAccessDenied(s subject) []Finding {
	e := s.e
	if e.Policy == nil {
		return nil
	}
	var out []Finding
	for _, r := range e.Policy.Results {
		if r.Check != policy.TailnetAccess || r.Verdict != policy.No {
			continue
		}
		f := Finding{
			Cause:     causes.PolicyTailnetAccessDenied,
			qualifier: fmt.Sprintf(" on port %d", r.Port),
			Evidence:  policyEvidence(e, r),
			Next:      fixNext(r),
		}
		seen := false
		t, probed := e.Probes[config.VantageTailnet]
		// The probe is HTTPS: it tells about 443 only.
		if probed && r.Port == 443 && tailnetRefused(t) {
			seen = true
			f.Evidence = append(f.Evidence, probeLine(config.VantageTailnet, t)+": as a connection the proxy drops fails")
		}
		if n := dropsAtPort(e.Logs, r.Port); n > 0 {
			seen = true
			f.Evidence = append(f.Evidence, fmt.Sprintf("%d drop(s) \"no rules matched\" at port %d %s", n, r.Port, logWindow(e.Logs, true)))
		}
		switch {
		case seen:
			f.Severity, f.Likelihood = SeverityCritical, 90
		case probed && r.Port == 443 && t.Success:
			f.Severity, f.Likelihood = SeverityWarning, 35
			f.Evidence = append(f.Evidence, probeLine(config.VantageTailnet, t)+": the tailnet vantage's device is not among the clients checked, or the policy read is not the one in force")
		default:
			f.Severity, f.Likelihood = SeverityWarning, 45
			f.Evidence = append(f.Evidence, fmt.Sprintf("nothing fails yet: the proxy will drop connections from %s", policyClients(s.ev)))
		}
		out = append(out, capAssumed(e, f))
	}
	return out
}

// policyClients names the clients the access checks were for.
func policyClients(ev *Evidence) string {
	if ev.Policy != nil && ev.Policy.Clients != "" {
		return ev.Policy.Clients
	}
	return policy.DefaultClients
}

func policyTagUnowned(s subject) []Finding {
	e := s.e
	r, ok := e.Policy.Result(policy.TagOwners, 0)
	if !ok || r.Verdict != policy.No {
		return nil
	}
	f := Finding{Cause: causes.PolicyTagUnowned, Evidence: policyEvidence(e, r), Next: fixNext(r), Severity: SeverityWarning, Likelihood: 30}
	switch {
	case e.Policy.Assumed:
		f.Severity, f.Likelihood = SeverityInfo, 5
	case !e.Endpoint.Provisioned:
		f.Severity, f.Likelihood = SeverityCritical, 80
		f.Evidence = append(f.Evidence, object(e)+" is not provisioned: as when control refuses the proxy its tag")
	case slices.ContainsFunc(e.Pods, func(p discovery.ProxyPod) bool { return !p.Ready }):
		f.Severity, f.Likelihood = SeverityCritical, 75
		f.Evidence = append(f.Evidence, "a proxy pod is not ready: as when control refuses the proxy its tag")
	default:
		f.Evidence = append(f.Evidence, "its proxy is logged in: it got the tag before, and a new or re-created proxy will not")
	}
	return []Finding{f}
}

// checkNames say what a check is about, for a finding's title.
var checkNames = map[policy.Check]string{
	policy.FunnelAttribute: "whether its proxy's tags have the funnel attribute",
	policy.TagOwners:       "whether tagOwners lists its proxy's tags",
	policy.TailnetAccess:   "whether the tailnet clients may reach it on port %d",
	policy.ServiceApproval: "whether its ProxyGroup may host its Tailscale Service",
}

func policyCannotTell(s subject) []Finding {
	e := s.e
	if e.Policy == nil {
		return nil
	}
	var out []Finding
	for _, r := range e.Policy.Results {
		if r.Verdict != policy.Unknown {
			continue
		}
		what := checkNames[r.Check]
		if r.Check == policy.TailnetAccess {
			what = fmt.Sprintf(what, r.Port)
		}
		// Info always: it names what to look at, never a fault. Ranked
		// above other notes when it bears on what fails.
		likelihood := 5
		switch d, probed := directProbe(e); {
		case r.Check == policy.FunnelAttribute && probed && !d.Success,
			r.Check == policy.TailnetAccess && r.Port == 443 && tailnetRefused(e.Probes[config.VantageTailnet]):
			likelihood = 20
		}
		out = append(out, Finding{
			Cause:      causes.PolicyCannotTell,
			qualifier:  ": " + what,
			Severity:   SeverityInfo,
			Likelihood: likelihood,
			Evidence:   policyEvidence(e, r),
			Next:       fixNext(r),
		})
	}
	return out
}

// unreadableAdvice is the first step for a kind of read failure.
var unreadableAdvice = map[source.Kind]string{
	source.KindRead:         "check --tailnet.policy-file: the path, and that the volume holding it is mounted",
	source.KindCredential:   "check the credential file: it must hold only the key or secret",
	source.KindUnauthorized: "the credential is wrong, expired or revoked: create a new OAuth client (scope policy_file:read) or API access token",
	source.KindForbidden:    "the credential may not read the policy: give the OAuth client the policy_file:read scope",
	source.KindNotFound:     "check --tailnet.name ('-' is the credential's own tailnet)",
	source.KindTimeout:      "the API did not answer in time: run diagnose again, or with a longer --timeout",
}

func policyUnreadable(s subject) []Finding {
	p := s.ev.Policy
	if p == nil || p.Read || p.Syntax != nil {
		return nil
	}
	f := Finding{
		Severity:   SeverityInfo,
		Likelihood: 10,
		Cause:      causes.PolicyUnreadable,
		Evidence:   []string{fmt.Sprintf("%s (%s)", p.Error, p.ErrorKind), "nothing was checked against the tailnet policy"},
	}
	if a, ok := unreadableAdvice[p.ErrorKind]; ok {
		f.Next = []string{a}
	}
	return []Finding{f}
}

func policyInvalid(s subject) []Finding {
	p := s.ev.Policy
	if p == nil || p.Syntax == nil {
		return nil
	}
	f := Finding{
		Severity:   SeverityWarning,
		Likelihood: 30,
		Cause:      causes.PolicyInvalid,
		qualifier:  fmt.Sprintf(": line %d, column %d", p.Syntax.Line, p.Syntax.Column),
		Evidence: []string{
			fmt.Sprintf("%s, line %d, column %d: %s", p.Source, p.Syntax.Line, p.Syntax.Column, p.Syntax.Msg),
		},
	}
	if p.SyntaxLine != "" {
		f.Evidence = append(f.Evidence, fmt.Sprintf("policy line %d: %s", p.Syntax.Line, p.SyntaxLine))
	}
	f.Evidence = append(f.Evidence, "nothing was checked against the tailnet policy")
	return []Finding{f}
}

// ---- what the policy adds to the Funnel story's findings ----

// funnelPolicy is the endpoint's funnel attribute result, when the
// policy was read and the endpoint uses Funnel.
func funnelPolicy(e *EndpointEvidence) (policy.Result, bool) {
	return e.Policy.Result(policy.FunnelAttribute, 0)
}

// policyConfirmsNoFunnel is the evidence line of a Funnel finding the
// policy's "no" confirms; "" without one.
func policyConfirmsNoFunnel(e *EndpointEvidence) string {
	if r, ok := funnelPolicy(e); ok && r.Verdict == policy.No {
		return "the policy confirms (" + linesRef(r) + "): " + r.Reason + " (see " + string(causes.PolicyFunnelAttributeMissing) + ")"
	}
	return ""
}

// policyGivesFunnel is the evidence line of a Funnel finding whose cause
// no policy change fixes, when the policy gives the attribute; "" else.
func policyGivesFunnel(e *EndpointEvidence, then string) string {
	if r, ok := funnelPolicy(e); ok && r.Verdict == policy.Yes {
		return "the tailnet policy gives its tags the funnel attribute (" + linesRef(r) + "): " + then
	}
	return ""
}

// noPolicyFixesBug ends the policy's line on a finding of an upstream bug,
// so that nobody chases ACLs for it.
const noPolicyFixesBug = "no policy change fixes this one (an upstream bug); do not change ACLs, grants or nodeAttrs for it"

// appendNonEmpty appends the lines that are not "".
func appendNonEmpty(to []string, lines ...string) []string {
	for _, l := range lines {
		if l != "" {
			to = append(to, l)
		}
	}
	return to
}
