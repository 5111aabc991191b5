package diagnose

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/discovery"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logmatch"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/kubetest"
)

// The incident of REFERENCE §1: the cluster tunnel k8s (Ingress
// kube-system/traefik-ingress via Traefik, no Funnel) times out and its
// proxy logs IPv6 drops; whoami (Ingress default/whoami, Funnel) works.
const (
	liveK8sHost     = "k8s.tail1234.ts.net"
	liveWhoamiHost  = "whoami.tail1234.ts.net"
	liveUnknownHost = "nothing.tail1234.ts.net"

	liveNode        = "node-a"
	liveK8sProxy    = "ts-traefik-ingress-x7k2p-0"
	liveWhoamiProxy = "ts-whoami-9fj2d-0"
	liveOperatorPod = "operator-6d8f7c9b5-q2w4e"
)

// The proxy log lines of k8s inside the 15 minute window, as tailscaled
// writes them (the kubelet adds the timestamps).
var (
	liveK8sDrops = []string{
		"2026/02/22 10:11:12 Drop: TCP{[fd7a:115c:a1e0:ab12:4843:cd96:625a:9516]:46650 > [fd7a:115c:a1e0::5501:7c39]:443} 80 no rules matched",
		"2026/02/22 10:11:13 Drop: TCP{[fd7a:115c:a1e0:ab12:4843:cd96:625a:9516]:46652 > [fd7a:115c:a1e0::5501:7c39]:443} 80 no rules matched",
		"2026/02/22 10:11:15 Drop: TCP{[fd7a:115c:a1e0:ab12:4843:cd96:625a:9517]:46660 > [fd7a:115c:a1e0::5501:7c39]:443} 60 no rules matched",
	}
	liveK8sRateLimit = `2026/02/22 10:11:20 [RATELIMIT] format("%s: %s %d %s\n%s") (8 dropped)`
	liveK8sAccept    = "2026/02/22 10:11:21 Accept: TCP{100.64.0.1:40000 > 100.64.0.2:443} 60 tcp ok"
	liveK8sTLS       = "2026/02/22 10:11:22 http: TLS handshake error from [fd7a:115c:a1e0::9]:46098: EOF"
	liveK8sLog       = slices.Concat(
		[]string{"boot: 2026/02/22 10:11:00 Starting tailscaled"},
		liveK8sDrops,
		[]string{
			liveK8sRateLimit,
			liveK8sAccept,
			liveK8sTLS,
			strings.Repeat("x", 100<<10), // longer than any line buffer: reading goes on
			"2026/02/22 10:11:23 magicsock: derp-1 connected",
		})
	// An hour old: outside LogSince, never counted.
	liveK8sOldDrop = "2026/02/22 09:11:12 Drop: UDP{100.64.0.9:41641 > 100.64.0.2:41641} 60 no rules matched"

	liveOperatorLog = []string{
		`{"level":"info","ts":"2026-02-22T10:10:00Z","logger":"ingress-reconciler","msg":"exposing ingress over tailscale","ingress-ns":"kube-system"}`,
		`{"level":"warn","ts":"2026-02-22T10:10:01Z","logger":"ingress-reconciler","msg":"no valid backends for ingress kube-system/traefik-ingress"}`,
		`{"level":"info","ts":"2026-02-22T10:10:02Z","msg":"retrying after error"}`,
		`{"level":"error","ts":"2026-02-22T10:10:03Z","msg":"Reconciler error","error":"failed to provision: Operation cannot be fulfilled"}`,
		"2026-02-22T10:10:04.000Z\tWARN\tingress-reconciler\tconsole encoder warning",
		`E0222 10:10:05.000000       1 reflector.go:158] "Unhandled Error" err="watch of *v1.Secret ended"`,
		`I0222 10:10:06.000000       1 leaderelection.go:250] attempting to acquire leader lease tailscale/operator-lock`,
		"2026/02/22 10:10:07 tsnet running state path /tmp",
	}
	liveOperatorWarnings = []string{liveOperatorLog[1], liveOperatorLog[3], liveOperatorLog[4], liveOperatorLog[5]}
)

var (
	liveDropKey = logmatch.Event{Kind: logmatch.KindDrop, Reason: logmatch.ReasonNoRulesMatched,
		Protocol: logmatch.ProtocolTCP, Port: logmatch.Port443, Family: logmatch.FamilyIPv6}
	liveK8sEvents = map[logmatch.Event]int{
		liveDropKey: 3,
		{Kind: logmatch.KindRateLimit, FilterFormat: true}:                                                               1,
		{Kind: logmatch.KindAccept, Protocol: logmatch.ProtocolTCP, Port: logmatch.Port443, Family: logmatch.FamilyIPv4}: 1,
		{Kind: logmatch.KindTLSHandshakeError, Family: logmatch.FamilyIPv6, TLSCause: logmatch.TLSCauseEOF}:              1,
	}
	// The first line of each kind of event, then the latest others; no
	// accept, no Kubernetes timestamp.
	liveK8sSamples = []string{liveK8sDrops[0], liveK8sRateLimit, liveK8sTLS, liveK8sDrops[1], liveK8sDrops[2]}
)

