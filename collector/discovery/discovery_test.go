package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/testwait"
	"go.uber.org/goleak"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds every wait; informers on a fake clientset react in
// milliseconds, and a retry after a failure takes a backoff of 0.8-1.6 s.
const waitTimeout = 20 * time.Second

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.For(t, waitTimeout, what, cond)
}

type harness struct {
	d       *Discovery
	client  *fake.Clientset
	changes <-chan struct{}
	logs    *syncBuffer
}

// start runs a Discovery over a fake clientset holding objs, stopped (and
// checked to have stopped) when the test ends. setup may add reactors before
// the informers start.
func start(t *testing.T, opts Options, setup func(*fake.Clientset), objs ...runtime.Object) *harness {
	t.Helper()
	h := &harness{client: fake.NewClientset(objs...), logs: &syncBuffer{}}
	if setup != nil {
		setup(h.client)
	}
	opts.Logger = log.NewLogfmtLogger(h.logs)
	h.d = New(h.client, opts)
	h.changes, _ = h.d.Subscribe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(waitTimeout):
			t.Errorf("Run did not return after its context was cancelled")
		}
	})
	return h
}

// synced waits for the initial sync and swallows its change notification,
// so that later notifications are due to the test's actions.
func (h *harness) synced(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if !h.d.WaitForSync(ctx) {
		t.Fatal("caches did not sync")
	}
	select {
	case <-h.changes:
	default:
	}
}

func (h *harness) notified(t *testing.T) {
	t.Helper()
	select {
	case <-h.changes:
	case <-time.After(waitTimeout):
		t.Fatal("no change notification")
	}
}

// hasSamples reports whether the scrape holds every line of present and no
// line starting with any of absent.
func (h *harness) hasSamples(t *testing.T, present, absent []string) bool {
	got := scrape(t, h.d)
	for _, p := range present {
		if !slices.Contains(got, p) {
			return false
		}
	}
	for _, a := range absent {
		for _, g := range got {
			if strings.HasPrefix(g, a) {
				return false
			}
		}
	}
	return true
}

