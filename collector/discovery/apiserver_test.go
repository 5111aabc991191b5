package discovery

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/kubetest"
)

// liveTimeout bounds every wait against the real API server. After a
// restart the informers' backoff (0.8 s doubling, jittered, up to 30 s) and
// the apiserver's own start of ~3 s on two shared cores add up to seconds.
const liveTimeout = 90 * time.Second

// TestAgainstAPIServer runs Discovery through client-go's real list, watch
// and watch-list code paths against a kube-apiserver with etcd on loopback.
// One cluster serves every subtest; they run in order because the later ones
// restart the apiserver, and the last one turns its watch cache off.
func TestAgainstAPIServer(t *testing.T) {
	c := kubetest.Start(t, kubetest.Options{})
	kubelet := kubetest.NewKubelet(t)
	const node = "node-a"
	kubelet.RegisterNode(t, c, node)

	t.Run("objects end to end", func(t *testing.T) { testLiveObjects(t, c, node) })
	t.Run("forbidden resource", func(t *testing.T) { testLiveForbidden(t, c) })
	t.Run("dropped connection", func(t *testing.T) { testLiveRestart(t, c) })
	t.Run("unreachable at start", func(t *testing.T) { testLiveUnreachableAtStart(t, c) })
	t.Run("resource version too old", func(t *testing.T) { testLiveGone(t, c, node) })
}

// liveClient is a clientset whose connections are counted. Its dialer also
// gives it a transport of its own: client-go otherwise shares one per TLS
// configuration process-wide, with the harness's admin client. The returned
// function closes its idle connections; that also runs in Cleanup.
func liveClient(t *testing.T, cfg *rest.Config) (kubernetes.Interface, *connCounter, func()) {
	t.Helper()
	cfg = rest.CopyConfig(cfg)
	conns := &connCounter{}
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		conns.open.Add(1)
		return &countedConn{Conn: c, counter: conns}, nil
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatalf("HTTP client for %s: %v", cfg.Host, err)
	}
	closeIdle := func() { utilnet.CloseIdleConnectionsFor(hc.Transport) }
	t.Cleanup(closeIdle)
	client, err := kubernetes.NewForConfigAndClient(cfg, hc)
	if err != nil {
		t.Fatalf("clientset for %s: %v", cfg.Host, err)
	}
	return client, conns, closeIdle
}

// connCounter counts a client's open connections.
type connCounter struct{ open atomic.Int64 }

type countedConn struct {
	net.Conn
	counter *connCounter
	once    sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.counter.open.Add(-1) })
	return c.Conn.Close()
}

// informerGoroutines returns the stacks of goroutines running informer or
// Discovery code.
func informerGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var found []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "k8s.io/client-go/tools/cache.") || strings.Contains(g, "collector/discovery.(*observedWatch)") ||
			strings.Contains(g, "collector/discovery.(*Discovery)") {
			found = append(found, g)
		}
	}
	return found
}

// runLive runs a Discovery until the test ends or stop is called, and
// checks that Run returns once its context is cancelled. Its Cleanup runs
// before liveClient's, so idle connections are closed after the informers
// stopped.
func runLive(t *testing.T, client kubernetes.Interface, opts Options) (h *harness, stop func()) {
	t.Helper()
	h = &harness{logs: &syncBuffer{}}
	opts.Logger = log.NewLogfmtLogger(h.logs)
	h.d = New(client, opts)
	h.changes, _ = h.d.Subscribe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.d.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(liveTimeout):
				t.Errorf("Run did not return within %v after its context was cancelled", liveTimeout)
			}
		})
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("discovery errors:%s; log:\n%s", errorSummary(h.d), strings.Join(h.logs.linesWith(), ""))
		}
	})
	return h, stop
}

// waitFor polls cond until it holds or liveTimeout passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(liveTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", liveTimeout, what)
		}
		<-tick.C
	}
}

// liveSynced waits for the initial sync and swallows pending notifications.
func liveSynced(t *testing.T, h *harness) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), liveTimeout)
	defer cancel()
	if !h.d.WaitForSync(ctx) {
		t.Fatalf("caches did not sync within %v", liveTimeout)
	}
	drain(h.changes)
}

func drain(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

func liveCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), liveTimeout)
	t.Cleanup(cancel)
	return ctx
}

