package discovery

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// snapshotOf lists objs through a fake clientset with the given reactors.
func snapshotOf(t *testing.T, opts Options, setup func(*fake.Clientset), objs ...runtime.Object) Snapshot {
	t.Helper()
	c := fake.NewClientset(objs...)
	if setup != nil {
		setup(c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return New(c, opts).Snapshot(ctx)
}

func endpointNames(eps []Endpoint) []string {
	var out []string
	for _, e := range eps {
		out = append(out, string(e.Kind)+":"+e.Namespace+"/"+e.Name)
	}
	return out
}

func podNames(pods []ProxyPod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Namespace+"/"+p.Name)
	}
	return out
}

func errorsOf(s Snapshot) []string {
	var out []string
	for _, e := range s.Errors {
		out = append(out, e.Resource+"@"+e.Namespace+":"+ErrorKind(e.Err))
	}
	return out
}

func TestSnapshot(t *testing.T) {
	inNS := func(ns string) func(*networkingv1.Ingress) { return func(i *networkingv1.Ingress) { i.Namespace = ns } }
	at := func(d time.Duration) func(*corev1.Event) {
		return func(e *corev1.Event) {
			e.LastTimestamp = metav1.NewTime(time.Date(2026, 2, 22, 10, 0, 0, 0, time.UTC).Add(d))
		}
	}
	objs := []runtime.Object{
		tsIngress("whoami", withTLSHost("whoami"), withStatusHostname("whoami.tn.ts.net")),
		tsIngress("api", withTLSHost("api"), inNS("web")),
		tsIngress("nginx-site", func(i *networkingv1.Ingress) { i.Spec.IngressClassName = ptr("nginx") }),
		tsService("db"),
		tsService("plain", func(s *corev1.Service) { s.Spec.LoadBalancerClass = nil; s.Spec.Type = corev1.ServiceTypeClusterIP }),
		proxyPod("ts-whoami-0"),
		proxyPod("ts-api-0", func(p *corev1.Pod) { p.Labels[LabelParentName] = "api" }),
		proxyPod("operator-abc", func(p *corev1.Pod) { delete(p.Labels, LabelManaged) }),
		proxyPod("ts-elsewhere-0", func(p *corev1.Pod) { p.Namespace = "other" }),
		warningEvent("old", "NoValidBackends", 2, at(0)),
		warningEvent("new", "HTTPSNotEnabled", 1, at(time.Minute)),
		warningEvent("normal", "Synced", 1, func(e *corev1.Event) { e.Type = corev1.EventTypeNormal }),
		warningEvent("on-pod", "BackOff", 1, func(e *corev1.Event) { e.InvolvedObject.Kind = "Pod" }),
		warningEvent("on-db", "INVALIDSERVICE", 1, func(e *corev1.Event) {
			e.InvolvedObject = corev1.ObjectReference{Kind: ResourceService, Namespace: "default", Name: "db"}
		}),
	}
	forbidden := func(resource string) func(*fake.Clientset) {
		return func(c *fake.Clientset) {
			c.PrependReactor("list", resource, func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: resource}, "", fmt.Errorf("no %s for you", resource))
			})
		}
	}
	unreachable := func(c *fake.Clientset) {
		c.PrependReactor("list", "*", func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, errRefused })
	}
	whoami := ObjectRef{ResourceIngress, "default", "whoami"}

	for _, tc := range []struct {
		name          string
		opts          Options
		setup         func(*fake.Clientset)
		endpoints     []string
		pods          []string
		whoamiReasons []string // latest first
		services      map[string][2]bool
		errors        []string
	}{
		{
			name:          "every object mapped as the informers map it",
			endpoints:     []string{"ingress:web/api", "service:default/db", "ingress:default/whoami"},
			pods:          []string{"tailscale/ts-api-0", "tailscale/ts-whoami-0"},
			whoamiReasons: []string{"HTTPSNotEnabled", "NoValidBackends"},
			services:      map[string][2]bool{"default/db": {true, true}, "default/plain": {true, true}, "default/gone": {false, true}},
		},
		{
			name:          "namespaces and operator namespace restrict as they do the informers",
			opts:          Options{Namespaces: []string{"web"}, OperatorNamespace: "other"},
			endpoints:     []string{"ingress:web/api"},
			pods:          []string{"other/ts-elsewhere-0"},
			whoamiReasons: nil,
			services:      map[string][2]bool{"default/db": {false, false}, "web/anything": {false, true}},
		},
		{
			name:          "forbidden services: the other lists go on, backends unknown",
			setup:         forbidden("services"),
			endpoints:     []string{"ingress:web/api", "ingress:default/whoami"},
			pods:          []string{"tailscale/ts-api-0", "tailscale/ts-whoami-0"},
			whoamiReasons: []string{"HTTPSNotEnabled", "NoValidBackends"},
			services:      map[string][2]bool{"default/db": {false, false}},
			errors:        []string{"services@:forbidden"},
		},
		{
			name:      "forbidden events and pods: named each",
			setup:     func(c *fake.Clientset) { forbidden("events")(c); forbidden("pods")(c) },
			endpoints: []string{"ingress:web/api", "service:default/db", "ingress:default/whoami"},
			errors:    []string{"events@:forbidden", "events@:forbidden", "pods@tailscale:forbidden"},
		},
		{
			name:     "unreachable: the first failure ends it",
			setup:    unreachable,
			services: map[string][2]bool{"default/db": {false, false}},
			errors:   []string{"ingresses@:unreachable"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := snapshotOf(t, tc.opts, tc.setup, objs...)
			if got := endpointNames(s.Endpoints); !slices.Equal(got, tc.endpoints) {
				t.Errorf("endpoints = %q, want %q", got, tc.endpoints)
			}
			if got := podNames(s.ProxyPods); !slices.Equal(got, tc.pods) {
				t.Errorf("proxy pods = %q, want %q", got, tc.pods)
			}
			var reasons []string
			for _, w := range s.WarningsOf(whoami) {
				reasons = append(reasons, w.EventReason())
			}
			if !slices.Equal(reasons, tc.whoamiReasons) {
				t.Errorf("warnings of whoami = %q, want %q", reasons, tc.whoamiReasons)
			}
			for svc, want := range tc.services {
				ns, name, _ := strings.Cut(svc, "/")
				if found, known := s.HasService(ns, name); found != want[0] || known != want[1] {
					t.Errorf("HasService(%s) = %v, %v; want %v, %v", svc, found, known, want[0], want[1])
				}
			}
			if got := errorsOf(s); !slices.Equal(got, tc.errors) {
				t.Errorf("errors = %q, want %q", got, tc.errors)
			}
		})
	}
}