func TestDiscoveryFollowsObjects(t *testing.T) {
	ctx := context.Background()
	ingress := tsIngress("whoami", withTLSHost("whoami"), withAnnotation(AnnotationFunnel, "true"),
		withDefaultBackend("whoami", 80))
	pod := proxyPod("ts-whoami-0")
	h := start(t, Options{}, nil, ingress, pod,
		tsIngress("traefik", func(i *networkingv1.Ingress) { i.Spec.IngressClassName = ptr("traefik") }))
	h.synced(t)

	ings := h.client.NetworkingV1().Ingresses("default")
	evs := h.client.CoreV1().Events("default")
	pods := h.client.CoreV1().Pods("tailscale")
	const fqdn = "whoami.tail1234.ts.net"

	steps := []struct {
		name    string
		act     func() error
		notify  bool
		present []string
		absent  []string
		check   func(t *testing.T)
	}{
		{
			name: "initial state: unprovisioned endpoint labelled by requested name, its pod joined",
			present: []string{
				`tailscale_tunnel_endpoint_info{backend="whoami:80",funnel="true",funnel_ignored="false",hostname="whoami",kind="ingress",name="whoami",namespace="default",provisioned="false",proxy_class="",proxy_group="",requested_hostname="whoami",suffixed="false",tags=""} 1`,
				`tailscale_tunnel_proxy_pod_ready{hostname="whoami",namespace="tailscale",pod="ts-whoami-0"} 1`,
				`tailscale_tunnel_discovery_up{} 1`,
				// Warning counters exist at 0 before any Event, so that
				// increase() sees the first one.
				`tailscale_tunnel_endpoint_warning_events_total{hostname="whoami",kind="ingress",name="whoami",namespace="default",reason="HTTPSNotEnabled"} 0`,
				`tailscale_tunnel_endpoint_warning_events_total{hostname="whoami",kind="ingress",name="whoami",namespace="default",reason="NoValidBackends"} 0`,
				`tailscale_tunnel_endpoint_warning_events_total{hostname="whoami",kind="ingress",name="whoami",namespace="default",reason="other"} 0`,
			},
			absent: []string{`tailscale_tunnel_endpoint_info{backend="",funnel="false",funnel_ignored="false",hostname="default-traefik-ingress"`},
			check: func(t *testing.T) {
				eps := h.d.Endpoints()
				if len(eps) != 1 {
					t.Fatalf("Endpoints() = %+v, want the whoami ingress only", eps)
				}
				if _, ok := eps[0].Target(); ok {
					t.Error("unprovisioned endpoint is probeable")
				}
			},
		},
		{
			name: "status gains a hostname: provisioned, pod series follow the FQDN",
			act: func() error {
				ing, err := ings.Get(ctx, "whoami", metav1.GetOptions{})
				if err != nil {
					return err
				}
				withStatusHostname(fqdn)(ing)
				_, err = ings.UpdateStatus(ctx, ing, metav1.UpdateOptions{})
				return err
			},
			notify: true,
			present: []string{
				`tailscale_tunnel_endpoint_info{backend="whoami:80",funnel="true",funnel_ignored="false",hostname="whoami.tail1234.ts.net",kind="ingress",name="whoami",namespace="default",provisioned="true",proxy_class="",proxy_group="",requested_hostname="whoami",suffixed="false",tags=""} 1`,
				`tailscale_tunnel_proxy_pod_ready{hostname="whoami.tail1234.ts.net",namespace="tailscale",pod="ts-whoami-0"} 1`,
			},
			absent: []string{`tailscale_tunnel_endpoint_info{backend="whoami:80",funnel="true",funnel_ignored="false",hostname="whoami",`},
			check: func(t *testing.T) {
				if got, ok := h.d.Endpoints()[0].Target(); !ok || got != fqdn {
					t.Errorf("Target() = %q, %v, want %q, true", got, ok, fqdn)
				}
			},
		},
		{
			name: "a tailscale Service is added",
			act: func() error {
				_, err := h.client.CoreV1().Services("default").Create(ctx, tsService("db"), metav1.CreateOptions{})
				return err
			},
			notify: true,
			present: []string{
				`tailscale_tunnel_endpoint_info{backend="db:80",funnel="false",funnel_ignored="false",hostname="default-db",kind="service",name="db",namespace="default",provisioned="false",proxy_class="",proxy_group="",requested_hostname="default-db",suffixed="false",tags=""} 1`,
				`tailscale_tunnel_endpoint_warning_events_total{hostname="default-db",kind="service",name="db",namespace="default",reason="INVALIDSERVICE"} 0`,
			},
		},
		{
			name: "a Warning Event on the Ingress is counted",
			act: func() error {
				_, err := evs.Create(ctx, warningEvent("whoami.1", "NoValidBackends", 2), metav1.CreateOptions{})
				return err
			},
			present: []string{
				`tailscale_tunnel_endpoint_warning_events_total{hostname="whoami.tail1234.ts.net",kind="ingress",name="whoami",namespace="default",reason="NoValidBackends"} 2`,
			},
		},
		{
			name: "its count grows",
			act: func() error {
				_, err := evs.Update(ctx, warningEvent("whoami.1", "NoValidBackends", 5), metav1.UpdateOptions{})
				return err
			},
			present: []string{
				`tailscale_tunnel_endpoint_warning_events_total{hostname="whoami.tail1234.ts.net",kind="ingress",name="whoami",namespace="default",reason="NoValidBackends"} 5`,
			},
		},
		{
			name: "the Event expires, then another one: the counter never goes down",
			act: func() error {
				if err := evs.Delete(ctx, "whoami.1", metav1.DeleteOptions{}); err != nil {
					return err
				}
				_, err := evs.Create(ctx, warningEvent("whoami.2", "Weird", 1), metav1.CreateOptions{})
				return err
			},
			present: []string{
				`tailscale_tunnel_endpoint_warning_events_total{hostname="whoami.tail1234.ts.net",kind="ingress",name="whoami",namespace="default",reason="NoValidBackends"} 5`,
				`tailscale_tunnel_endpoint_warning_events_total{hostname="whoami.tail1234.ts.net",kind="ingress",name="whoami",namespace="default",reason="other"} 1`,
			},
		},
		{
			name: "the proxy pod becomes unready",
			act: func() error {
				p := proxyPod("ts-whoami-0", func(p *corev1.Pod) {
					p.Status.Conditions[0].Status = corev1.ConditionFalse
					p.Status.ContainerStatuses[0].RestartCount = 3
				})
				_, err := pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
				return err
			},
			notify: true,
			present: []string{
				`tailscale_tunnel_proxy_pod_ready{hostname="whoami.tail1234.ts.net",namespace="tailscale",pod="ts-whoami-0"} 0`,
				`tailscale_tunnel_proxy_pod_restarts_total{hostname="whoami.tail1234.ts.net",namespace="tailscale",pod="ts-whoami-0"} 3`,
			},
		},
		{
			name: "the proxy pod is deleted: its series go",
			act: func() error {
				return pods.Delete(ctx, "ts-whoami-0", metav1.DeleteOptions{})
			},
			notify: true,
			absent: []string{`tailscale_tunnel_proxy_pod_`},
			check: func(t *testing.T) {
				if got := h.d.ProxyPods(); len(got) != 0 {
					t.Errorf("ProxyPods() = %+v, want none", got)
				}
			},
		},
		{
			name: "the Ingress is deleted: its endpoint and warning series go",
			act: func() error {
				return ings.Delete(ctx, "whoami", metav1.DeleteOptions{})
			},
			notify: true,
			present: []string{
				`tailscale_tunnel_endpoint_info{backend="db:80",funnel="false",funnel_ignored="false",hostname="default-db",kind="service",name="db",namespace="default",provisioned="false",proxy_class="",proxy_group="",requested_hostname="default-db",suffixed="false",tags=""} 1`,
			},
			absent: []string{
				`tailscale_tunnel_endpoint_info{backend="whoami:80"`,
				`tailscale_tunnel_endpoint_warning_events_total{hostname="whoami.tail1234.ts.net"`,
			},
			check: func(t *testing.T) {
				if eps := h.d.Endpoints(); len(eps) != 1 || eps[0].Name != "db" {
					t.Errorf("Endpoints() = %+v, want the db Service only", eps)
				}
			},
		},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.act != nil {
				if err := s.act(); err != nil {
					t.Fatal(err)
				}
			}
			if s.notify {
				h.notified(t)
			}
			eventually(t, "metrics to reflect the change", func() bool { return h.hasSamples(t, s.present, s.absent) })
			if s.check != nil {
				s.check(t)
			}
		})
	}
}