// The exporter's RBAC (chart/templates/rbac.yaml): cluster-wide list/watch
// of ingresses, services and events; in the operator namespace list/watch
// pods and get pods/log.
var (
	liveExporterClusterRules = []rbacv1.PolicyRule{
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses"}, Verbs: []string{"list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"services", "events"}, Verbs: []string{"list", "watch"}},
	}
	liveExporterPodRules = []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get"}},
	}
)

// liveProbes returns fixed results (the prober is tested in its package)
// and records what it was asked.
type liveProbes struct {
	tailnet bool // the tailnet vantage is configured

	mu    sync.Mutex
	calls []string
}

func (f *liveProbes) probe(_ context.Context, host, vantage string) (prober.Result, bool) {
	f.mu.Lock()
	f.calls = append(f.calls, host+"@"+vantage)
	f.mu.Unlock()
	if vantage == "tailnet" && !f.tailnet {
		return prober.Result{}, false
	}
	switch {
	case host == liveK8sHost && vantage == "direct":
		return prober.Result{Reason: prober.ReasonTLSHandshakeTimeout, FailedPhase: prober.PhaseTLS}, true
	case host == liveK8sHost:
		return prober.Result{Reason: prober.ReasonTLSHandshakeEOF, FailedPhase: prober.PhaseTLS}, true
	case host == liveUnknownHost:
		return prober.Result{Reason: prober.ReasonDNS, FailedPhase: prober.PhaseResolve}, true
	default:
		return prober.Result{Success: true, HTTPStatus: 200}, true
	}
}

func (f *liveProbes) called() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := slices.Clone(f.calls)
	slices.Sort(out)
	return out
}

