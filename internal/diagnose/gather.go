package diagnose

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/config"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/discovery"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logmatch"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logs"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/kubeapi"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/policy"
)

// Defaults of GatherOptions.
const (
	DefaultIngressClass      = "tailscale"
	DefaultOperatorNamespace = "tailscale"
	DefaultLogLines          = 500
	DefaultLogSince          = 15 * time.Minute
)

// Bounds of what is kept for the report.
const (
	// MaxLogSamples is how many matching proxy log lines an endpoint keeps.
	MaxLogSamples = 5
	// MaxRelaySamples is how many of the latest Funnel relay lines each
	// proxy log keeps apart, to pair a relay's drop with its handshake
	// error.
	MaxRelaySamples = 20
	// MaxSampleLength cuts a kept line (proxy or operator); longer ones end
	// in "…".
	MaxSampleLength = logs.MaxSampleLength
	// OperatorLogLines is how much of the operator's log is read.
	OperatorLogLines = 200
	// MaxOperatorWarnings is how many of its warning/error lines are kept,
	// the most recent ones.
	MaxOperatorWarnings = 10
)

// Labels and names of the operator's Deployment (cmd/k8s-operator/deploy
// in the Tailscale repository: Deployment "operator", pod label
// app=operator, container "operator").
const (
	operatorLabel     = "app"
	operatorAppValue  = "operator"
	operatorContainer = "operator"
	operatorPrefix    = "operator"
)

// Vantages probed, in this order.
var probeVantages = []string{config.VantageDirect, config.VantageTailnet}

// parallelism bounds concurrent API calls and probes.
const parallelism = 8

// ProbeFunc probes hostname from a vantage. ok is false when the vantage is
// not configured (no result then).
type ProbeFunc func(ctx context.Context, hostname, vantage string) (res prober.Result, ok bool)

// GatherOptions configures Gather.
type GatherOptions struct {
	// Client reads the cluster; nil when there is none (only probes run).
	Client kubernetes.Interface
	// IngressClass of the operator's Ingresses; default DefaultIngressClass.
	IngressClass string
	// OperatorNamespace holds the operator and its proxy pods; default
	// DefaultOperatorNamespace.
	OperatorNamespace string
	// Namespaces restricts Ingresses, Services and Events to these, as
	// the exporter's --kubernetes.namespace does; empty: all.
	Namespaces []string
	// Hostnames to diagnose: an obtained FQDN, a requested name or a first
	// label ("k8s"). Empty: every discovered endpoint.
	Hostnames []string
	// Compare is a working endpoint to set side by side; "" for none.
	Compare string
	// Probe probes one hostname from one vantage; nil: no probes.
	Probe ProbeFunc
	// Policy is where the tailnet policy comes from, read once per run
	// and checked for every endpoint; a zero Policy: none.
	Policy PolicyOptions
	// LogLines is how many of the latest lines of each proxy log are read;
	// default DefaultLogLines.
	LogLines int
	// LogSince limits proxy logs to this recent past; default DefaultLogSince.
	LogSince time.Duration
	// Matcher classifies log lines; nil matches the built-in events only.
	Matcher *logmatch.Matcher
	// Now is the clock; default time.Now.
	Now func() time.Time
	// HostLogs are tailscaled logs of plain hosts (no proxy pod): the last
	// LogLines lines of each are read for the endpoint it names, as pod
	// logs are for proxy pods.
	HostLogs []HostLog
}

// HostLog is a tailscaled log file and the hostname of its node.
type HostLog struct {
	Hostname string
	Path     string
}