// TestChangeNotification checks which updates are changes worth telling the
// prober or the log follower about, by calling the handlers directly.
func TestChangeNotification(t *testing.T) {
	d := New(fake.NewClientset(), Options{})
	changes, cancel := d.Subscribe()
	t.Cleanup(cancel)
	ingresses := d.endpointHandler(func(obj any) (Endpoint, bool) {
		ing, _ := obj.(*networkingv1.Ingress)
		return EndpointFromIngress(ing, "tailscale")
	})
	pods := d.podHandler()
	relabel := func(i *networkingv1.Ingress) { i.Labels = map[string]string{"team": "web"} }
	tests := []struct {
		name     string
		call     func()
		wantSent bool
	}{
		{"ingress of another class added", func() {
			ingresses.OnAdd(tsIngress("a", func(i *networkingv1.Ingress) { i.Spec.IngressClassName = nil }), false)
		}, false},
		{"ingress added", func() { ingresses.OnAdd(tsIngress("a"), false) }, true},
		{"ingress gains a status hostname", func() {
			ingresses.OnUpdate(tsIngress("a"), tsIngress("a", withStatusHostname("a.t.ts.net")))
		}, true},
		{"ingress label that no endpoint field reads", func() {
			ingresses.OnUpdate(tsIngress("a"), tsIngress("a", relabel))
		}, false},
		{"ingress becomes funnel", func() {
			ingresses.OnUpdate(tsIngress("a"), tsIngress("a", withAnnotation(AnnotationFunnel, "true")))
		}, true},
		{"ingress leaves the class", func() {
			ingresses.OnUpdate(tsIngress("a"), tsIngress("a", func(i *networkingv1.Ingress) { i.Spec.IngressClassName = ptr("x") }))
		}, true},
		{"ingress deleted", func() { ingresses.OnDelete(tsIngress("a")) }, true},
		{"ingress deleted while the watch was down", func() {
			ingresses.OnDelete(cacheTombstone(tsIngress("a")))
		}, true},
		{"proxy pod heartbeat changes nothing we report", func() {
			pods.OnUpdate(proxyPod("p"), proxyPod("p", func(p *corev1.Pod) {
				p.Status.Conditions[0].LastProbeTime = metav1.Now()
			}))
		}, false},
		{"proxy pod restarts", func() {
			pods.OnUpdate(proxyPod("p"), proxyPod("p", func(p *corev1.Pod) { p.Status.ContainerStatuses[0].RestartCount++ }))
		}, true},
		{"unmanaged pod added", func() {
			pods.OnAdd(proxyPod("p", func(p *corev1.Pod) { p.Labels = nil }), false)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.call()
			var sent bool
			select {
			case <-changes:
				sent = true
			default:
			}
			if sent != tt.wantSent {
				t.Errorf("notified = %v, want %v", sent, tt.wantSent)
			}
		})
	}
}