// inNamespace moves a test object into namespace ns.
func inNamespace[T metav1.Object](ns string) func(T) {
	return func(o T) { o.SetNamespace(ns) }
}

// onePort gives a Service a single port: the apiserver wants every port
// of a multi-port Service named.
func onePort(port int32) func(*corev1.Service) {
	return func(s *corev1.Service) { s.Spec.Ports = []corev1.ServicePort{{Port: port}} }
}

func liveProxyPod(ns, name, node string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: corev1.PodSpec{
			NodeName:   node,
			Containers: []corev1.Container{{Name: ProxyContainer, Image: "tailscale/tailscale:v1.80.3"}},
		},
	}
}

func liveWarning(ns, name, kind, object, reason, typ string, count int32) *corev1.Event {
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	apiVersion := "v1"
	if kind == ResourceIngress {
		apiVersion = "networking.k8s.io/v1"
	}
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: ns, Name: name},
		InvolvedObject: corev1.ObjectReference{Kind: kind, Namespace: ns, Name: object, APIVersion: apiVersion},
		Type:           typ,
		Reason:         reason,
		Message:        "written by the test",
		Count:          count,
		Source:         corev1.EventSource{Component: "tailscale-operator"},
		FirstTimestamp: now,
		LastTimestamp:  now,
	}
}