// TestGatherAgainstAPIServer gathers the incident from a real
// kube-apiserver with tokens of different rights. One cluster serves every
// subtest; the objects are made once.
func TestGatherAgainstAPIServer(t *testing.T) {
	c := kubetest.Start(t, kubetest.Options{})
	kubelet := kubetest.NewKubelet(t)
	kubelet.RegisterNode(t, c, liveNode)
	opNS := c.Namespace(t)
	makeLiveIncident(t, c, kubelet, opNS)

	exporterToken := c.ServiceAccountToken(t, opNS, "exporter", liveExporterClusterRules, true)
	grantLiveRole(t, c, exporterToken, opNS, "exporter", liveExporterPodRules)
	noLogToken := c.ServiceAccountToken(t, opNS, "exporter-nolog", liveExporterClusterRules, true)
	grantLiveRole(t, c, noLogToken, opNS, "exporter-nolog", liveExporterPodRules[:1])

	gather := func(t *testing.T, token string, opts GatherOptions) Evidence {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if token != "" {
			client, err := kubernetes.NewForConfig(c.RESTConfig(token))
			if err != nil {
				t.Fatal(err)
			}
			opts.Client = client
		}
		opts.OperatorNamespace = opNS
		ev, err := Gather(ctx, opts)
		if err != nil {
			t.Fatalf("Gather: %v", err)
		}
		return ev
	}
	wantOperator := OperatorEvidence{Found: true, Pod: liveOperatorPod, Version: "v1.80.3", Ready: true, WarningLines: liveOperatorWarnings}
	slicesMissing := func(ns ...string) []string {
		var out []string
		for _, n := range ns {
			out = append(out, "list endpointslices.discovery.k8s.io in namespace "+n)
		}
		return out
	}

	t.Run("incident with the exporter's RBAC", func(t *testing.T) {
		probes := &liveProbes{}
		ev := gather(t, exporterToken, GatherOptions{Hostnames: []string{"k8s"}, Compare: liveWhoamiHost, Probe: probes.probe})

		if got, want := ev.Missing, slicesMissing("default", "kube-system"); !reflect.DeepEqual(got, want) {
			t.Errorf("Missing = %q, want %q", got, want)
		}
		if len(ev.Errors) != 0 {
			t.Errorf("Errors = %q, want none", ev.Errors)
		}
		if len(ev.Endpoints) != 1 || ev.Compare == nil {
			t.Fatalf("got %d endpoints and compare %v, want k8s and whoami", len(ev.Endpoints), ev.Compare)
		}
		k8s := ev.Endpoints[0]
		checkLiveK8s(t, k8s, liveK8sHost, BackendEvidence{Service: "kube-system/traefik:80", Known: true, Found: true})
		if got, want := k8s.Probes, map[string]prober.Result{"direct": {Reason: prober.ReasonTLSHandshakeTimeout, FailedPhase: prober.PhaseTLS}}; !reflect.DeepEqual(got, want) {
			t.Errorf("k8s probes = %+v, want %+v", got, want)
		}

		w := *ev.Compare
		if w.Hostname != liveWhoamiHost || w.Endpoint == nil || !w.Endpoint.Funnel || w.Endpoint.Namespace != "default" {
			t.Fatalf("compare = %+v (endpoint %+v), want the whoami Funnel endpoint in default", w, w.Endpoint)
		}
		if len(w.Pods) != 1 || w.Pods[0].Name != liveWhoamiProxy || w.Pods[0].Version != "v1.82.0" {
			t.Errorf("whoami pods = %+v, want %s at v1.82.0", w.Pods, liveWhoamiProxy)
		}
		if !w.Logs.Read || w.Logs.Lines != 2 || w.Logs.RateLimit || len(w.Logs.Samples) != 0 {
			t.Errorf("whoami logs = %+v, want 2 lines read, one accept and no samples", w.Logs)
		}
		if len(w.Warnings) != 0 {
			t.Errorf("whoami warnings = %+v, want none (the Warning is on another object)", w.Warnings)
		}
		if got, want := w.Backend, (BackendEvidence{Service: "default/whoami:80", Known: true, Found: true}); got != want {
			t.Errorf("whoami backend = %+v, want %+v", got, want)
		}
		if got := w.Probes["direct"]; !got.Success || got.HTTPStatus != 200 {
			t.Errorf("whoami direct probe = %+v, want 200", got)
		}
		// Probed by FQDN, never by the name asked; tailnet asked but not
		// configured, so absent.
		if got, want := probes.called(), []string{liveK8sHost + "@direct", liveK8sHost + "@tailnet", liveWhoamiHost + "@direct", liveWhoamiHost + "@tailnet"}; !reflect.DeepEqual(got, want) {
			t.Errorf("probe calls = %q, want %q", got, want)
		}
		if _, ok := k8s.Probes["tailnet"]; ok {
			t.Error("a tailnet result although the vantage is not configured")
		}
		if !reflect.DeepEqual(ev.Operator, wantOperator) {
			t.Errorf("operator = %+v\nwant %+v", ev.Operator, wantOperator)
		}
	})

	t.Run("every endpoint with an admin token", func(t *testing.T) {
		probes := &liveProbes{tailnet: true}
		now := time.Date(2026, 2, 22, 10, 12, 0, 0, time.UTC)
		ev := gather(t, c.AdminToken, GatherOptions{Probe: probes.probe, Now: func() time.Time { return now }})

		if len(ev.Missing) != 0 || len(ev.Errors) != 0 {
			t.Errorf("Missing = %q, Errors = %q, want none", ev.Missing, ev.Errors)
		}
		if !ev.GatheredAt.Equal(now) {
			t.Errorf("GatheredAt = %v, want %v", ev.GatheredAt, now)
		}
		var hosts []string
		for _, e := range ev.Endpoints {
			hosts = append(hosts, e.Hostname)
		}
		if want := []string{liveK8sHost, liveWhoamiHost}; !reflect.DeepEqual(hosts, want) {
			t.Fatalf("endpoints = %q, want %q", hosts, want)
		}
		if ev.Compare != nil {
			t.Errorf("compare = %+v without --compare", ev.Compare)
		}
		k8s := ev.Endpoints[0]
		// Traefik is there but not ready: the backend has nowhere to send.
		checkLiveK8s(t, k8s, liveK8sHost, BackendEvidence{Service: "kube-system/traefik:80", Known: true, Found: true, Checked: true, ReadyAddr: 0})
		if got, want := k8s.Logs.Since, now.Add(-DefaultLogSince); !got.Equal(want) {
			t.Errorf("logs since = %v, want %v", got, want)
		}
		if got, want := ev.Endpoints[1].Backend, (BackendEvidence{Service: "default/whoami:80", Known: true, Found: true, Checked: true, ReadyAddr: 2}); got != want {
			t.Errorf("whoami backend = %+v, want %+v", got, want)
		}
		if got := k8s.Probes; len(got) != 2 || got["direct"].Reason != prober.ReasonTLSHandshakeTimeout || got["tailnet"].Reason != prober.ReasonTLSHandshakeEOF {
			t.Errorf("k8s probes = %+v, want direct tls_handshake_timeout and tailnet tls_handshake_eof", got)
		}
		if !reflect.DeepEqual(ev.Operator, wantOperator) {
			t.Errorf("operator = %+v\nwant %+v", ev.Operator, wantOperator)
		}
	})

	t.Run("hostname no object claims", func(t *testing.T) {
		probes := &liveProbes{}
		ev := gather(t, exporterToken, GatherOptions{Hostnames: []string{liveUnknownHost + ".", "K8S"}, Probe: probes.probe})
		if len(ev.Endpoints) != 2 {
			t.Fatalf("got %d endpoints, want the unknown one and k8s", len(ev.Endpoints))
		}
		u := ev.Endpoints[0]
		if u.Hostname != liveUnknownHost || u.Endpoint != nil || u.Pods != nil || u.Warnings != nil || u.Logs.Read || u.Backend != (BackendEvidence{}) {
			t.Errorf("unknown endpoint = %+v, want only its hostname and probes", u)
		}
		if got := u.Probes["direct"]; got.Reason != prober.ReasonDNS {
			t.Errorf("unknown endpoint probe = %+v, want dns failure", got)
		}
		if k := ev.Endpoints[1]; k.Endpoint == nil || k.Endpoint.Hostname != liveK8sHost {
			t.Errorf("K8S matched %+v, want the k8s endpoint (names are case-insensitive)", k.Endpoint)
		}
	})

	t.Run("forbidden pods/log", func(t *testing.T) {
		ev := gather(t, noLogToken, GatherOptions{Hostnames: []string{"k8s"}})
		want := append(slicesMissing("kube-system"), "get pods/log in namespace "+opNS)
		slices.Sort(want)
		if !reflect.DeepEqual(ev.Missing, want) {
			t.Errorf("Missing = %q, want %q", ev.Missing, want)
		}
		if len(ev.Errors) != 0 {
			t.Errorf("Errors = %q, want none", ev.Errors)
		}
		k8s := ev.Endpoints[0]
		if k8s.Logs.Read || k8s.Logs.Lines != 0 || k8s.Logs.Events != nil {
			t.Errorf("logs = %+v, want none read", k8s.Logs)
		}
		if len(k8s.Pods) != 1 || len(k8s.Warnings) != 1 {
			t.Errorf("pods %+v, warnings %+v: want them gathered without the log", k8s.Pods, k8s.Warnings)
		}
		if k8s.Probes != nil {
			t.Errorf("probes = %+v without a Probe func", k8s.Probes)
		}
		if o := ev.Operator; !o.Found || o.Version != "v1.80.3" || o.WarningLines != nil {
			t.Errorf("operator = %+v, want found without log lines", o)
		}
	})

	t.Run("tail lines", func(t *testing.T) {
		ev := gather(t, exporterToken, GatherOptions{Hostnames: []string{liveK8sHost}, LogLines: 2})
		l := ev.Endpoints[0].Logs
		// The last two lines: the long one and magicsock, no event.
		if !l.Read || l.Lines != 2 || l.Events != nil || l.Samples != nil {
			t.Errorf("logs = %+v, want the last 2 lines only", l)
		}
	})

	t.Run("no cluster", func(t *testing.T) {
		probes := &liveProbes{}
		ev := gather(t, "", GatherOptions{Hostnames: []string{liveWhoamiHost}, Probe: probes.probe})
		if len(ev.Endpoints) != 1 || ev.Endpoints[0].Endpoint != nil || !ev.Endpoints[0].Probes["direct"].Success {
			t.Errorf("endpoints = %+v, want whoami probed only", ev.Endpoints)
		}
		if ev.Operator.Found || ev.Missing != nil || ev.Errors != nil {
			t.Errorf("operator %+v, missing %q, errors %q: want nothing from a cluster", ev.Operator, ev.Missing, ev.Errors)
		}
	})

	t.Run("API unreachable", func(t *testing.T) {
		cfg := c.RESTConfig(c.AdminToken)
		cfg.Host = "https://127.0.0.1:1" // nothing listens there
		client, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		probes := &liveProbes{}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ev, err := Gather(ctx, GatherOptions{Client: client, Hostnames: []string{liveK8sHost}, Probe: probes.probe})
		if err != nil {
			t.Fatalf("Gather: %v", err)
		}
		if len(ev.Errors) != 1 || !strings.HasPrefix(ev.Errors[0], "list Ingresses: ") {
			t.Errorf("Errors = %q, want the one failed list", ev.Errors)
		}
		if e := ev.Endpoints; len(e) != 1 || e[0].Endpoint != nil || e[0].Probes["direct"].Reason != prober.ReasonTLSHandshakeTimeout {
			t.Errorf("endpoints = %+v, want k8s probed without cluster evidence", e)
		}
	})
}