func (o GatherOptions) withDefaults() GatherOptions {
	if o.IngressClass == "" {
		o.IngressClass = DefaultIngressClass
	}
	if o.OperatorNamespace == "" {
		o.OperatorNamespace = DefaultOperatorNamespace
	}
	if o.LogLines <= 0 {
		o.LogLines = DefaultLogLines
	}
	if o.LogSince <= 0 {
		o.LogSince = DefaultLogSince
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Gather collects the evidence about the endpoints asked for (every
// discovered one by default) and the Compare endpoint. It only reads, with
// plain List and Get calls: the objects come from discovery's Snapshot
// (list ingresses, services and Warning events, cluster-wide unless
// Namespaces says otherwise, and proxy pods in the operator namespace, as
// the exporter's informers list them); then get pods/log and list pods in
// the operator namespace, which is the exporter's RBAC too, plus list
// endpointslices where a backend lives, which it may lack, and get
// pods/proxy in the operator namespace for the proxies' exact drop counts,
// which the exporter never has (it dials pods itself). A permission
// the run lacks becomes an entry of Evidence.Missing and other API
// failures entries of Evidence.Errors; the run goes on without what they
// would have given. An API that cannot be
// reached (or rejects the credentials) at the first call stops the
// Kubernetes half, so that every further call does not wait for it too.
//
// The error is non-nil only when ctx ended before everything was gathered;
// the evidence gathered until then is returned with it.
func Gather(ctx context.Context, opts GatherOptions) (Evidence, error) {
	opts = opts.withDefaults()
	g := &gatherer{opts: opts, client: opts.Client, now: opts.Now()}
	ev := Evidence{GatheredAt: g.now}

	if g.client != nil {
		g.snapshot(ctx)
	}
	all := g.snap.Endpoints
	ev.Endpoints = selectEndpoints(all, opts.Hostnames)
	if opts.Compare != "" {
		if c := selectEndpoints(all, []string{opts.Compare}); len(c) > 0 {
			ev.Compare = &c[0]
		}
	}
	targets := make([]*EndpointEvidence, 0, len(ev.Endpoints)+1)
	for i := range ev.Endpoints {
		targets = append(targets, &ev.Endpoints[i])
	}
	if ev.Compare != nil {
		targets = append(targets, ev.Compare)
	}

	// The policy is read while the rest is gathered: an API that answers
	// slowly costs no more than the slowest probe.
	var (
		pol   *policy.Policy
		polEv *PolicyEvidence
		polWG sync.WaitGroup
	)
	if opts.Policy.Source != nil {
		polWG.Go(func() { polEv, pol = readPolicy(ctx, opts.Policy) })
	}

	// Probes take seconds when an endpoint fails; they run while the
	// cluster is read, into their own slots.
	probes := make([]map[string]prober.Result, len(targets))
	var probeWG sync.WaitGroup
	if opts.Probe != nil {
		sem := make(chan struct{}, parallelism)
		for i, t := range targets {
			name, ok := probeTarget(t)
			if !ok {
				continue
			}
			probeWG.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				probes[i] = probeAll(ctx, opts.Probe, name)
			})
		}
	}

	if g.client != nil {
		g.cluster(ctx, &ev, targets)
	}
	probeWG.Wait()
	for i, t := range targets {
		t.Probes = probes[i]
	}
	// The logs are read once the probes are done, so that the window
	// holds what the probes' own connections made the proxy log: a
	// public probe that reaches the proxy through a Funnel relay leaves a
	// relay line, and one that does not, none.
	if g.client != nil {
		g.proxyLogs(ctx, targets)
	}
	g.hostLogs(targets)
	polWG.Wait()
	ev.Policy = polEv
	checkAll(pol, opts.Policy, targets)

	ev.Missing = sortedUniqueStrings(g.missing)
	ev.Errors = sortedUniqueStrings(g.errors)
	if err := outOfTime(ctx); err != nil {
		return ev, fmt.Errorf("gather evidence: %w", err)
	}
	return ev, nil
}

// outOfTime is ctx.Err(), or context.DeadlineExceeded once ctx's deadline
// has passed. A probe cut at the deadline by its connection's deadline can
// return before the context's own timer has marked it done, and the
// evidence is then just as incomplete.
func outOfTime(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

// gatherer holds what one Gather run shares between its parts.
type gatherer struct {
	opts   GatherOptions
	client kubernetes.Interface // nil once the API proved unreachable
	now    time.Time

	// snap is what discovery lists: endpoints, proxy pods, Warnings, and
	// which Services exist (to find backends without another call).
	snap       discovery.Snapshot
	podsListed bool // the proxy pods were listed

	mu       sync.Mutex
	missing  []string
	errors   []string
	podLogs  perPod[proxyLog]
	podExact perPod[ExactDrops]
}

// perPod holds what was read of each proxy pod, read once per run: a
// ProxyGroup pod serves several endpoints.
type perPod[T any] struct {
	mu    sync.Mutex
	byPod map[string]*onceValue[T] // by pod name
}

type onceValue[T any] struct {
	once sync.Once
	v    T
}

// get returns what read returns for pod, calling read once per pod.
func (m *perPod[T]) get(pod string, read func() T) T {
	m.mu.Lock()
	if m.byPod == nil {
		m.byPod = map[string]*onceValue[T]{}
	}
	v, ok := m.byPod[pod]
	if !ok {
		v = &onceValue[T]{}
		m.byPod[pod] = v
	}
	m.mu.Unlock()
	v.once.Do(func() { v.v = read() })
	return v.v
}

// permission is one RBAC permission, as Evidence.Missing names it.
type permission struct {
	verb      string
	resource  string // with its API group unless core: "endpointslices.discovery.k8s.io", "pods/log"
	namespace string // "" for all namespaces
}

func (a permission) String() string {
	if a.namespace == "" {
		return a.verb + " " + a.resource + " in all namespaces"
	}
	return a.verb + " " + a.resource + " in namespace " + a.namespace
}

// failed records a failed API call: a missing permission, or an error
// naming what was being read. Credentials the API does not accept (401)
// are an error of the run, not a permission to grant.
func (g *gatherer) failed(a permission, what string, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if kubeapi.Classify(err) == kubeapi.Forbidden && !kubeapi.Unusable(err) {
		g.missing = append(g.missing, a.String())
		return
	}
	g.errors = append(g.errors, fmt.Sprintf("%s: %v", what, err))
}

func (g *gatherer) errorf(format string, args ...any) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.errors = append(g.errors, fmt.Sprintf(format, args...))
}

// snapshot lists the objects as discovery does and records the lists that
// failed. An API that cannot be used at all ends the Kubernetes half: every
// further call would fail the same way, each after its own timeout, so the
// evidence is the probes alone.
func (g *gatherer) snapshot(ctx context.Context) {
	d := discovery.New(g.client, discovery.Options{
		IngressClass:      g.opts.IngressClass,
		OperatorNamespace: g.opts.OperatorNamespace,
		Namespaces:        g.opts.Namespaces,
	})
	g.snap = d.Snapshot(ctx)
	g.podsListed = true
	for _, le := range g.snap.Errors {
		a, what := listPermission(le)
		g.failed(a, what, le.Err)
		if le.Resource == discovery.ResourcePods {
			g.podsListed = false
		}
		if kubeapi.Unusable(le.Err) && ctx.Err() == nil {
			g.client = nil
		}
	}
}

// listPermission names the permission a failed list of discovery's needed
// and what it was reading.
func listPermission(le discovery.ListError) (permission, string) {
	a := permission{verb: "list", resource: le.Resource, namespace: le.Namespace}
	what := "list " + le.Resource
	switch le.Resource {
	case discovery.ResourceIngresses:
		a.resource, what = "ingresses.networking.k8s.io", "list Ingresses"
	case discovery.ResourceServices:
		what = "list Services"
	case discovery.ResourceEvents:
		what = "list Warning Events"
	}
	if le.Namespace != "" {
		what += " in namespace " + le.Namespace
	}
	return a, what
}

// selectEndpoints returns the evidence skeletons of the endpoints asked
// for: every endpoint when hostnames is empty, else for each hostname the
// endpoints it names best (see matchRank), or one without Endpoint when no
// object claims it.
func selectEndpoints(all []discovery.Endpoint, hostnames []string) []EndpointEvidence {
	var out []EndpointEvidence
	if len(hostnames) == 0 {
		for i := range all {
			e := all[i]
			out = append(out, EndpointEvidence{Hostname: e.HostnameLabel(), Endpoint: &e})
		}
		return out
	}
	seen := map[string]bool{}
	for _, h := range hostnames {
		h = strings.TrimSuffix(strings.TrimSpace(h), ".")
		if h == "" || seen[strings.ToLower(h)] {
			continue
		}
		seen[strings.ToLower(h)] = true
		best, found := 0, false
		for _, e := range all {
			best = max(best, matchRank(e, h))
		}
		for i := range all {
			if best > 0 && matchRank(all[i], h) == best {
				e := all[i]
				// A provisioned endpoint goes by its FQDN, whatever the
				// user typed: the hostname label of its metrics. One not
				// provisioned keeps the name asked for, which may be an
				// FQDN worth probing.
				name := h
				if e.Provisioned {
					name = e.Hostname
				}
				out = append(out, EndpointEvidence{Hostname: name, Endpoint: &e})
				found = true
			}
		}
		if !found {
			out = append(out, EndpointEvidence{Hostname: h})
		}
	}
	return out
}

// matchRank says how well hostname h names e: 3 for the obtained FQDN, 2
// for its first label ("k8s" for k8s.tailnet.ts.net), 1 for the requested
// name, given alone or as the first label of an FQDN (an endpoint not
// provisioned yet, or suffixed to k8s-1), 0 for no match. Device names are
// case-insensitive.
func matchRank(e discovery.Endpoint, h string) int {
	first, _, _ := strings.Cut(h, ".")
	obtained, _, _ := strings.Cut(e.Hostname, ".")
	switch {
	case e.Hostname != "" && strings.EqualFold(e.Hostname, h):
		return 3
	case e.Hostname != "" && strings.EqualFold(obtained, h):
		return 2
	case strings.EqualFold(e.RequestedHostname, h) || strings.EqualFold(e.RequestedHostname, first):
		return 1
	}
	return 0
}

// probeTarget is the name to probe: the endpoint's FQDN, or the name asked
// for when no object claims it. An endpoint without a hostname yet is
// probed only when asked for by an FQDN.
func probeTarget(t *EndpointEvidence) (string, bool) {
	if t.Endpoint == nil {
		return t.Hostname, t.Hostname != ""
	}
	if name, ok := t.Endpoint.Target(); ok {
		return name, true
	}
	return t.Hostname, strings.Contains(t.Hostname, ".")
}

func probeAll(ctx context.Context, probe ProbeFunc, name string) map[string]prober.Result {
	var out map[string]prober.Result
	for _, v := range probeVantages {
		if ctx.Err() != nil {
			break
		}
		res, ok := probe(ctx, name, v)
		if !ok {
			continue
		}
		if out == nil {
			out = map[string]prober.Result{}
		}
		out[v] = res
	}
	return out
}

// cluster gathers the Kubernetes evidence of every target and the operator.
func (g *gatherer) cluster(ctx context.Context, ev *Evidence, targets []*EndpointEvidence) {
	if g.client == nil {
		return
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallelism)
	run := func(f func()) {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			f()
		})
	}
	for _, t := range targets {
		if t.Endpoint == nil {
			continue
		}
		run(func() { g.endpoint(ctx, t) })
	}
	run(func() { ev.Operator = g.operator(ctx) })
	wg.Wait()
}

