// Package discovery finds the ts.net endpoints that the Tailscale Kubernetes
// operator exposes, the proxy pods that serve them and the Warning Events the
// operator records on them, and turns that state into metrics.
//
// The pure half (EndpointFromIngress, EndpointFromService, ProxyPodFromPod,
// WarningFromEvent and the *Metrics functions) maps one plain Kubernetes
// object to a value or to metrics, like kube-state-metrics' metric families.
// Discovery wires those functions to client-go informers, so the prober can
// follow endpoints as they come and go and a scrape reflects the caches.
package discovery

import (
	"reflect"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// Labels and annotations the operator reads on Ingresses and Services.
const (
	AnnotationFunnel       = "tailscale.com/funnel"
	AnnotationTags         = "tailscale.com/tags"
	AnnotationProxyGroup   = "tailscale.com/proxy-group"
	AnnotationHTTPRedirect = "tailscale.com/http-redirect"
	AnnotationExpose       = "tailscale.com/expose"
	AnnotationHostname     = "tailscale.com/hostname"
	LabelProxyClass        = "tailscale.com/proxy-class"

	// LoadBalancerClass is the spec.loadBalancerClass of Services the
	// operator exposes.
	LoadBalancerClass = "tailscale"

	// FieldTLSHost names the Ingress field the requested hostname comes from,
	// as listed in Endpoint.Invalid.
	FieldTLSHost = "spec.tls[0].hosts[0]"
)

// Kind says what a user created to get an endpoint. It is a label value.
type Kind string

const (
	// KindIngress is an Ingress with its own proxy StatefulSet.
	KindIngress Kind = "ingress"
	// KindProxyGroup is an Ingress served by a ProxyGroup (an HA Ingress).
	// Services on a ProxyGroup keep KindService with ProxyGroup set, so that
	// kind, namespace and name always name exactly one object.
	KindProxyGroup Kind = "proxygroup"
	// KindService is a Service of spec.loadBalancerClass tailscale or with
	// the tailscale.com/expose annotation.
	KindService Kind = "service"
)

// Kubernetes kinds of the objects endpoints come from, as an Event's
// involvedObject.kind spells them.
const (
	ResourceIngress = "Ingress"
	ResourceService = "Service"
)

// ObjectRef names the Kubernetes object behind an endpoint.
type ObjectRef struct {
	Resource  string // ResourceIngress or ResourceService
	Namespace string
	Name      string
}

// Endpoint is one ts.net endpoint the operator exposes for an Ingress or a
// Service.
type Endpoint struct {
	Kind      Kind
	Namespace string
	Name      string

	// Hostname is the MagicDNS name the device obtained, from
	// status.loadBalancer.ingress[].hostname; empty until provisioned.
	Hostname string
	// RequestedHostname is the first DNS label the operator asks for. The
	// tailnet suffix is not known until the status carries the FQDN.
	RequestedHostname string
	// Provisioned is true once the status carries a hostname. Only
	// provisioned endpoints can be probed.
	Provisioned bool
	// Suffixed is true when the obtained name differs from the requested one,
	// as when the tailnet already had a device of that name (k8s-1 for k8s).
	Suffixed bool

	Funnel bool
	// FunnelIgnored reports a tailscale.com/funnel: "true" annotation the
	// operator does not act on: on a Service, or on an Ingress served by a
	// ProxyGroup (its ingress-for-pg reconciler never reads it), so
	// Funnel does not reach the endpoint.
	FunnelIgnored bool
	HTTPRedirect  bool
	// Tags is the tailscale.com/tags annotation sorted, deduplicated and
	// comma-joined; empty when the operator's default tags apply.
	Tags       string
	ProxyClass string
	ProxyGroup string
	// Backend is service:port (port number or name) of the Ingress backend
	// that serves "/" (what a probe of the root hits), else of the first
	// Service backend; empty when the Ingress names no Service backend. A
	// spec.defaultBackend is reported by its service:port too, not as
	// "default-backend": the operator mounts it at "/" and has no
	// controller-wide default of its own. For a Service: name:first port.
	Backend string
	// ServicePorts are a Service's TCP ports, which its proxy serves on
	// the tailnet; nil for an Ingress (see ServedPorts).
	ServicePorts []int

	// Invalid lists, sorted, the annotations (or FieldTLSHost) whose values
	// the operator will not accept as meant: funnel: "yes", a tag without
	// the tag: prefix, a hostname that is not a DNS label. The endpoint is
	// still reported, with the value read the way the operator reads it.
	Invalid []string
}

// ServedPorts are the ports the endpoint's proxy serves on the tailnet: an
// Ingress's proxy serves HTTPS on 443, and HTTP on 80 when http-redirect
// is on; a Service's proxy forwards the Service's TCP ports.
func (e Endpoint) ServedPorts() []int {
	if e.Kind == KindService {
		return e.ServicePorts
	}
	if e.HTTPRedirect {
		return []int{80, 443}
	}
	return []int{443}
}

// Object names the Ingress or Service the endpoint comes from.
func (e Endpoint) Object() ObjectRef {
	r := ResourceIngress
	if e.Kind == KindService {
		r = ResourceService
	}
	return ObjectRef{Resource: r, Namespace: e.Namespace, Name: e.Name}
}

// HostnameLabel is the endpoint's hostname label value: the obtained FQDN,
// or the requested name while not provisioned, so that an endpoint that
// never came up still has a recognisable series.
func (e Endpoint) HostnameLabel() string {
	if e.Provisioned {
		return e.Hostname
	}
	return e.RequestedHostname
}

// Target returns the name to probe and whether there is one: only a
// provisioned endpoint has a known FQDN.
func (e Endpoint) Target() (string, bool) {
	return e.Hostname, e.Provisioned
}

// ProxyParent is the parent the operator labels this endpoint's proxy pods
// with.
func (e Endpoint) ProxyParent() Parent {
	if e.ProxyGroup != "" {
		return Parent{Type: ParentProxyGroup, Name: e.ProxyGroup}
	}
	if e.Kind == KindService {
		return Parent{Type: ParentService, Namespace: e.Namespace, Name: e.Name}
	}
	return Parent{Type: ParentIngress, Namespace: e.Namespace, Name: e.Name}
}

func (e Endpoint) equal(o Endpoint) bool {
	return reflect.DeepEqual(e, o)
}

// EndpointFromIngress returns the endpoint of an Ingress of the given
// IngressClass, and false for any other Ingress.
func EndpointFromIngress(ing *networkingv1.Ingress, className string) (Endpoint, bool) {
	if ing == nil || ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != className {
		return Endpoint{}, false
	}
	var inv invalid
	e := Endpoint{
		Kind:       KindIngress,
		Namespace:  ing.Namespace,
		Name:       ing.Name,
		ProxyClass: proxyClass(ing.Labels, ing.Annotations),
		ProxyGroup: ing.Annotations[AnnotationProxyGroup],
		Backend:    ingressBackend(ing),
	}
	if e.ProxyGroup != "" {
		e.Kind = KindProxyGroup
	}
	e.Funnel = inv.boolAnnotation(ing.Annotations, AnnotationFunnel)
	e.FunnelIgnored = e.Funnel && e.Kind == KindProxyGroup
	e.HTTPRedirect = inv.boolAnnotation(ing.Annotations, AnnotationHTTPRedirect)
	e.Tags = inv.tags(ing.Annotations)

	// As the operator does: the first label of the first TLS host, else a
	// name derived from the object.
	if tls := ing.Spec.TLS; len(tls) > 0 && len(tls[0].Hosts) > 0 {
		e.RequestedHostname, _, _ = strings.Cut(tls[0].Hosts[0], ".")
		inv.label(FieldTLSHost, e.RequestedHostname)
	} else {
		e.RequestedHostname = ing.Namespace + "-" + ing.Name + "-ingress"
		inv.label(FieldTLSHost, e.RequestedHostname)
	}
	for _, lb := range ing.Status.LoadBalancer.Ingress {
		if h := strings.TrimSuffix(lb.Hostname, "."); h != "" {
			e.Hostname = h
			break
		}
	}
	e.finish(inv)
	return e, true
}

// EndpointFromService returns the endpoint of a Service the operator
// exposes (spec.loadBalancerClass tailscale, or annotation
// tailscale.com/expose: "true"), and false for any other Service.
//
// The requested hostname is the tailscale.com/hostname annotation, else
// <namespace>-<name>, as in the operator. Services exposed by annotation
// without being of type LoadBalancer never get a status hostname, so they
// stay unprovisioned (not probeable) here.
func EndpointFromService(svc *corev1.Service) (Endpoint, bool) {
	if svc == nil {
		return Endpoint{}, false
	}
	lbClass := svc.Spec.LoadBalancerClass != nil && *svc.Spec.LoadBalancerClass == LoadBalancerClass
	if !lbClass && svc.Annotations[AnnotationExpose] != "true" {
		return Endpoint{}, false
	}
	var inv invalid
	e := Endpoint{
		Kind:       KindService,
		Namespace:  svc.Namespace,
		Name:       svc.Name,
		ProxyClass: proxyClass(svc.Labels, svc.Annotations),
		ProxyGroup: svc.Annotations[AnnotationProxyGroup],
		Backend:    svc.Name,
	}
	if ports := svc.Spec.Ports; len(ports) > 0 {
		e.Backend = svc.Name + ":" + strconv.Itoa(int(ports[0].Port))
	}
	for _, p := range svc.Spec.Ports {
		if p.Protocol == "" || p.Protocol == corev1.ProtocolTCP {
			e.ServicePorts = append(e.ServicePorts, int(p.Port))
		}
	}
	e.Tags = inv.tags(svc.Annotations)
	e.FunnelIgnored = svc.Annotations[AnnotationFunnel] == "true"
	if h, ok := svc.Annotations[AnnotationHostname]; ok {
		e.RequestedHostname = h
		inv.label(AnnotationHostname, h)
	} else {
		e.RequestedHostname = svc.Namespace + "-" + svc.Name
		inv.label(AnnotationHostname, e.RequestedHostname)
	}
	for _, lb := range svc.Status.LoadBalancer.Ingress {
		if h := strings.TrimSuffix(lb.Hostname, "."); h != "" {
			e.Hostname = h
			break
		}
	}
	e.finish(inv)
	return e, true
}

func (e *Endpoint) finish(inv invalid) {
	e.Provisioned = e.Hostname != ""
	if e.Provisioned {
		first, _, _ := strings.Cut(e.Hostname, ".")
		// Device names are case-insensitive; the operator may have been
		// asked for "Web" and obtained "web".
		e.Suffixed = !strings.EqualFold(first, e.RequestedHostname)
	}
	if len(inv) > 0 {
		slices.Sort(inv)
		e.Invalid = slices.Compact(inv)
	}
}

// proxyClass reads the ProxyClass the way the operator does: the label,
// falling back to an annotation of the same key.
func proxyClass(labels, annotations map[string]string) string {
	if pc, ok := labels[LabelProxyClass]; ok {
		return pc
	}
	return annotations[LabelProxyClass]
}

// ingressBackend mirrors how the operator builds its serve config: the
// default backend is mounted at "/", then every rule path (an empty path
// meaning "/") in order, later ones replacing earlier ones. Rules for a host
// other than the TLS host are ignored by the operator, and so here.
func ingressBackend(ing *networkingv1.Ingress) string {
	var tlsHost string
	if tls := ing.Spec.TLS; len(tls) > 0 && len(tls[0].Hosts) > 0 {
		tlsHost = tls[0].Hosts[0]
	}
	var root, first string
	add := func(b *networkingv1.IngressBackend, path string) {
		s := serviceBackend(b)
		if s == "" {
			return
		}
		if first == "" {
			first = s
		}
		if path == "" || path == "/" {
			root = s
		}
	}
	add(ing.Spec.DefaultBackend, "/")
	for _, rule := range ing.Spec.Rules {
		if rule.Host != "" && rule.Host != tlsHost || rule.HTTP == nil {
			continue
		}
		for i := range rule.HTTP.Paths {
			add(&rule.HTTP.Paths[i].Backend, rule.HTTP.Paths[i].Path)
		}
	}
	if root != "" {
		return root
	}
	return first
}

func serviceBackend(b *networkingv1.IngressBackend) string {
	if b == nil || b.Service == nil || b.Service.Name == "" {
		return ""
	}
	switch p := b.Service.Port; {
	case p.Name != "":
		return b.Service.Name + ":" + p.Name
	case p.Number != 0:
		return b.Service.Name + ":" + strconv.Itoa(int(p.Number))
	default:
		return b.Service.Name
	}
}

// invalid collects the keys of values the operator will not accept.
type invalid []string

// boolAnnotation reads a boolean annotation as the operator does: only
// "true" is true. Values other than "true" and "false" are flagged.
func (inv *invalid) boolAnnotation(annotations map[string]string, key string) bool {
	v, ok := annotations[key]
	if ok && v != "true" && v != "false" {
		*inv = append(*inv, key)
	}
	return v == "true"
}

// tags normalises the tags annotation so that the same set always gives the
// same label value; a tag the operator would reject is kept but flagged.
func (inv *invalid) tags(annotations map[string]string) string {
	raw, ok := annotations[AnnotationTags]
	if !ok {
		return ""
	}
	var tags []string
	for t := range strings.SplitSeq(raw, ",") {
		t = strings.TrimSpace(t)
		if name, ok := strings.CutPrefix(t, "tag:"); !ok || !validLabelish(name) {
			*inv = append(*inv, AnnotationTags)
		}
		if t != "" {
			tags = append(tags, t)
		}
	}
	slices.Sort(tags)
	return strings.Join(slices.Compact(tags), ",")
}

// label flags key when v is not a DNS label, which the operator requires of
// a device name.
func (inv *invalid) label(key, v string) {
	if len(v) > 63 || !validLabelish(v) {
		*inv = append(*inv, key)
	}
}

// validLabelish reports whether s is non-empty, made of letters, digits and
// hyphens, and starts and ends with a letter or digit.
func validLabelish(s string) bool {
	if s == "" {
		return false
	}
	alnum := func(c byte) bool {
		return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
	}
	for i := 0; i < len(s); i++ {
		if !alnum(s[i]) && (s[i] != '-' || i == 0 || i == len(s)-1) {
			return false
		}
	}
	return true
}