// checkLiveK8s checks what every token that may read logs gathers about k8s.
func checkLiveK8s(t *testing.T, k EndpointEvidence, hostname string, backend BackendEvidence) {
	t.Helper()
	if k.Hostname != hostname {
		t.Errorf("hostname = %q, want %q", k.Hostname, hostname)
	}
	e := k.Endpoint
	if e == nil {
		t.Fatalf("k8s: no endpoint")
	}
	if e.Namespace != "kube-system" || e.Name != "traefik-ingress" || e.Hostname != liveK8sHost || e.Funnel || e.Backend != "traefik:80" {
		t.Errorf("endpoint = %+v, want kube-system/traefik-ingress, %s, no Funnel, backend traefik:80", e, liveK8sHost)
	}
	if len(k.Warnings) != 1 {
		t.Fatalf("warnings = %+v, want the one Warning on traefik-ingress", k.Warnings)
	}
	if w := k.Warnings[0]; w.Reason != "NoValidBackends" || w.Count != 4 || !strings.Contains(w.Message, "traefik") || w.Last.IsZero() {
		t.Errorf("warning = %+v, want NoValidBackends x4 with its message and time", w)
	}
	if len(k.Pods) != 1 {
		t.Fatalf("pods = %+v, want %s", k.Pods, liveK8sProxy)
	}
	if p := k.Pods[0]; p.Name != liveK8sProxy || !p.Ready || p.Version != "v1.80.3" || p.Parent.Type != discovery.ParentIngress {
		t.Errorf("pod = %+v, want %s ready at v1.80.3", p, liveK8sProxy)
	}
	l := k.Logs
	if !l.Read || l.Lines != len(liveK8sLog) || !l.RateLimit {
		t.Errorf("logs read %v, lines %d, ratelimit %v: want %d lines in the window, rate limited", l.Read, l.Lines, l.RateLimit, len(liveK8sLog))
	}
	if !reflect.DeepEqual(l.Events, liveK8sEvents) {
		t.Errorf("events = %+v\nwant %+v", l.Events, liveK8sEvents)
	}
	if !reflect.DeepEqual(l.Samples, liveK8sSamples) {
		t.Errorf("samples = %q\nwant %q", l.Samples, liveK8sSamples)
	}
	if k.Backend != backend {
		t.Errorf("backend = %+v, want %+v", k.Backend, backend)
	}
}

