// Package diagnose does the investigation of a failing ts.net endpoint in
// one go: it gathers the evidence a person collects by hand (the endpoint's
// Kubernetes objects and Events, its proxy pods, the operator, recent proxy
// log lines, live probes) and runs a table of small rules over it that name
// the likely causes, ranked, each with its evidence and what to do next.
//
// Gathering (gather.go) is the only I/O; rules (rules.go) and reports
// (report.go) are pure functions of Evidence, so scenarios are table tests.
package diagnose

import (
	"time"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/discovery"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logmatch"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logs"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/proxymetrics"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/causes"
)

// Evidence is everything gathered for one run.
type Evidence struct {
	GatheredAt time.Time
	Endpoints  []EndpointEvidence // the endpoints asked about (all discovered ones by default)
	// Compare is the working endpoint given with --compare, nil without.
	Compare  *EndpointEvidence
	Operator OperatorEvidence
	// Missing lists permissions the run lacked ("list endpointslices in
	// namespace kube-system"); what needed them is absent from the evidence.
	Missing []string
	// Errors are other failures while gathering, by what was being gathered.
	Errors []string
	// Policy is how reading the tailnet policy went; nil when no policy
	// source was given.
	Policy *PolicyEvidence
}

// EndpointEvidence is what is known about one endpoint.
type EndpointEvidence struct {
	// Hostname is the endpoint's hostname label (its FQDN, or the requested
	// name while not provisioned), or the name asked for when no object
	// claims it.
	Hostname string
	// Endpoint is the discovered object; nil when no Ingress or Service
	// claims the hostname (a static name, or a typo).
	Endpoint *discovery.Endpoint
	Warnings []Warning // Warning Events on the Ingress/Service
	Pods     []discovery.ProxyPod
	// PodsListed is true when the operator namespace's pods could be
	// listed, so that no Pods means the endpoint has no proxy pod.
	PodsListed bool
	Logs       LogSummary
	// Probes by vantage ("direct", "tailnet").
	Probes  map[string]prober.Result
	Backend BackendEvidence
	// Exact are the proxy pods' own drop counters, one per proxy pod
	// (pending ones left out), in the order of Pods.
	Exact []ExactDrops
	// Policy is what the tailnet policy says about the endpoint; nil when
	// no policy was read.
	Policy *EndpointPolicy
}

// ExactDrops is what one proxy pod's tailscaled counted itself: its user
// metrics (REFERENCE.md §4), read through the API server's pod proxy.
// Unlike log lines they count every dropped packet, and never the peer-API
// SYNs tailscaled logs as drops and lets through.
type ExactDrops struct {
	Pod   string // namespace/name
	State ExactState
	// Drops are the counters since tailscaled started (State ExactRead).
	Drops proxymetrics.Drops
	// ErrorKind and Error say why a read failed (State ExactFailed).
	ErrorKind proxymetrics.ErrorKind
	Error     string
}

// ExactState is how reading a proxy pod's counters went.
type ExactState string

const (
	ExactRead      ExactState = "read"
	ExactNoPort    ExactState = "no_port"   // no "metrics" container port: ProxyClass spec.metrics.enable is off
	ExactForbidden ExactState = "forbidden" // the run may not get pods/proxy (see Evidence.Missing)
	ExactFailed    ExactState = "failed"    // the read failed (see Evidence.Errors)
)

// Warning is one Warning Event on the endpoint's object.
type Warning struct {
	Reason  string
	Message string
	Count   int32
	Last    time.Time
}