func testLiveObjects(t *testing.T, c *kubetest.Cluster, node string) {
	ctx := liveCtx(t)
	admin := c.AdminClient()
	ns, opNS := c.Namespace(t), c.Namespace(t)
	ings := admin.NetworkingV1().Ingresses(ns)
	svcs := admin.CoreV1().Services(ns)
	evs := admin.CoreV1().Events(ns)

	// Objects that exist before discovery starts arrive by the initial
	// list (or watch-list); the rest by the watch.
	for _, ing := range []*networkingv1.Ingress{
		tsIngress("web", inNamespace[*networkingv1.Ingress](ns), withTLSHost("web.tail1234.ts.net"),
			withAnnotation(AnnotationFunnel, "true"), withDefaultBackend("web", 80)),
		tsIngress("ha", inNamespace[*networkingv1.Ingress](ns), withTLSHost("ha"),
			withAnnotation(AnnotationProxyGroup, "ingress-pg"), withAnnotation(AnnotationTags, "tag:web,tag:k8s"),
			withRule("ha", "/", "ha", "http", 0), func(i *networkingv1.Ingress) {
				i.Spec.Rules[0].HTTP.Paths[0].PathType = ptr(networkingv1.PathTypePrefix)
			}),
		tsIngress("nginx", inNamespace[*networkingv1.Ingress](ns), withTLSHost("nginx"), withDefaultBackend("nginx", 80),
			func(i *networkingv1.Ingress) { i.Spec.IngressClassName = ptr("nginx") }),
	} {
		if _, err := ings.Create(ctx, ing, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create ingress: %v", err)
		}
	}
	if _, err := svcs.Create(ctx, tsService("db", inNamespace[*corev1.Service](ns), onePort(5432)), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create service: %v", err)
	}
	if _, err := svcs.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "plain"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 8080}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create service: %v", err)
	}
	proxyLabels := func(typ, parentNS, parent string) map[string]string {
		return map[string]string{LabelManaged: "true", LabelParentType: typ, LabelParentNamespace: parentNS, LabelParentName: parent}
	}
	kubetest.CreatePod(t, admin, liveProxyPod(opNS, "ts-web-0", node, proxyLabels(ParentIngress, ns, "web")))
	kubetest.CreatePod(t, admin, liveProxyPod(opNS, "ingress-pg-0", node, proxyLabels(ParentProxyGroup, "", "ingress-pg")))
	kubetest.CreatePod(t, admin, liveProxyPod(opNS, "unmanaged", node, map[string]string{"app": "other"}))
	// A managed pod outside the operator namespace is not a proxy of ours.
	kubetest.CreatePod(t, admin, liveProxyPod(ns, "ts-elsewhere-0", node, proxyLabels(ParentIngress, ns, "web")))
	for _, ev := range []*corev1.Event{
		liveWarning(ns, "web.1", ResourceIngress, "web", "NoValidBackends", corev1.EventTypeWarning, 2),
		liveWarning(ns, "web.normal", ResourceIngress, "web", "Synced", corev1.EventTypeNormal, 7),
		liveWarning(ns, "db.1", ResourceService, "db", "INVALIDSERVICE", corev1.EventTypeWarning, 1),
	} {
		if _, err := evs.Create(ctx, ev, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create event: %v", err)
		}
	}

	client, conns, closeIdle := liveClient(t, c.RESTConfig(c.AdminToken))
	h, stop := runLive(t, client, Options{Namespaces: []string{ns}, OperatorNamespace: opNS})
	liveSynced(t, h)

	// A snapshot with the same options holds what the synced informers
	// hold, and the server's selectors leave only the Warning Events.
	snap := New(client, Options{Namespaces: []string{ns}, OperatorNamespace: opNS}).Snapshot(ctx)
	if !slices.EqualFunc(snap.Endpoints, h.d.Endpoints(), Endpoint.equal) || !slices.Equal(snap.ProxyPods, h.d.ProxyPods()) || len(snap.Errors) != 0 {
		t.Errorf("snapshot = %+v\nwant the informers' endpoints %+v and pods %+v", snap, h.d.Endpoints(), h.d.ProxyPods())
	}
	var reasons []string
	for _, w := range snap.Warnings {
		reasons = append(reasons, w.Object.Name+":"+w.EventReason())
	}
	slices.Sort(reasons)
	if want := []string{"db:INVALIDSERVICE", "web:NoValidBackends"}; !slices.Equal(reasons, want) {
		t.Errorf("snapshot warnings = %q, want %q", reasons, want)
	}

	const (
		webFQDN = "web.tail1234.ts.net"
		dbFQDN  = "db-1.tail1234.ts.net"
	)
	webInfo := func(hostname, provisioned string) string {
		return `tailscale_tunnel_endpoint_info{backend="web:80",funnel="true",funnel_ignored="false",hostname="` + hostname + `",kind="ingress",name="web",namespace="` + ns +
			`",provisioned="` + provisioned + `",proxy_class="",proxy_group="",requested_hostname="web",suffixed="false",tags=""} 1`
	}
	dbInfo := func(hostname, provisioned, suffixed string) string {
		return `tailscale_tunnel_endpoint_info{backend="db:5432",funnel="false",funnel_ignored="false",hostname="` + hostname + `",kind="service",name="db",namespace="` + ns +
			`",provisioned="` + provisioned + `",proxy_class="",proxy_group="",requested_hostname="` + ns + `-db",suffixed="` + suffixed + `",tags=""} 1`
	}
	haInfo := `tailscale_tunnel_endpoint_info{backend="ha:http",funnel="false",funnel_ignored="false",hostname="ha",kind="proxygroup",name="ha",namespace="` + ns +
		`",provisioned="false",proxy_class="",proxy_group="ingress-pg",requested_hostname="ha",suffixed="false",tags="tag:k8s,tag:web"} 1`
	webWarnings := `tailscale_tunnel_endpoint_warning_events_total{hostname="` + webFQDN + `",kind="ingress",name="web",namespace="` + ns + `",reason="NoValidBackends"}`
	webPodReady := `tailscale_tunnel_proxy_pod_ready{hostname="` + webFQDN + `",namespace="` + opNS + `",pod="ts-web-0"} 1`

	steps := []struct {
		name    string
		act     func() error
		notify  bool
		present []string
		absent  []string
		check   func(t *testing.T)
	}{
		{
			name: "initial list: tailscale endpoints, proxy pods and warnings, nothing else",
			present: []string{
				webInfo("web", "false"),
				haInfo,
				dbInfo(ns+"-db", "false", "false"),
				`tailscale_tunnel_proxy_pod_info{hostname="web",image="tailscale/tailscale:v1.80.3",namespace="` + opNS +
					`",parent_kind="ingress",parent_name="web",parent_namespace="` + ns + `",pod="ts-web-0",version="v1.80.3"} 1`,
				`tailscale_tunnel_proxy_pod_ready{hostname="ha",namespace="` + opNS + `",pod="ingress-pg-0"} 1`,
				`tailscale_tunnel_endpoint_warning_events_total{hostname="web",kind="ingress",name="web",namespace="` + ns + `",reason="NoValidBackends"} 2`,
				`tailscale_tunnel_endpoint_warning_events_total{hostname="` + ns + `-db",kind="service",name="db",namespace="` + ns + `",reason="INVALIDSERVICE"} 1`,
				// The reasons not seen yet are there at 0.
				`tailscale_tunnel_endpoint_warning_events_total{hostname="web",kind="ingress",name="web",namespace="` + ns + `",reason="other"} 0`,
				`tailscale_tunnel_discovery_up{} 1`,
				`tailscale_tunnel_discovery_synced{resource="events"} 1`,
			},
			absent: []string{
				`tailscale_tunnel_endpoint_info{backend="nginx:80"`,
				`tailscale_tunnel_proxy_pod_info{hostname="",`,
			},
			check: func(t *testing.T) {
				var got []string
				for _, e := range h.d.Endpoints() {
					got = append(got, string(e.Kind)+"/"+e.Name)
				}
				if want := []string{"proxygroup/ha", "service/db", "ingress/web"}; !slices.Equal(got, want) {
					t.Errorf("Endpoints() = %v, want %v (sorted by hostname label)", got, want)
				}
				var pods []string
				for _, p := range h.d.ProxyPods() {
					pods = append(pods, p.Namespace+"/"+p.Name)
				}
				if want := []string{opNS + "/ingress-pg-0", opNS + "/ts-web-0"}; !slices.Equal(pods, want) {
					t.Errorf("ProxyPods() = %v, want %v", pods, want)
				}
				for _, r := range resources {
					for _, k := range ErrorKinds {
						if n := h.d.Errors(r, k); n != 0 {
							t.Errorf("Errors(%s, %s) = %g on a healthy cluster", r, k, n)
						}
					}
				}
				if got := h.logs.linesWith(); len(got) != 0 {
					t.Errorf("a healthy start logged:\n%s", strings.Join(got, ""))
				}
			},
		},
		{
			name:    "the operator writes the Ingress status: provisioned, pod series follow the FQDN",
			act:     func() error { return kubetest.SetIngressHostname(ctx, admin, ns, "web", webFQDN) },
			notify:  true,
			present: []string{webInfo(webFQDN, "true"), webPodReady, webWarnings + " 2"},
			absent:  []string{webInfo("web", "false")},
			check: func(t *testing.T) {
				for _, e := range h.d.Endpoints() {
					if e.Name == "web" {
						if got, ok := e.Target(); !ok || got != webFQDN {
							t.Errorf("Target() = %q, %v, want %q, true", got, ok, webFQDN)
						}
					}
				}
			},
		},
		{
			name:    "the Service gets a suffixed name and a tailnet IP",
			act:     func() error { return kubetest.SetServiceHostname(ctx, admin, ns, "db", dbFQDN, "100.64.0.7") },
			notify:  true,
			present: []string{dbInfo(dbFQDN, "true", "true")},
		},
		{
			name: "the Warning Event recurs: its count grows",
			act: func() error {
				ev, err := evs.Get(ctx, "web.1", metav1.GetOptions{})
				if err != nil {
					return err
				}
				ev.Count = 5
				_, err = evs.Update(ctx, ev, metav1.UpdateOptions{})
				return err
			},
			present: []string{webWarnings + " 5"},
		},
		{
			name: "a second Ingress arrives by the watch",
			act: func() error {
				_, err := ings.Create(ctx, tsIngress("late", inNamespace[*networkingv1.Ingress](ns), withDefaultBackend("late", 80)), metav1.CreateOptions{})
				return err
			},
			notify: true,
			present: []string{`tailscale_tunnel_endpoint_info{backend="late:80",funnel="false",funnel_ignored="false",hostname="` + ns + `-late-ingress",kind="ingress",name="late",namespace="` + ns +
				`",provisioned="false",proxy_class="",proxy_group="",requested_hostname="` + ns + `-late-ingress",suffixed="false",tags=""} 1`},
		},
		{
			name: "the proxy container restarts",
			act: func() error {
				return kubetest.RestartContainer(ctx, admin, opNS, "ts-web-0", ProxyContainer)
			},
			notify: true,
			present: []string{
				`tailscale_tunnel_proxy_pod_restarts_total{hostname="` + webFQDN + `",namespace="` + opNS + `",pod="ts-web-0"} 1`,
			},
		},
		{
			name:   "the proxy pod is deleted: its series go",
			act:    func() error { return kubetest.DeletePod(ctx, admin, opNS, "ts-web-0") },
			notify: true,
			absent: []string{`tailscale_tunnel_proxy_pod_info{hostname="` + webFQDN + `"`},
			check: func(t *testing.T) {
				if pods := h.d.ProxyPods(); len(pods) != 1 || pods[0].Name != "ingress-pg-0" {
					t.Errorf("ProxyPods() = %+v, want ingress-pg-0 only", pods)
				}
			},
		},
		{
			name:    "the Ingress is deleted: its endpoint and warning series go",
			act:     func() error { return ings.Delete(ctx, "web", metav1.DeleteOptions{}) },
			notify:  true,
			present: []string{haInfo, dbInfo(dbFQDN, "true", "true")},
			absent:  []string{`tailscale_tunnel_endpoint_info{backend="web:80"`, webWarnings},
		},
		{
			name:    "the Service is deleted",
			act:     func() error { return svcs.Delete(ctx, "db", metav1.DeleteOptions{}) },
			notify:  true,
			present: []string{haInfo},
			absent: []string{
				`tailscale_tunnel_endpoint_info{backend="db:5432"`,
				`tailscale_tunnel_endpoint_warning_events_total{hostname="` + dbFQDN + `"`,
			},
		},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			drain(h.changes)
			if s.act != nil {
				if err := s.act(); err != nil {
					t.Fatal(err)
				}
			}
			if s.notify {
				select {
				case <-h.changes:
				case <-time.After(liveTimeout):
					t.Fatalf("no change notification within %v", liveTimeout)
				}
			}
			waitFor(t, "metrics to reflect the change", func() bool { return h.hasSamples(t, s.present, s.absent) })
			if s.check != nil {
				s.check(t)
			}
		})
	}

	// goleak checks the whole process at the end (TestMain); here, where
	// the harness's own clients and processes are still running, the check
	// is for what belongs to this Discovery: its informers and connections.
	t.Run("stopping leaves no informer goroutine or connection behind", func(t *testing.T) {
		var lastLeft string
		defer func() {
			if t.Failed() {
				t.Logf("left behind: %s", lastLeft)
			}
		}()
		if conns.open.Load() == 0 {
			t.Fatal("the counting dialer saw no open connection while watching")
		}
		if len(informerGoroutines()) == 0 {
			t.Fatal("found no informer goroutine while running: the check below would prove nothing")
		}
		stop()
		// A watch that unwinds after stop returns its connection to the
		// idle pool later: close idle ones on every poll, not once (a
		// loaded machine showed one kept until the pool's idle timeout).
		waitFor(t, "informer goroutines to end and connections to close", func() bool {
			closeIdle()
			if g := informerGoroutines(); len(g) > 0 || conns.open.Load() > 0 {
				lastLeft = fmt.Sprintf("%d open connections, %d informer goroutines:\n%s", conns.open.Load(), len(g), strings.Join(g, "\n\n"))
				return false
			}
			return true
		})
	})
}