// makeLiveIncident creates the incident's objects, proxy pods, operator,
// Events, EndpointSlices and logs.
func makeLiveIncident(t *testing.T, c *kubetest.Cluster, kubelet *kubetest.Kubelet, opNS string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client := c.AdminClient()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	for _, s := range []struct{ ns, name string }{{"kube-system", "traefik"}, {"default", "whoami"}} {
		must(client.CoreV1().Services(s.ns).Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: s.name},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "web", Port: 80}}},
		}, metav1.CreateOptions{}))
	}
	ingress := func(ns, name, host string, annotations map[string]string, backend string) {
		t.Helper()
		must(client.NetworkingV1().Ingresses(ns).Create(ctx, &networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: annotations},
			Spec: networkingv1.IngressSpec{
				IngressClassName: new("tailscale"),
				DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
					Name: backend, Port: networkingv1.ServiceBackendPort{Number: 80}}},
				TLS: []networkingv1.IngressTLS{{Hosts: []string{strings.Split(host, ".")[0]}}},
			},
		}, metav1.CreateOptions{}))
		if err := kubetest.SetIngressHostname(ctx, client, ns, name, host); err != nil {
			t.Fatal(err)
		}
	}
	ingress("kube-system", "traefik-ingress", liveK8sHost, nil, "traefik")
	ingress("default", "whoami", liveWhoamiHost, map[string]string{discovery.AnnotationFunnel: "true"}, "whoami")
	// An Ingress of another class is no endpoint.
	must(client.NetworkingV1().Ingresses("default").Create(ctx, &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "nginx-site"},
		Spec: networkingv1.IngressSpec{IngressClassName: new("nginx"), TLS: []networkingv1.IngressTLS{{Hosts: []string{"k8s"}}},
			DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
				Name: "whoami", Port: networkingv1.ServiceBackendPort{Number: 80}}}},
	}, metav1.CreateOptions{}))

	last := metav1.NewTime(time.Now().Add(-time.Minute).Truncate(time.Second))
	event := func(ns, name, kind, object, typ, reason string, count int32) {
		t.Helper()
		must(client.CoreV1().Events(ns).Create(ctx, &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Namespace: ns, Name: name},
			InvolvedObject: corev1.ObjectReference{Kind: kind, Namespace: ns, Name: object, APIVersion: "networking.k8s.io/v1"},
			Type:           typ, Reason: reason, Count: count,
			Message:        fmt.Sprintf("%s on %s: no valid backend Service traefik", reason, object),
			Source:         corev1.EventSource{Component: "tailscale-operator"},
			FirstTimestamp: last, LastTimestamp: last,
		}, metav1.CreateOptions{}))
	}
	event("kube-system", "traefik-ingress.1", "Ingress", "traefik-ingress", corev1.EventTypeWarning, "NoValidBackends", 4)
	event("kube-system", "traefik-ingress.2", "Ingress", "traefik-ingress", corev1.EventTypeNormal, "Synced", 1)
	event("kube-system", "other.1", "Ingress", "other", corev1.EventTypeWarning, "NoValidBackends", 1)
	event("default", "whoami-svc.1", "Service", "whoami", corev1.EventTypeWarning, "INVALIDSERVICE", 1)

	no, yes := false, true
	slice := func(ns, svc string, addrs map[string]*bool) {
		t.Helper()
		s := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: svc + "-abcde", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: new("web"), Port: new(int32(80))}},
		}
		for a, ready := range addrs {
			s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{a}, Conditions: discoveryv1.EndpointConditions{Ready: ready}})
		}
		must(client.DiscoveryV1().EndpointSlices(ns).Create(ctx, s, metav1.CreateOptions{}))
	}
	slice("kube-system", "traefik", map[string]*bool{"10.42.0.7": &no})
	slice("default", "whoami", map[string]*bool{"10.42.0.8": &yes, "10.42.0.9": nil, "10.42.0.10": &no})

	proxy := func(name, parentNS, parent, version string) {
		t.Helper()
		kubetest.CreatePod(t, client, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: opNS, Name: name, Labels: map[string]string{
				discovery.LabelManaged: "true", discovery.LabelParentName: parent,
				discovery.LabelParentNamespace: parentNS, discovery.LabelParentType: discovery.ParentIngress,
			}},
			Spec: corev1.PodSpec{NodeName: liveNode, Containers: []corev1.Container{{Name: "tailscale", Image: "tailscale/tailscale:" + version}}},
		})
	}
	proxy(liveK8sProxy, "kube-system", "traefik-ingress", "v1.80.3")
	proxy(liveWhoamiProxy, "default", "whoami", "v1.82.0")
	kubetest.CreatePod(t, client, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: opNS, Name: liveOperatorPod, Labels: map[string]string{"app": "operator"}},
		Spec:       corev1.PodSpec{NodeName: liveNode, Containers: []corev1.Container{{Name: "operator", Image: "tailscale/k8s-operator:v1.80.3"}}},
	})

	now := time.Now()
	kubelet.AppendAt(opNS, liveK8sProxy, "tailscale", now.Add(-time.Hour), liveK8sOldDrop)
	kubelet.AppendAt(opNS, liveK8sProxy, "tailscale", now.Add(-2*time.Minute), liveK8sLog...)
	kubelet.AppendAt(opNS, liveWhoamiProxy, "tailscale", now.Add(-2*time.Minute),
		"boot: 2026/02/22 10:11:00 Starting tailscaled",
		"2026/02/22 10:11:21 Accept: TCP{100.64.0.1:40000 > 100.64.0.3:443} 60 tcp ok")
	kubelet.AppendAt(opNS, liveOperatorPod, "operator", now.Add(-5*time.Minute), liveOperatorLog...)
}