func TestSubscriptionsCoalesceAndCancel(t *testing.T) {
	d := New(fake.NewClientset(), Options{})
	a, cancelA := d.Subscribe()
	b, cancelB := d.Subscribe()
	t.Cleanup(cancelB)
	d.notify()
	d.notify()
	d.notify()
	for name, ch := range map[string]<-chan struct{}{"a": a, "b": b} {
		n := 0
		for drained := false; !drained; {
			select {
			case <-ch:
				n++
			default:
				drained = true
			}
		}
		if n != 1 {
			t.Errorf("subscriber %s got %d values for 3 changes, want 1", name, n)
		}
	}
	cancelA()
	d.notify()
	select {
	case <-a:
		t.Error("cancelled subscription still notified")
	default:
	}
	select {
	case <-b:
	default:
		t.Error("remaining subscription not notified")
	}
}

func TestOddObjectsDoNotPanic(t *testing.T) {
	objs := []runtime.Object{
		&networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "empty"}},
		&networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "odd", Annotations: map[string]string{
				AnnotationFunnel: "maybe", AnnotationTags: ",,,", AnnotationHTTPRedirect: "",
			}},
			Spec: networkingv1.IngressSpec{
				IngressClassName: ptr("tailscale"),
				TLS:              []networkingv1.IngressTLS{{}, {Hosts: []string{"x"}}},
				DefaultBackend:   &networkingv1.IngressBackend{},
				Rules: []networkingv1.IngressRule{{}, {IngressRuleValue: networkingv1.IngressRuleValue{
					HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{}}}}}},
			},
			Status: networkingv1.IngressStatus{LoadBalancer: networkingv1.IngressLoadBalancerStatus{
				Ingress: []networkingv1.IngressLoadBalancerIngress{{IP: "100.64.0.1"}, {}}}},
		},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "bare",
			Annotations: map[string]string{AnnotationExpose: "true", AnnotationHostname: ""}}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "tailscale", Name: "bare",
			Labels: map[string]string{LabelManaged: "true", LabelParentType: ParentProxyGroup}}},
		&corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "bare"}, Type: corev1.EventTypeWarning},
		&corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "svc"}, Type: corev1.EventTypeWarning,
			InvolvedObject: corev1.ObjectReference{Kind: ResourceService, Name: "bare"}, Count: -3},
	}
	h := start(t, Options{}, nil, objs...)
	h.synced(t)
	if got := len(h.d.Endpoints()); got != 2 {
		t.Errorf("got %d endpoints, want the odd Ingress and the bare Service: %+v", got, h.d.Endpoints())
	}
	eventually(t, "the odd objects' series", func() bool {
		return h.hasSamples(t, []string{
			`tailscale_tunnel_endpoint_warning_events_total{hostname="",kind="service",name="bare",namespace="default",reason="other"} 1`,
			`tailscale_tunnel_proxy_pod_ready{hostname="",namespace="tailscale",pod="bare"} 0`,
		}, nil)
	})
}

func TestDiscoveryHandlesThousands(t *testing.T) {
	const n = 1000
	objs := scaleObjects(n)
	h := start(t, Options{}, nil, objs...)
	h.synced(t)
	if got := len(h.d.Endpoints()); got != n {
		t.Errorf("got %d endpoints, want %d", got, n)
	}
	if got := len(h.d.ProxyPods()); got != n {
		t.Errorf("got %d proxy pods, want %d", got, n)
	}
	var info, ready, unjoined int
	for _, s := range scrape(t, h.d) {
		switch {
		case strings.HasPrefix(s, "tailscale_tunnel_endpoint_info{"):
			info++
		case strings.HasPrefix(s, `tailscale_tunnel_proxy_pod_ready{hostname=""`):
			unjoined++
		case strings.HasPrefix(s, "tailscale_tunnel_proxy_pod_ready{"):
			ready++
		}
	}
	if info != n || ready != n || unjoined != 0 {
		t.Errorf("got %d endpoint_info, %d joined and %d unjoined pod series, want %d, %d, 0", info, ready, unjoined, n, n)
	}
}