// endpoint gathers the Kubernetes evidence of one discovered endpoint.
func (g *gatherer) endpoint(ctx context.Context, t *EndpointEvidence) {
	e := *t.Endpoint
	for _, w := range g.snap.WarningsOf(e.Object()) {
		t.Warnings = append(t.Warnings, Warning{Reason: w.EventReason(), Message: w.Message, Count: w.Count, Last: w.Last})
	}
	t.PodsListed = g.podsListed
	if g.podsListed {
		for _, p := range g.snap.ProxyPods {
			if p.Serves(e) {
				t.Pods = append(t.Pods, p)
			}
		}
	}
	t.Backend = g.backend(ctx, e)
}

// proxyLogs reads the logs of every target's proxy pods, then their exact
// counters: read after the log, a drop the log shows is counted too.
func (g *gatherer) proxyLogs(ctx context.Context, targets []*EndpointEvidence) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallelism)
	for _, t := range targets {
		if t.Endpoint == nil {
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			t.Logs = g.logs(ctx, t.Pods)
			t.Exact = g.exact(ctx, t.Pods)
		})
	}
	wg.Wait()
}

// proxyLog is what one proxy pod's log said.
type proxyLog struct {
	read   bool
	counts logs.TailCounts
}

// tail is how much of a proxy log is read, and how it is counted.
func (g *gatherer) tail() logs.Tail {
	return logs.Tail{Lines: g.opts.LogLines, Since: g.opts.LogSince, Samples: MaxLogSamples, RelaySamples: MaxRelaySamples, Matcher: g.opts.Matcher}
}