// testLiveForbidden gives Discovery a ServiceAccount whose Role lacks verbs
// on services: the apiserver's RBAC answers 403 to client-go's real calls.
func testLiveForbidden(t *testing.T, c *kubetest.Cluster) {
	allowed := []rbacv1.PolicyRule{
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses"}, Verbs: []string{"list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"pods", "events"}, Verbs: []string{"list", "watch"}},
	}
	tests := []struct {
		name        string
		serviceVerb []string // granted on services
	}{
		{"no verb on services", nil},
		{"list but not watch on services", []string{"list"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := liveCtx(t)
			ns := c.Namespace(t)
			rules := slices.Clone(allowed)
			if len(tt.serviceVerb) > 0 {
				rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: tt.serviceVerb})
			}
			token := c.ServiceAccountToken(t, ns, "exporter", rules, false)
			if _, err := c.AdminClient().NetworkingV1().Ingresses(ns).Create(ctx,
				tsIngress("web", inNamespace[*networkingv1.Ingress](ns), withDefaultBackend("web", 80)), metav1.CreateOptions{}); err != nil {
				t.Fatalf("create ingress: %v", err)
			}
			client, _, _ := liveClient(t, c.RESTConfig(token))
			h, _ := runLive(t, client, Options{Namespaces: []string{ns}, OperatorNamespace: ns})

			// Several retries, so that a log line per retry would show.
			waitFor(t, "repeated forbidden errors on services", func() bool {
				return h.d.Errors(ResourceServices, ErrorForbidden) >= 4
			})
			waitFor(t, "the Ingress despite forbidden services", func() bool {
				return len(h.d.Endpoints()) == 1 && h.hasSamples(t, []string{
					`tailscale_tunnel_discovery_synced{resource="ingresses"} 1`,
					`tailscale_tunnel_discovery_synced{resource="pods"} 1`,
					`tailscale_tunnel_discovery_synced{resource="events"} 1`,
					`tailscale_tunnel_discovery_up{} 0`,
				}, nil)
			})
			if tt.serviceVerb == nil && h.hasSamples(t, []string{`tailscale_tunnel_discovery_synced{resource="services"} 1`}, nil) {
				t.Error("services synced without any verb on them")
			}
			if h.d.Synced() && tt.serviceVerb == nil {
				t.Error("Synced() = true while services cannot be listed")
			}
			forbidden := h.logs.linesWith("kind=forbidden")
			if len(forbidden) != 1 {
				t.Fatalf("got %d forbidden log lines, want 1:\n%s", len(forbidden), strings.Join(h.logs.linesWith(), ""))
			}
			for _, want := range []string{"level=error", "resource=services", "namespace=" + ns} {
				if !strings.Contains(forbidden[0], want) {
					t.Errorf("forbidden log line lacks %q: %s", want, forbidden[0])
				}
			}
			if !strings.Contains(forbidden[0], "verb=list") && !strings.Contains(forbidden[0], "verb=watch") {
				t.Errorf("forbidden log line names no verb: %s", forbidden[0])
			}
			if got := h.logs.linesWith("recovered"); len(got) != 0 {
				t.Errorf("access flapped between forbidden and recovered:\n%s", strings.Join(got, ""))
			}
			if n := sampleValue(t, h.d, `tailscale_tunnel_discovery_errors_total{kind="forbidden",resource="services"}`); n < 4 {
				t.Errorf(`errors_total{kind="forbidden",resource="services"} = %g, want >= 4`, n)
			}
			for _, r := range []string{ResourceIngresses, ResourcePods, ResourceEvents} {
				if n := h.d.Errors(r, ErrorForbidden); n != 0 {
					t.Errorf("Errors(%s, forbidden) = %g, want 0", r, n)
				}
			}
			t.Logf("services: %g forbidden errors; log: %s", h.d.Errors(ResourceServices, ErrorForbidden), forbidden[0])
		})
	}
}

