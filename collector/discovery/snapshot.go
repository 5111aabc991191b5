package discovery

import (
	"cmp"
	"context"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/pager"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/kubeapi"
)

// Snapshot is what the informers would hold, read once: for a one-off
// reader (the diagnose command) that has no time to run them.
type Snapshot struct {
	// Endpoints of every Ingress and Service, sorted as Endpoints sorts
	// them but not deduplicated: two objects claiming one name are both
	// there.
	Endpoints []Endpoint
	ProxyPods []ProxyPod // sorted by namespace and name
	// Warnings on Ingresses and Services, latest first.
	Warnings []Warning
	// Errors are the lists that failed, in the order they were made.
	Errors []ListError

	services       map[string]bool // namespace/name of every Service listed
	servicesListed map[string]bool // namespaces whose Services were listed; "" for all
}

// ListError is one failed list: which resource, where, and why.
type ListError struct {
	Resource  string // ResourceIngresses, ResourceServices, ResourcePods or ResourceEvents
	Namespace string // "" for all namespaces
	Err       error
}

// Snapshot lists what the informers watch once, page by page, with the
// informers' own calls (the same namespaces, selectors and RBAC) and the
// same object mapping, without starting them. A list that fails is
// recorded in Errors and the others go on, except after an error that
// says the API cannot be used at all (kubeapi.Unusable): every further
// call would fail the same way, each after its own timeout.
func (d *Discovery) Snapshot(ctx context.Context) Snapshot {
	s := Snapshot{services: map[string]bool{}, servicesListed: map[string]bool{}}
	events := map[string]bool{} // by Warning.Event: a fake clientset ignores the per-kind field selectors
	for _, src := range d.all {
		err := pager.New(src.list).EachListItem(ctx, metav1.ListOptions{}, func(obj runtime.Object) error {
			switch o := obj.(type) {
			case *networkingv1.Ingress:
				if e, ok := EndpointFromIngress(o, d.opts.IngressClass); ok {
					s.Endpoints = append(s.Endpoints, e)
				}
			case *corev1.Service:
				s.services[o.Namespace+"/"+o.Name] = true
				if e, ok := EndpointFromService(o); ok {
					s.Endpoints = append(s.Endpoints, e)
				}
			case *corev1.Event:
				if w, ok := WarningFromEvent(o); ok && !events[w.Event] {
					events[w.Event] = true
					s.Warnings = append(s.Warnings, w)
				}
			case *corev1.Pod:
				if p, ok := ProxyPodFromPod(o); ok {
					s.ProxyPods = append(s.ProxyPods, p)
				}
			}
			return nil
		})
		if err != nil {
			s.Errors = append(s.Errors, ListError{Resource: src.resource, Namespace: src.namespace, Err: err})
			if kubeapi.Unusable(err) {
				break
			}
			continue
		}
		if src.resource == ResourceServices {
			s.servicesListed[src.namespace] = true
		}
	}
	sortEndpoints(s.Endpoints)
	sortProxyPods(s.ProxyPods)
	slices.SortStableFunc(s.Warnings, func(a, b Warning) int { return b.Last.Compare(a.Last) })
	return s
}

// WarningsOf returns the Warnings on one object, latest first.
func (s Snapshot) WarningsOf(obj ObjectRef) []Warning {
	var out []Warning
	for _, w := range s.Warnings {
		if w.Object == obj {
			out = append(out, w)
		}
	}
	return out
}

// HasService reports whether the Service namespace/name exists; known is
// false when the Services of its namespace could not be listed.
func (s Snapshot) HasService(namespace, name string) (exists, known bool) {
	if !s.servicesListed[metav1.NamespaceAll] && !s.servicesListed[namespace] {
		return false, false
	}
	return s.services[namespace+"/"+name], true
}

// sortEndpoints orders endpoints by hostname label, then kind, namespace
// and name.
func sortEndpoints(eps []Endpoint) {
	slices.SortFunc(eps, func(a, b Endpoint) int {
		return cmp.Or(cmp.Compare(a.HostnameLabel(), b.HostnameLabel()),
			cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
}

func sortProxyPods(pods []ProxyPod) {
	slices.SortFunc(pods, func(a, b ProxyPod) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
}