// logs sums up the logs of an endpoint's proxy pods. Pending pods have no
// log yet and are left out.
func (g *gatherer) logs(ctx context.Context, pods []discovery.ProxyPod) LogSummary {
	s := LogSummary{Since: g.now.Add(-g.opts.LogSince)}
	for _, p := range pods {
		if p.Phase == string(corev1.PodPending) {
			continue
		}
		pl := g.podLogs.get(p.Name, func() proxyLog { return g.readProxyLog(ctx, p) })
		if pl.read {
			s = mergeLogs(s, pl.counts, p.Namespace+"/"+p.Name, p.Version)
		}
	}
	return s
}

// mergeLogs adds what one log read counted to a summary: the log of pod
// (or a host log's path), whose image tag is imageTag ("" for a host).
func mergeLogs(s LogSummary, c logs.TailCounts, pod, imageTag string) LogSummary {
	s.Read = true
	s.Lines += int(c.Lines)
	s.Proxies = append(s.Proxies, proxyFacts(c, pod, imageTag))
	for k, n := range c.Classified {
		if k.Event.Kind != logmatch.KindDrop {
			continue
		}
		if s.Drops == nil {
			s.Drops = map[DropKey]int{}
		}
		s.Drops[DropKey{Reason: k.Event.Reason, Family: k.Event.Family, Class: k.Class, Source: k.Source}] += int(n)
	}
	s.Relay = append(s.Relay, c.Relay...)
	for ev, n := range c.Events {
		if s.Events == nil {
			s.Events = map[logmatch.Event]int{}
		}
		s.Events[ev] += int(n)
		if ev.Kind == logmatch.KindRateLimit && ev.FilterFormat {
			s.RateLimit = true
		}
	}
	for _, k := range c.Samples {
		if len(s.Samples) < MaxLogSamples {
			s.Samples = append(s.Samples, k.Line)
			s.Matched = append(s.Matched, k)
		}
	}
	return s
}