// sampleValue returns the value of the one sample of d named series (name
// and labels as samples prints them), failing t if there is none.
func sampleValue(t *testing.T, d *Discovery, series string) float64 {
	t.Helper()
	for _, l := range scrape(t, d) {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("sample %q: %v", l, err)
			}
			return f
		}
	}
	t.Fatalf("no sample %s", series)
	return 0
}

// errorTotals is the sum of Errors over the given resources for one kind.
func errorTotals(d *Discovery, kind string, rs ...string) float64 {
	var n float64
	for _, r := range rs {
		n += d.Errors(r, kind)
	}
	return n
}

func errorSummary(d *Discovery) string {
	var b strings.Builder
	for _, r := range resources {
		for _, k := range ErrorKinds {
			if n := d.Errors(r, k); n > 0 {
				fmt.Fprintf(&b, " %s/%s=%g", r, k, n)
			}
		}
	}
	return b.String()
}

// testLiveRestart restarts the apiserver under a synced Discovery: every
// watch connection drops and client-go must reconnect.
func testLiveRestart(t *testing.T, c *kubetest.Cluster) {
	ctx := liveCtx(t)
	admin := c.AdminClient()
	ns := c.Namespace(t)
	if _, err := admin.NetworkingV1().Ingresses(ns).Create(ctx, tsIngress("before", inNamespace[*networkingv1.Ingress](ns), withDefaultBackend("before", 80)), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create ingress: %v", err)
	}
	client, _, _ := liveClient(t, c.RESTConfig(c.AdminToken))
	h, _ := runLive(t, client, Options{Namespaces: []string{ns}, OperatorNamespace: ns})
	liveSynced(t, h)

	c.Stop(t)
	// While the apiserver is down, the informers' watches broke and their
	// retries are refused.
	waitFor(t, "unreachable errors for every resource", func() bool {
		for _, r := range resources {
			if h.d.Errors(r, ErrorUnreachable) == 0 {
				return false
			}
		}
		return true
	})
	if !h.hasSamples(t, []string{`tailscale_tunnel_discovery_up{} 0`, `tailscale_tunnel_scrape_collector_success{collector="discovery"} 0`}, nil) {
		t.Errorf("up or collector success is not 0 while the apiserver is down:\n%s", strings.Join(scrape(t, h.d), "\n"))
	}
	if err := updateErr(h.d); err == nil || !strings.Contains(err.Error(), ": unreachable: ") {
		t.Errorf("Update error while the apiserver is down = %v, want unreachable informers", err)
	}
	if eps := h.d.Endpoints(); len(eps) != 1 {
		t.Errorf("Endpoints() = %+v while down, want the cached one", eps)
	}
	c.StartAgain(t)

	drain(h.changes)
	if _, err := admin.NetworkingV1().Ingresses(ns).Create(ctx, tsIngress("after", inNamespace[*networkingv1.Ingress](ns), withDefaultBackend("after", 80)), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create ingress after the restart: %v", err)
	}
	waitFor(t, "the Ingress created after the restart, and up again", func() bool {
		return len(h.d.Endpoints()) == 2 && h.hasSamples(t, []string{`tailscale_tunnel_discovery_up{} 1`, `tailscale_tunnel_scrape_collector_success{collector="discovery"} 1`}, nil)
	})
	select {
	case <-h.changes:
	default:
		t.Error("no change notification for the Ingress created after the restart")
	}
	// A restart is unreachability and, at most, a resourceVersion gone
	// too old; nothing else.
	for _, k := range []string{ErrorForbidden, ErrorOther} {
		if n := errorTotals(h.d, k, resources...); n != 0 {
			t.Errorf("%g errors of kind %s after a restart:%s", n, k, errorSummary(h.d))
		}
	}
	// One warning per informer that met the outage (one whose backoff
	// outlasted it may not), never one per retry, and each one's recovery.
	warned, recovered := h.logs.linesWith("level=warn", "kind=unreachable"), h.logs.linesWith("recovered")
	if len(warned) == 0 || len(warned) > len(h.d.all) {
		t.Errorf("got %d unreachable warnings, want 1 to %d (one per informer):\n%s", len(warned), len(h.d.all), strings.Join(warned, ""))
	}
	if len(recovered) != len(warned) {
		t.Errorf("got %d recovery lines for %d warnings", len(recovered), len(warned))
	}
	t.Logf("errors after a restart:%s", errorSummary(h.d))
}