// scaleObjects returns n provisioned Ingresses, each with a proxy pod.
func scaleObjects(n int) []runtime.Object {
	objs := make([]runtime.Object, 0, 2*n)
	for i := range n {
		name := fmt.Sprintf("app-%04d", i)
		objs = append(objs,
			tsIngress(name, withTLSHost(name), withDefaultBackend(name, 8080),
				withAnnotation(AnnotationTags, "tag:k8s,tag:web"),
				withStatusHostname(name+".tail1234.ts.net")),
			proxyPod("ts-"+name+"-0", func(p *corev1.Pod) { p.Labels[LabelParentName] = name }))
	}
	return objs
}

func TestNamespacesAndOperatorNamespace(t *testing.T) {
	inNS := func(ns string) func(*networkingv1.Ingress) {
		return func(i *networkingv1.Ingress) { i.Namespace = ns }
	}
	h := start(t, Options{Namespaces: []string{"apps", "web", "apps"}, OperatorNamespace: "ts-system"}, nil,
		tsIngress("a", inNS("apps")), tsIngress("b", inNS("web")), tsIngress("c", inNS("other")),
		proxyPod("in-operator-ns", func(p *corev1.Pod) { p.Namespace = "ts-system" }),
		proxyPod("elsewhere", func(p *corev1.Pod) { p.Namespace = "tailscale" }))
	h.synced(t)
	var got []string
	for _, e := range h.d.Endpoints() {
		got = append(got, e.Namespace+"/"+e.Name)
	}
	if want := []string{"apps/a", "web/b"}; !slices.Equal(got, want) {
		t.Errorf("endpoints = %v, want %v", got, want)
	}
	if pods := h.d.ProxyPods(); len(pods) != 1 || pods[0].Name != "in-operator-ns" {
		t.Errorf("proxy pods = %+v, want the one in ts-system only", pods)
	}
}

func TestLastSyncTimestamp(t *testing.T) {
	// The clock is read by informer goroutines: fix it before they start.
	client := fake.NewClientset(tsIngress("a"))
	d := New(client, Options{})
	fixed := time.Unix(1767225600, 0)
	d.now = func() time.Time { return fixed }
	if !d.LastSync().IsZero() {
		t.Fatalf("LastSync() = %v before Run, want zero", d.LastSync())
	}
	runSynced(t, d)
	if !d.LastSync().Equal(fixed) {
		t.Errorf("LastSync() = %v, want %v", d.LastSync(), fixed)
	}
	if !slices.Contains(scrape(t, d), "tailscale_tunnel_discovery_last_sync_timestamp_seconds{} 1.7672256e+09") {
		t.Errorf("last sync metric missing or wrong:\n%s", strings.Join(scrape(t, d), "\n"))
	}
}

func TestRunTwice(t *testing.T) {
	d := New(fake.NewClientset(), Options{})
	runSynced(t, d)
	if err := d.Run(context.Background()); err == nil {
		t.Error("second Run returned nil, want an error")
	}
}

// Before its informers have synced, discovery cannot report the cluster:
// the collector fails, naming each informer, until they have.
func TestNotSyncedIsAFailure(t *testing.T) {
	d := New(fake.NewClientset(tsIngress("web")), Options{Namespaces: []string{"apps"}})
	if got := scrape(t, d); !slices.Contains(got, `tailscale_tunnel_scrape_collector_success{collector="discovery"} 0`) ||
		!slices.Contains(got, `tailscale_tunnel_discovery_up{} 0`) {
		t.Errorf("scrape before Run:\n%s", strings.Join(got, "\n"))
	}
	err := updateErr(d)
	if !errors.Is(err, errNotSynced) {
		t.Fatalf("Update error before Run = %v, want not synced", err)
	}
	const want = "ingresses in namespace apps: not synced yet; services in namespace apps: not synced yet; " +
		"events in namespace apps (involvedObject.kind=Ingress,type=Warning): not synced yet; " +
		"events in namespace apps (involvedObject.kind=Service,type=Warning): not synced yet; and 1 more"
	if err.Error() != want {
		t.Errorf("Update error before Run:\n got %s\nwant %s", err, want)
	}
	runSynced(t, d)
	if got := scrape(t, d); !slices.Contains(got, `tailscale_tunnel_scrape_collector_success{collector="discovery"} 1`) {
		t.Errorf("scrape after sync:\n%s", strings.Join(got, "\n"))
	}
}