// proxyFacts is what one log read says about its proxy. The version
// comes from the log's "Program starting" line, else from the image tag
// (v1.102.1, 1.102.1, unstable-v1.103.5; not stable, latest or a digest).
func proxyFacts(c logs.TailCounts, pod, imageTag string) ProxyFacts {
	f := ProxyFacts{Pod: pod, Version: c.Facts.Version, PeerAPI: c.Facts.Ports, HeadRead: c.HeadRead}
	if f.Version != (logmatch.Version{}) {
		f.VersionFrom = VersionFromLog
	} else if v, ok := logmatch.ParseVersion(strings.TrimPrefix(imageTag, "unstable-")); ok {
		f.Version, f.VersionFrom = v, VersionFromImage
	}
	f.PeerAPIFrom = logmatch.PortSourceUnknown
	if f.PeerAPI != (logmatch.PeerAPIPorts{}) {
		f.PeerAPIFrom = logmatch.PortSourceLearned
	} else {
		for k := range c.Classified {
			if k.Source == logmatch.PortSourceInferred {
				f.PeerAPIFrom = logmatch.PortSourceInferred
			}
		}
	}
	return f
}

// readProxyLog reads the start of a proxy pod's tailscale container log
// (for its peer API port and version) and its latest lines (at most
// LogLines, none older than LogSince) as the exporter reads them.
func (g *gatherer) readProxyLog(ctx context.Context, p discovery.ProxyPod) proxyLog {
	counts, headErr, err := g.tail().ReadPod(ctx, g.client, logs.PodRef{Namespace: p.Namespace, Name: p.Name, UID: p.UID})
	what := fmt.Sprintf("read log of proxy pod %s/%s", p.Namespace, p.Name)
	if err != nil && counts.Lines == 0 && !counts.HeadRead {
		g.failed(permission{"get", "pods/log", p.Namespace}, what, err)
		return proxyLog{}
	}
	if err != nil {
		g.errorf("%s: %v", what, err)
	}
	if headErr != nil && ctx.Err() == nil {
		g.errorf("read the start of the log of proxy pod %s/%s (its peer API port is inferred): %v", p.Namespace, p.Name, headErr)
	}
	return proxyLog{read: true, counts: counts}
}