// testLiveUnreachableAtStart starts Discovery while the apiserver is down.
func testLiveUnreachableAtStart(t *testing.T, c *kubetest.Cluster) {
	ctx := liveCtx(t)
	ns := c.Namespace(t)
	if _, err := c.AdminClient().NetworkingV1().Ingresses(ns).Create(ctx, tsIngress("web", inNamespace[*networkingv1.Ingress](ns), withDefaultBackend("web", 80)), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create ingress: %v", err)
	}
	c.Stop(t)
	started := false
	t.Cleanup(func() {
		if !started {
			c.StartAgain(t) // leave a running apiserver to the next subtest
		}
	})
	client, _, _ := liveClient(t, c.RESTConfig(c.AdminToken))
	h, _ := runLive(t, client, Options{Namespaces: []string{ns}, OperatorNamespace: ns})

	waitFor(t, "two refused calls of every resource", func() bool {
		for _, r := range resources {
			if h.d.Errors(r, ErrorUnreachable) < 2 {
				return false
			}
		}
		return true
	})
	checkNeverSynced(t, h, "the apiserver down")

	c.StartAgain(t)
	started = true
	liveSynced(t, h)
	waitFor(t, "the Ingress and up", func() bool {
		return len(h.d.Endpoints()) == 1 && h.hasSamples(t, []string{`tailscale_tunnel_discovery_up{} 1`}, nil)
	})
	if h.d.LastSync().IsZero() {
		t.Error("LastSync() is zero after syncing")
	}
	t.Logf("errors while down at start:%s", errorSummary(h.d))
}