// TestSnapshotMatchesInformers: over the same objects the snapshot holds
// what synced informers hold.
func TestSnapshotMatchesInformers(t *testing.T) {
	objs := scaleObjects(50)
	objs = append(objs, tsService("db"), warningEvent("w", "NoValidBackends", 3))
	h := start(t, Options{}, nil, objs...)
	h.synced(t)
	s := snapshotOf(t, Options{}, nil, objs...)
	if got, want := s.Endpoints, h.d.Endpoints(); !slices.EqualFunc(got, want, Endpoint.equal) {
		t.Errorf("snapshot endpoints differ from the informers':\n%q\n%q", endpointNames(got), endpointNames(want))
	}
	if got, want := s.ProxyPods, h.d.ProxyPods(); !slices.Equal(got, want) {
		t.Errorf("snapshot proxy pods differ from the informers':\n%+v\n%+v", got, want)
	}
	if len(s.Warnings) != 1 || s.Warnings[0].Count != 3 {
		t.Errorf("warnings = %+v, want the one NoValidBackends x3", s.Warnings)
	}
}

// TestSnapshotPages: lists are read page by page to the last one.
func TestSnapshotPages(t *testing.T) {
	const total = 1201
	var limits []int64
	pages := func(c *fake.Clientset) {
		c.PrependReactor("list", "ingresses", func(a k8stesting.Action) (bool, runtime.Object, error) {
			o := a.(k8stesting.ListActionImpl).GetListOptions()
			limits = append(limits, o.Limit)
			from, _ := strconv.Atoi(o.Continue)
			to := min(total, from+int(o.Limit))
			l := &networkingv1.IngressList{}
			for i := from; i < to; i++ {
				l.Items = append(l.Items, *tsIngress(fmt.Sprintf("app-%04d", i), withTLSHost(fmt.Sprintf("app-%04d", i))))
			}
			if to < total {
				l.Continue = strconv.Itoa(to)
			}
			return true, l, nil
		})
	}
	s := snapshotOf(t, Options{}, pages)
	if len(s.Endpoints) != total || len(s.Errors) != 0 {
		t.Errorf("got %d endpoints and errors %q, want %d and none", len(s.Endpoints), errorsOf(s), total)
	}
	if len(limits) != 3 || limits[0] <= 0 || limits[0] >= total {
		t.Errorf("list calls with limits %v, want 3 pages", limits)
	}
}