// hostLogs reads the HostLogs files into the evidence of the targets they
// name (matched as hostnames asked for are; a file naming no target is
// reported as an error).
func (g *gatherer) hostLogs(targets []*EndpointEvidence) {
	for _, hl := range g.opts.HostLogs {
		name, path := hl.Hostname, hl.Path
		var matched []*EndpointEvidence
		for _, t := range targets {
			if strings.EqualFold(t.Hostname, name) || t.Endpoint != nil && matchRank(*t.Endpoint, name) > 0 {
				matched = append(matched, t)
			}
		}
		if len(matched) == 0 {
			g.errorf("log file %s: no endpoint asked about is named %q", path, name)
			continue
		}
		counts, err := g.tail().ReadFile(path)
		if err != nil {
			g.errorf("log file %s: %v", path, err)
			continue
		}
		for _, t := range matched {
			t.Logs = mergeLogs(t.Logs, counts, path, "")
		}
	}
}

// backend finds the Service an endpoint sends traffic to and counts its
// ready addresses from EndpointSlices.
func (g *gatherer) backend(ctx context.Context, e discovery.Endpoint) BackendEvidence {
	if e.Backend == "" {
		return BackendEvidence{}
	}
	name, _, _ := strings.Cut(e.Backend, ":")
	b := BackendEvidence{Service: e.Namespace + "/" + e.Backend}
	if found, known := g.snap.HasService(e.Namespace, name); known {
		b.Found, b.Known = found, true
	} else {
		// The cluster-wide list failed; this namespace may still be
		// readable. List, not Get: the exporter's RBAC has no get.
		l, err := g.client.CoreV1().Services(e.Namespace).List(ctx, metav1.ListOptions{
			FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String(),
		})
		if err != nil {
			g.failed(permission{"list", "services", e.Namespace}, fmt.Sprintf("find backend Service %s/%s", e.Namespace, name), err)
			return b
		}
		b.Found, b.Known = len(l.Items) > 0, true
	}
	if !b.Found {
		return b
	}
	l, err := g.client.DiscoveryV1().EndpointSlices(e.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + name,
	})
	if err != nil {
		g.failed(permission{"list", "endpointslices.discovery.k8s.io", e.Namespace}, fmt.Sprintf("list EndpointSlices of Service %s/%s", e.Namespace, name), err)
		return b
	}
	b.Checked = true
	b.ReadyAddr = readyAddresses(l.Items)
	return b
}

// readyAddresses counts the distinct addresses of ready endpoints (a nil
// ready condition means ready).
func readyAddresses(items []discoveryv1.EndpointSlice) int {
	ready := map[string]bool{}
	for _, s := range items {
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, a := range ep.Addresses {
				ready[a] = true
			}
		}
	}
	return len(ready)
}