// testLiveGone makes client-go resume a watch from a compacted
// resourceVersion. Without the watch cache, watches go to etcd, which
// answers 410 Gone: the informer must relist.
func testLiveGone(t *testing.T, c *kubetest.Cluster, node string) {
	c.SetWatchCache(t, false)
	ctx := liveCtx(t)
	admin := c.AdminClient()
	ns := c.Namespace(t)
	ings := admin.NetworkingV1().Ingresses(ns)
	if _, err := ings.Create(ctx, tsIngress("before", inNamespace[*networkingv1.Ingress](ns), withDefaultBackend("before", 80)), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create ingress: %v", err)
	}
	client, _, _ := liveClient(t, c.RESTConfig(c.AdminToken))
	h, _ := runLive(t, client, Options{Namespaces: []string{ns}, OperatorNamespace: ns})
	liveSynced(t, h)
	// Without the watch cache the apiserver refuses client-go's watch-list
	// request and client-go lists instead: a normal start, not a failure.
	if got := errorSummary(h.d); got != "" {
		t.Errorf("errors at a start without the watch cache:%s", got)
	}
	if got := h.logs.linesWith(); len(got) != 0 {
		t.Errorf("a start without the watch cache logged:\n%s", strings.Join(got, ""))
	}
	if _, err := ings.Create(ctx, tsIngress("watched", inNamespace[*networkingv1.Ingress](ns), withDefaultBackend("watched", 80)), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create ingress: %v", err)
	}
	// Every informer must hold a watch that delivered something: client-go
	// resumes such a watch from its resourceVersion, but relists after a
	// watch that ended within a second without events.
	kubetest.CreatePod(t, admin, liveProxyPod(ns, "ts-before-0", node, map[string]string{LabelManaged: "true"}))
	if _, err := admin.CoreV1().Services(ns).Create(ctx, tsService("db", inNamespace[*corev1.Service](ns), onePort(5432)), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create service: %v", err)
	}
	for _, ev := range []*corev1.Event{
		liveWarning(ns, "watched.1", ResourceIngress, "watched", "NoValidBackends", corev1.EventTypeWarning, 1),
		liveWarning(ns, "db.1", ResourceService, "db", "INVALIDSERVICE", corev1.EventTypeWarning, 1),
	} {
		if _, err := admin.CoreV1().Events(ns).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create event: %v", err)
		}
	}
	waitFor(t, "the objects created by watch", func() bool {
		return len(h.d.Endpoints()) == 3 && len(h.d.ProxyPods()) == 1 && h.hasSamples(t, []string{
			`tailscale_tunnel_endpoint_warning_events_total{hostname="` + ns + `-db",kind="service",name="db",namespace="` + ns + `",reason="INVALIDSERVICE"} 1`,
			`tailscale_tunnel_endpoint_warning_events_total{hostname="` + ns + `-watched-ingress",kind="ingress",name="watched",namespace="` + ns + `",reason="NoValidBackends"} 1`,
		}, nil)
	})

	// With the apiserver down, compact etcd past every resourceVersion the
	// informers hold: each that resumes its watch from one gets 410.
	c.Stop(t)
	rev := c.Compact(t)
	c.StartAgain(t)
	// Whether an informer resumes its watch (and meets the 410) or lists
	// afresh depends on its backoff when the apiserver comes back: a
	// reflector whose watch ended early relists after a delay that may
	// outlast the restart. The single informers of ingresses, services and
	// pods hold a watch that delivered an event and resumed it in every
	// run; the two Events informers do not always.
	waitFor(t, "410 Gone for ingresses, services and pods", func() bool {
		for _, r := range []string{ResourceIngresses, ResourceServices, ResourcePods} {
			if h.d.Errors(r, ErrorGone) == 0 {
				return false
			}
		}
		return true
	})
	if _, err := ings.Create(ctx, tsIngress("after", inNamespace[*networkingv1.Ingress](ns), withDefaultBackend("after", 80)), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create ingress: %v", err)
	}
	waitFor(t, "every object after the relist, and up", func() bool {
		return len(h.d.Endpoints()) == 4 && len(h.d.ProxyPods()) == 1 && h.hasSamples(t, []string{`tailscale_tunnel_discovery_up{} 1`}, nil)
	})
	if got := h.logs.linesWith("kind=gone"); len(got) != 0 {
		t.Errorf("a routine 410 was logged:\n%s", strings.Join(got, ""))
	}
	t.Logf("compacted at %d; errors:%s", rev, errorSummary(h.d))
}