// grantLiveRole gives service account ns/sa a Role in ns with rules, as
// the exporter's chart does in the operator namespace, and waits until its
// token is authorized for each of them.
func grantLiveRole(t *testing.T, c *kubetest.Cluster, token, ns, sa string, rules []rbacv1.PolicyRule) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := c.AdminClient()
	if _, err := admin.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sa + "-proxy-pods"}, Rules: rules,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sa + "-proxy-pods"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: sa + "-proxy-pods"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: sa}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	limited, err := kubernetes.NewForConfig(c.RESTConfig(token))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		resource, sub, _ := strings.Cut(r.Resources[0], "/")
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: r.Verbs[0], Resource: resource, Subresource: sub},
		}}
		for {
			res, err := limited.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
			if err == nil && res.Status.Allowed {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%s %s in %s not authorized for %s in time (last: %v)", r.Verbs[0], r.Resources[0], ns, sa, err)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

func TestGatherSelectEndpoints(t *testing.T) {
	k8s := discovery.Endpoint{Namespace: "kube-system", Name: "traefik-ingress", Hostname: liveK8sHost, RequestedHostname: "k8s", Provisioned: true}
	// Asked for "k8s" too, obtained a suffixed name: a stale device.
	k8s1 := discovery.Endpoint{Namespace: "other", Name: "k8s", Hostname: "k8s-1.tail1234.ts.net", RequestedHostname: "k8s", Provisioned: true, Suffixed: true}
	pending := discovery.Endpoint{Namespace: "default", Name: "web", RequestedHostname: "web"}
	all := []discovery.Endpoint{k8s, k8s1, pending}

	name := func(e EndpointEvidence) string {
		if e.Endpoint == nil {
			return e.Hostname + "=nil"
		}
		return e.Hostname + "=" + e.Endpoint.Namespace + "/" + e.Endpoint.Name
	}
	for _, tc := range []struct {
		name  string
		asked []string
		want  []string
	}{
		{"all by default", nil, []string{liveK8sHost + "=kube-system/traefik-ingress", "k8s-1.tail1234.ts.net=other/k8s", "web=default/web"}},
		{"FQDN wins over requested name", []string{liveK8sHost}, []string{liveK8sHost + "=kube-system/traefik-ingress"}},
		{"first label of the obtained name", []string{"k8s"}, []string{liveK8sHost + "=kube-system/traefik-ingress"}},
		{"suffixed name by its own label", []string{"k8s-1"}, []string{"k8s-1.tail1234.ts.net=other/k8s"}},
		{"trailing dot and case", []string{"K8S.tail1234.ts.net."}, []string{liveK8sHost + "=kube-system/traefik-ingress"}},
		{"not provisioned, by requested name", []string{"web"}, []string{"web=default/web"}},
		{"not provisioned, by an FQDN of its name", []string{"web.tail1234.ts.net"}, []string{"web.tail1234.ts.net=default/web"}},
		{"unknown", []string{"nope"}, []string{"nope=nil"}},
		{"duplicates once", []string{"web", "WEB", " "}, []string{"web=default/web"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, e := range selectEndpoints(all, tc.asked) {
				got = append(got, name(e))
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("selectEndpoints(%q) = %q, want %q", tc.asked, got, tc.want)
			}
		})
	}
}

func TestGatherProbeTarget(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ev     EndpointEvidence
		want   string
		wantOK bool
	}{
		{"provisioned: its FQDN", EndpointEvidence{Hostname: "k8s", Endpoint: &discovery.Endpoint{Hostname: liveK8sHost, Provisioned: true}}, liveK8sHost, true},
		{"unknown: as asked", EndpointEvidence{Hostname: liveUnknownHost}, liveUnknownHost, true},
		{"not provisioned, asked by label: nothing to probe", EndpointEvidence{Hostname: "web", Endpoint: &discovery.Endpoint{RequestedHostname: "web"}}, "", false},
		{"not provisioned, asked by FQDN", EndpointEvidence{Hostname: "web.tail1234.ts.net", Endpoint: &discovery.Endpoint{RequestedHostname: "web"}}, "web.tail1234.ts.net", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := probeTarget(&tc.ev)
			if ok != tc.wantOK || ok && got != tc.want {
				t.Errorf("probeTarget = %q, %v; want %q, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestGatherOperatorWarning(t *testing.T) {
	for _, tc := range []struct {
		line string
		want bool
	}{
		{`{"level":"warn","msg":"x"}`, true},
		{`{"level":"error","msg":"x"}`, true},
		{`{"level":"dpanic","msg":"x"}`, true},
		{`{"level":"info","msg":"retrying after error"}`, false},
		{`{"level":"debug","msg":"warn"}`, false},
		{"2026-02-22T10:10:04.000Z\tERROR\tlogger\tmsg", true},
		{"2026-02-22T10:10:04.000Z\tINFO\tlogger\tmsg with ERROR", false},
		{`time=2026-02-22T10:10:04Z level=warn msg=x`, true},
		{`W0222 10:10:05.000000       1 reflector.go:158] x`, true},
		{`F0222 10:10:05.123456       1 main.go:1] x`, true},
		{`I0222 10:10:05.000000       1 x.go:1] error`, false},
		{`Error: a plain line`, false},
		{``, false},
	} {
		if got := operatorWarning([]byte(tc.line)); got != tc.want {
			t.Errorf("operatorWarning(%q) = %v, want %v", tc.line, got, tc.want)
		}
	}
}

func TestGatherOperatorPod(t *testing.T) {
	ready := []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	pod := func(name string, labels map[string]string, isReady bool, age time.Duration) corev1.Pod {
		p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels,
			CreationTimestamp: metav1.NewTime(time.Date(2026, 2, 22, 10, 0, 0, 0, time.UTC).Add(-age))}}
		if isReady {
			p.Status.Conditions = ready
		}
		return p
	}
	app := map[string]string{"app": "operator"}
	managed := map[string]string{discovery.LabelManaged: "true"}
	for _, tc := range []struct {
		name string
		pods []corev1.Pod
		want string
	}{
		{"none", []corev1.Pod{pod("ts-web-0", managed, true, 0)}, ""},
		{"by label", []corev1.Pod{pod("ts-web-0", managed, true, 0), pod("tailscale-operator-abc", app, true, 0)}, "tailscale-operator-abc"},
		{"by name without label", []corev1.Pod{pod("operator-abc", nil, true, 0)}, "operator-abc"},
		{"label beats name", []corev1.Pod{pod("operator-old", nil, true, 0), pod("ts-op", app, false, 0)}, "ts-op"},
		{"ready beats newer", []corev1.Pod{pod("operator-a", app, true, time.Hour), pod("operator-b", app, false, 0)}, "operator-a"},
		{"newest of the ready", []corev1.Pod{pod("operator-a", app, true, time.Hour), pod("operator-b", app, true, 0)}, "operator-b"},
		{"a proxy pod named operator is a proxy", []corev1.Pod{pod("operator-proxy-0", managed, true, 0)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if p := operatorPod(tc.pods); p != nil {
				got = p.Name
			}
			if got != tc.want {
				t.Errorf("operatorPod = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestGatherHostLogs: a tailscaled log of a plain host counts for the
// endpoint it names, with no cluster at all; only the last LogLines lines
// count, also behind a gigantic line; a file naming no endpoint is an error.
func TestGatherHostLogs(t *testing.T) {
	dir := t.TempDir()
	const drop = "2026/11/24 09:32:16 Drop: TCP{[fd7a:115c:a1e0::1]:46650 > [fd7a:115c:a1e0::2]:443} 80 no rules matched\n"
	var b strings.Builder
	b.WriteString(strings.Repeat("x", 4<<20+100) + "\n") // a line longer than the 4 MiB tail read
	for range 30 {
		b.WriteString(drop)
	}
	for range 20 {
		b.WriteString("2026/11/24 09:32:17 magicsock: derp-1 connected\n")
	}
	path := filepath.Join(dir, "tailscaled.log")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	ev, err := Gather(context.Background(), GatherOptions{
		Hostnames: []string{"k8s.example.ts.net"},
		LogLines:  40,
		HostLogs:  []HostLog{{"k8s.example.ts.net", path}, {"other.example.ts.net", path}},
	})
	if err != nil {
		t.Fatal(err)
	}
	l := ev.Endpoints[0].Logs
	drops := logmatch.Event{Kind: logmatch.KindDrop, Reason: logmatch.ReasonNoRulesMatched, Protocol: logmatch.ProtocolTCP, Port: logmatch.Port443, Family: logmatch.FamilyIPv6}
	if !l.Read || l.Lines != 40 || l.Events[drops] != 20 || len(l.Samples) == 0 {
		t.Errorf("logs = read %v, %d lines, %d drops, %d samples; want read, 40 lines, 20 drops, samples", l.Read, l.Lines, l.Events[drops], len(l.Samples))
	}
	if len(ev.Errors) != 1 || !strings.Contains(ev.Errors[0], `no endpoint asked about is named "other.example.ts.net"`) || !strings.Contains(ev.Errors[0], path) {
		t.Errorf("errors = %q, want one naming the file and other.example.ts.net", ev.Errors)
	}

	ev, _ = Gather(context.Background(), GatherOptions{
		Hostnames: []string{"k8s.example.ts.net"},
		HostLogs:  []HostLog{{"k8s.example.ts.net", filepath.Join(dir, "missing.log")}},
	})
	if len(ev.Errors) != 1 || !strings.Contains(ev.Errors[0], "missing.log") || ev.Endpoints[0].Logs.Read {
		t.Errorf("missing file: errors %q, logs read %v; want an error naming it, nothing read", ev.Errors, ev.Endpoints[0].Logs.Read)
	}
}

// pastDeadline is a context whose deadline has passed but whose timer has
// not fired yet: what Gather sees when a probe cut by its connection's
// deadline returns first.
type pastDeadline struct{ context.Context }

func (pastDeadline) Deadline() (time.Time, bool) { return time.Now().Add(-time.Millisecond), true }

func TestGatherOutOfTime(t *testing.T) {
	for _, c := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"in time", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), time.Hour)
		}, nil},
		{"deadline passed, timer not fired", func() (context.Context, context.CancelFunc) {
			return pastDeadline{context.Background()}, func() {}
		}, context.DeadlineExceeded},
		{"timer fired", func() (context.Context, context.CancelFunc) {
			return context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		}, context.DeadlineExceeded},
		{"cancelled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := c.ctx()
			defer cancel()
			_, err := Gather(ctx, GatherOptions{Hostnames: []string{"k8s.example.ts.net"}})
			if !errors.Is(err, c.want) || (err == nil) != (c.want == nil) {
				t.Errorf("Gather: %v, want %v", err, c.want)
			}
		})
	}
}