// cacheTombstone wraps obj the way an informer reports a deletion it missed.
func cacheTombstone(obj runtime.Object) any {
	return cache.DeletedFinalStateUnknown{Key: "default/a", Obj: obj}
}

var errRefused = &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}

func TestAPIFailures(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Group: "networking.k8s.io", Resource: "ingresses"}, "",
		errors.New(`User "system:serviceaccount:monitoring:exporter" cannot list resource "ingresses" in API group "networking.k8s.io" at the cluster scope`))

	t.Run("forbidden ingresses: one log line, the rest works, recovery when allowed", func(t *testing.T) {
		var deny atomic.Bool
		deny.Store(true)
		h := start(t, Options{}, func(c *fake.Clientset) {
			c.PrependReactor("list", "ingresses", func(k8stesting.Action) (bool, runtime.Object, error) {
				return deny.Load(), nil, forbidden
			})
		}, tsIngress("web"), tsService("db"))

		eventually(t, "two forbidden list errors", func() bool {
			return h.d.Errors(ResourceIngresses, ErrorForbidden) >= 2
		})
		if got := h.logs.linesWith("verb=list", "resource=ingresses", "namespace=(all)", "kind=forbidden"); len(got) != 1 {
			t.Errorf("got %d forbidden log lines, want 1:\n%s", len(got), strings.Join(h.logs.linesWith(), ""))
		}
		eventually(t, "the Service endpoint despite forbidden ingresses", func() bool {
			return h.hasSamples(t, []string{
				`tailscale_tunnel_discovery_synced{resource="services"} 1`,
				`tailscale_tunnel_discovery_synced{resource="ingresses"} 0`,
				`tailscale_tunnel_discovery_up{} 0`,
			}, nil) && len(h.d.Endpoints()) == 1
		})
		if h.d.Synced() {
			t.Error("Synced() = true while ingresses cannot be listed")
		}
		// The exporter marks the part failed, and still serves the Service.
		if !h.hasSamples(t, []string{
			`tailscale_tunnel_scrape_collector_success{collector="discovery"} 0`,
			`tailscale_tunnel_endpoint_info{backend="db:80",funnel="false",funnel_ignored="false",hostname="default-db",kind="service",name="db",namespace="default",provisioned="false",proxy_class="",proxy_group="",requested_hostname="default-db",suffixed="false",tags=""} 1`,
		}, nil) {
			t.Errorf("scrape with forbidden ingresses:\n%s", strings.Join(scrape(t, h.d), "\n"))
		}
		err := updateErr(h.d)
		if !apierrors.IsForbidden(err) {
			t.Errorf("Update error %v does not wrap the 403", err)
		}
		if msg := fmt.Sprint(err); msg != "list ingresses in all namespaces: forbidden: "+forbidden.Error() {
			t.Errorf("Update error = %q, want it to name the verb, resource, namespaces and kind only", msg)
		}

		deny.Store(false)
		eventually(t, "recovery", func() bool {
			return h.d.Synced() && len(h.d.Endpoints()) == 2 &&
				h.hasSamples(t, []string{
					`tailscale_tunnel_discovery_up{} 1`,
					`tailscale_tunnel_scrape_collector_success{collector="discovery"} 1`,
				}, nil)
		})
		if err := updateErr(h.d); err != nil {
			t.Errorf("Update after recovery: %v", err)
		}
		if got := h.logs.linesWith("recovered", "resource=ingresses"); len(got) != 1 {
			t.Errorf("got %d recovery log lines, want 1", len(got))
		}
	})

	t.Run("unreachable API: Run keeps retrying and stops on cancel", func(t *testing.T) {
		h := start(t, Options{}, func(c *fake.Clientset) {
			c.PrependReactor("list", "*", func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, errRefused
			})
		}, tsIngress("web"))
		eventually(t, "one unreachable log line per informer", func() bool {
			return len(h.logs.linesWith("kind=unreachable")) == len(h.d.all)
		})
		eventually(t, "retries of every informer", func() bool {
			for _, r := range resources {
				perResource := 2.0
				if r == ResourceEvents {
					perResource = 4 // two informers
				}
				if h.d.Errors(r, ErrorUnreachable) < perResource {
					return false
				}
			}
			return true
		})
		checkNeverSynced(t, h, "no API")
	})

	t.Run("410 Gone on a watch is counted, and the informer relists", func(t *testing.T) {
		var watches atomic.Int32
		h := start(t, Options{}, func(c *fake.Clientset) {
			c.PrependWatchReactor("ingresses", func(k8stesting.Action) (bool, watch.Interface, error) {
				if watches.Add(1) > 1 {
					return false, nil, nil
				}
				w := watch.NewRaceFreeFake()
				w.Error(&apierrors.NewGone("too old resource version: 1 (42)").ErrStatus)
				return true, w, nil
			})
		}, tsIngress("web"))
		h.synced(t)
		eventually(t, "the gone error and a second watch", func() bool {
			return h.d.Errors(ResourceIngresses, ErrorGone) == 1 && watches.Load() >= 2
		})
		if !h.hasSamples(t, []string{`tailscale_tunnel_discovery_up{} 1`}, nil) {
			t.Error("a 410 on a watch left discovery down")
		}
		if got := h.logs.linesWith("level=warn"); len(got) != 0 {
			t.Errorf("a routine 410 was logged as a warning: %s", got)
		}
	})
}