// LogSummary is what the recent lines of the endpoint's proxy logs say.
type LogSummary struct {
	Read      bool // false when no log could be read (see Evidence.Missing/Errors)
	Lines     int  // lines read
	Since     time.Time
	Events    map[logmatch.Event]int // counted as the exporter counts them (Length and Custom zeroed)
	Samples   []string               // a few matching lines, verbatim, for the report
	RateLimit bool                   // tailscaled suppressed filter log lines: counts are a lower bound
	// Matched are the Samples with the event each line matched (same
	// lines, same order): what rules read.
	Matched []logs.Sample
	// Drops counts the drop lines by where they went, as the exporter
	// classifies them (logmatch.Classify).
	Drops map[DropKey]int
	// Relay are the latest Funnel relay lines of each log read (peer-API
	// drops and TLS handshake errors from IPv6, ingress denials), oldest
	// first per log: a relay's drop and its handshake error are paired by
	// address from them.
	Relay []logs.Sample
	// Proxies is what each log read says about its proxy, one per proxy
	// pod (or host log) read.
	Proxies []ProxyFacts
}

// DropKey is one kind of drop line and where it went.
type DropKey struct {
	Reason logmatch.Reason
	Family logmatch.Family // of the source
	Class  logmatch.DropClass
	// Source is how the peer API port compared with was known
	// (PortSourceNone for a served port, which needs none).
	Source logmatch.PortSource
}

// ProxyFacts is what one proxy log read tells about its proxy.
type ProxyFacts struct {
	Pod string // namespace/name, or the host log's path
	// Version is tailscaled's version, from VersionFrom; zero when unknown.
	Version     logmatch.Version
	VersionFrom VersionSource
	// PeerAPI are the peer API ports learned from "peerapi: serving on"
	// lines (the head of the log, or the tail); PeerAPIFrom says how the
	// port its drops were classified with was known.
	PeerAPI     logmatch.PeerAPIPorts
	PeerAPIFrom logmatch.PortSource
	HeadRead    bool // the start of the log was read, not only its end
}

// VersionSource is where a proxy's version was read.
type VersionSource string

const (
	VersionUnknown   VersionSource = ""      // neither says (a digest, "stable", no start line)
	VersionFromLog   VersionSource = "log"   // "Program starting: v..." in its log
	VersionFromImage VersionSource = "image" // its image tag
)

// BackendEvidence is the Service behind the endpoint (Traefik for the
// cluster tunnel) and whether it has somewhere to send traffic.
type BackendEvidence struct {
	Service   string // namespace/name:port, "" when the endpoint names none
	Known     bool   // whether the Service exists could be read
	Found     bool   // the Service exists
	Checked   bool   // endpoint readiness could be read (EndpointSlices)
	ReadyAddr int    // ready endpoint addresses
}

// OperatorEvidence is the Tailscale operator itself.
type OperatorEvidence struct {
	Found        bool
	Pod          string
	Version      string // image tag
	Ready        bool
	WarningLines []string // recent warning/error lines of its log
}

// Severity ranks findings.
type Severity string

const (
	SeverityCritical Severity = "critical" // explains the failure
	SeverityWarning  Severity = "warning"  // likely contributes, or will
	SeverityInfo     Severity = "info"     // worth knowing, not a cause
)

// Finding is one conclusion of a rule.
type Finding struct {
	Rule     string // the rule's ID, stable for tools (e.g. "funnel-annotation-differs")
	Hostname string // the endpoint it is about
	Severity Severity
	// Likelihood orders findings: how likely this explains the failure,
	// 0..100. Rules set it; the report sorts by it.
	Likelihood int
	Title      string   // one line: the cause's title, and what this finding adds
	Evidence   []string // the facts behind it, quoted from the evidence
	Next       []string // what to do or check next: the rule's own steps, then the cause's
	// Cause is the catalog entry the finding is an instance of: its
	// meaning, next steps and runbook (internal/causes).
	Cause causes.ID
	// qualifier is what a rule adds to the cause's title ("(direct
	// vantage)"); Diagnose writes the title from both.
	qualifier string
}

// Report is the result of a run.
type Report struct {
	Evidence Evidence
	Findings []Finding // sorted, most likely first
}

// Problems reports whether any finding is critical or a warning; the
// command's exit code says so.
func (r Report) Problems() bool {
	for _, f := range r.Findings {
		if f.Severity != SeverityInfo {
			return true
		}
	}
	return false
}