// operator finds the operator's pod in the operator namespace, its version
// and the warning/error lines at the end of its log.
func (g *gatherer) operator(ctx context.Context) OperatorEvidence {
	var o OperatorEvidence
	ns := g.opts.OperatorNamespace
	// Every pod but the proxies: the operator and whatever else shares its
	// namespace, a handful.
	l, err := g.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: discovery.LabelManaged + "!=true"})
	if err != nil {
		g.failed(permission{"list", "pods", ns}, "list pods in namespace "+ns, err)
		return o
	}
	pod := operatorPod(l.Items)
	if pod == nil {
		return o
	}
	o.Found, o.Pod = true, pod.Name
	container := ""
	for _, c := range pod.Spec.Containers {
		if c.Name == operatorContainer || container == "" {
			container = c.Name
			o.Version = discovery.ImageVersion(c.Image)
		}
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			o.Ready = c.Status == corev1.ConditionTrue
		}
	}
	if pod.Status.Phase == corev1.PodPending {
		return o
	}
	tail := int64(OperatorLogLines)
	rc, err := g.client.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{
		Container: container, TailLines: &tail, Timestamps: true,
	}).Stream(ctx)
	if err != nil {
		g.failed(permission{"get", "pods/log", pod.Namespace}, fmt.Sprintf("read log of operator pod %s/%s", pod.Namespace, pod.Name), err)
		return o
	}
	defer rc.Close()
	// The operator's lines are not tailscaled's: no Reader, only a filter.
	lr := logmatch.NewLineReader(rc, 0)
	for {
		line, _, err := lr.Next()
		if line != nil {
			if _, msg, _ := logmatch.SplitKubeTimestamp(line); operatorWarning(msg) {
				if len(o.WarningLines) == MaxOperatorWarnings {
					o.WarningLines = o.WarningLines[1:]
				}
				o.WarningLines = append(o.WarningLines, logs.SampleLine(msg))
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				g.errorf("read log of operator pod %s/%s: %v", pod.Namespace, pod.Name, err)
			}
			return o
		}
	}
}

// operatorPod picks the operator among the pods of its namespace: the
// Deployment's label app=operator, else a name starting with "operator"
// (an operator installed another way); proxy pods never. Of several (a
// rollout), a ready one, then the newest.
func operatorPod(pods []corev1.Pod) *corev1.Pod {
	var best *corev1.Pod
	rank := func(p *corev1.Pod) (int, bool, time.Time) {
		labelled := 0
		if p.Labels[operatorLabel] == operatorAppValue {
			labelled = 1
		}
		ready := false
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady {
				ready = c.Status == corev1.ConditionTrue
			}
		}
		return labelled, ready, p.CreationTimestamp.Time
	}
	for i := range pods {
		p := &pods[i]
		if p.Labels[discovery.LabelManaged] == "true" {
			continue
		}
		if p.Labels[operatorLabel] != operatorAppValue && !strings.HasPrefix(p.Name, operatorPrefix) {
			continue
		}
		if best == nil {
			best = p
			continue
		}
		pl, pr, pt := rank(p)
		bl, br, bt := rank(best)
		switch {
		case pl != bl:
			if pl > bl {
				best = p
			}
		case pr != br:
			if pr {
				best = p
			}
		case pt.After(bt):
			best = p
		}
	}
	return best
}

// operatorWarning reports whether an operator log line is a warning or an
// error. The operator logs with zap: JSON objects ({"level":"warn",...}) by
// default, tab-separated console lines ("...\tWARN\t...") with
// OPERATOR_LOGGING=dev; client-go inside it logs through klog
// ("W0102 15:04:05.000000 ...", "E0102 ...").
func operatorWarning(line []byte) bool {
	line = bytes.TrimSpace(line)
	if len(line) > 0 && line[0] == '{' {
		var v struct {
			Level string `json:"level"`
		}
		if json.Unmarshal(line, &v) == nil {
			return warnLevel(v.Level)
		}
	}
	for i, f := range bytes.SplitN(line, []byte{'\t'}, 4) {
		if i < 3 && warnLevel(string(f)) {
			return true
		}
	}
	for _, kv := range [][]byte{[]byte("level=warn"), []byte("level=error"), []byte("level=fatal")} {
		if bytes.Contains(line, kv) {
			return true
		}
	}
	return klogWarning(line)
}

func warnLevel(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "warn", "warning", "error", "dpanic", "panic", "fatal":
		return true
	}
	return false
}

// klogWarning matches klog's header "Lmmdd hh:mm:ss.uuuuuu" for levels W,
// E and F.
func klogWarning(line []byte) bool {
	const shape = "L0102 15:04:05.000000"
	if len(line) < len(shape) || !bytes.ContainsAny(line[:1], "WEF") {
		return false
	}
	for i := 1; i < len(shape); i++ {
		c := line[i]
		switch shape[i] {
		case ' ', ':', '.':
			if c != shape[i] {
				return false
			}
		default:
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}

func sortedUniqueStrings(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	slices.Sort(s)
	return slices.Compact(s)
}