func TestRunStopsWithoutLeaks(t *testing.T) {
	before := goleak.IgnoreCurrent()
	d := New(fake.NewClientset(scaleObjects(10)...), Options{Namespaces: []string{"default", "kube-system"}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = d.Run(ctx); close(done) }()
	wctx, wcancel := context.WithTimeout(ctx, waitTimeout)
	defer wcancel()
	if !d.WaitForSync(wctx) {
		t.Fatal("caches did not sync")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("Run did not return")
	}
	goleak.VerifyNone(t, before)
}

// checkNeverSynced checks a Discovery that has retried against an API it
// never reached: not synced, no endpoints, health metrics down, and still
// one unreachable log line per informer, not one per retry.
func checkNeverSynced(t *testing.T, h *harness, what string) {
	t.Helper()
	if h.d.Synced() || len(h.d.Endpoints()) != 0 {
		t.Error("synced or found endpoints with " + what)
	}
	if !h.hasSamples(t, []string{
		`tailscale_tunnel_discovery_up{} 0`,
		`tailscale_tunnel_discovery_last_sync_timestamp_seconds{} 0`,
		`tailscale_tunnel_scrape_collector_success{collector="discovery"} 0`,
	}, nil) {
		t.Errorf("health metrics wrong with %s:\n%s", what, strings.Join(scrape(t, h.d), "\n"))
	}
	// One error per informer, each naming it and the kind; the message
	// shows the first few.
	err := updateErr(h.d)
	var he healthError
	if !errors.As(err, &he) || len(he) != len(h.d.all) {
		t.Fatalf("Update error = %v, want one per informer (%d)", err, len(h.d.all))
	}
	for i, e := range he {
		// The verb is list, or watch where client-go first asks for the
		// initial list as a watch stream.
		_, rest, _ := strings.Cut(e.Error(), " ")
		if !strings.HasPrefix(rest, h.d.all[i].stream.String()+": unreachable: ") || !errors.Is(e, syscall.ECONNREFUSED) {
			t.Errorf("error %d = %v, want the failed call of %s, unreachable, wrapping the dial error", i, e, h.d.all[i].stream)
		}
	}
	if !strings.HasSuffix(err.Error(), fmt.Sprintf("; and %d more", len(he)-maxShown)) {
		t.Errorf("Update error message not bounded: %s", err)
	}
	if got, want := len(h.logs.linesWith("kind=unreachable")), len(h.d.all); got != want {
		t.Errorf("got %d unreachable log lines, want %d (one per informer, not per retry)", got, want)
	}
}
