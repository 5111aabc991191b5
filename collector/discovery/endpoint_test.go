package discovery

import (
	"reflect"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func ptr[T any](v T) *T { return &v }

// tsIngress is an Ingress of class tailscale in namespace default, changed by
// the given functions.
func tsIngress(name string, mods ...func(*networkingv1.Ingress)) *networkingv1.Ingress {
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec:       networkingv1.IngressSpec{IngressClassName: ptr("tailscale")},
	}
	for _, m := range mods {
		m(ing)
	}
	return ing
}

func withAnnotation(k, v string) func(*networkingv1.Ingress) {
	return func(ing *networkingv1.Ingress) {
		if ing.Annotations == nil {
			ing.Annotations = map[string]string{}
		}
		ing.Annotations[k] = v
	}
}

func withTLSHost(h string) func(*networkingv1.Ingress) {
	return func(ing *networkingv1.Ingress) {
		ing.Spec.TLS = append(ing.Spec.TLS, networkingv1.IngressTLS{Hosts: []string{h}})
	}
}

func withStatusHostname(h string) func(*networkingv1.Ingress) {
	return func(ing *networkingv1.Ingress) {
		ing.Status.LoadBalancer.Ingress = append(ing.Status.LoadBalancer.Ingress,
			networkingv1.IngressLoadBalancerIngress{Hostname: h})
	}
}

func withDefaultBackend(svc string, port int32) func(*networkingv1.Ingress) {
	return func(ing *networkingv1.Ingress) {
		ing.Spec.DefaultBackend = &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
			Name: svc, Port: networkingv1.ServiceBackendPort{Number: port}}}
	}
}

// withRule adds a rule for host with one path routed to svc at the named or
// numbered port.
func withRule(host, path, svc, portName string, port int32) func(*networkingv1.Ingress) {
	return func(ing *networkingv1.Ingress) {
		ing.Spec.Rules = append(ing.Spec.Rules, networkingv1.IngressRule{
			Host: host,
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{
					Path: path,
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
						Name: svc, Port: networkingv1.ServiceBackendPort{Name: portName, Number: port}}},
				}},
			}},
		})
	}
}

func TestEndpointFromIngress(t *testing.T) {
	tests := []struct {
		name string
		ing  *networkingv1.Ingress
		want Endpoint
		ours bool
	}{
		{
			name: "nil ingress",
			ing:  nil,
		},
		{
			name: "no ingress class",
			ing:  tsIngress("a", func(i *networkingv1.Ingress) { i.Spec.IngressClassName = nil }),
		},
		{
			name: "other ingress class",
			ing:  tsIngress("a", func(i *networkingv1.Ingress) { i.Spec.IngressClassName = ptr("traefik") }),
		},
		{
			name: "bare ingress: default hostname, not provisioned, no backend",
			ing:  tsIngress("whoami"),
			ours: true,
			want: Endpoint{Kind: KindIngress, Namespace: "default", Name: "whoami",
				RequestedHostname: "default-whoami-ingress"},
		},
		{
			name: "incident funnel ingress, provisioned",
			ing: tsIngress("whoami", withTLSHost("whoami"), withAnnotation(AnnotationFunnel, "true"),
				withDefaultBackend("whoami", 80), withStatusHostname("whoami.tail1234.ts.net")),
			ours: true,
			want: Endpoint{Kind: KindIngress, Namespace: "default", Name: "whoami",
				Hostname: "whoami.tail1234.ts.net", RequestedHostname: "whoami", Provisioned: true,
				Funnel: true, Backend: "whoami:80"},
		},
		{
			name: "incident cluster tunnel: TLS host with domain, suffixed device name",
			ing: tsIngress("traefik-ingress", func(i *networkingv1.Ingress) { i.Namespace = "kube-system" },
				withTLSHost("k8s.tail1234.ts.net"), withDefaultBackend("traefik", 80),
				withStatusHostname("k8s-1.tail1234.ts.net")),
			ours: true,
			want: Endpoint{Kind: KindIngress, Namespace: "kube-system", Name: "traefik-ingress",
				Hostname: "k8s-1.tail1234.ts.net", RequestedHostname: "k8s", Provisioned: true,
				Suffixed: true, Backend: "traefik:80"},
		},
		{
			name: "obtained name differing only in case is not suffixed",
			ing:  tsIngress("a", withTLSHost("Web"), withStatusHostname("web.tail1234.ts.net.")),
			ours: true,
			want: Endpoint{Kind: KindIngress, Namespace: "default", Name: "a",
				Hostname: "web.tail1234.ts.net", RequestedHostname: "Web", Provisioned: true},
		},
		{
			name: "status entries without hostname are skipped",
			ing: tsIngress("a", withTLSHost("web"), withStatusHostname(""),
				withStatusHostname("web.tail1234.ts.net")),
			ours: true,
			want: Endpoint{Kind: KindIngress, Namespace: "default", Name: "a",
				Hostname: "web.tail1234.ts.net", RequestedHostname: "web", Provisioned: true},
		},
		{
			name: "HA ingress status with empty hostname is not provisioned",
			ing: tsIngress("a", withTLSHost("web"), withAnnotation(AnnotationProxyGroup, "ingress-pg"),
				withStatusHostname("")),
			ours: true,
			want: Endpoint{Kind: KindProxyGroup, Namespace: "default", Name: "a",
				RequestedHostname: "web", ProxyGroup: "ingress-pg"},
		},
		{
			name: "funnel on a ProxyGroup Ingress is ignored by the operator",
			ing: tsIngress("a", withTLSHost("web"), withAnnotation(AnnotationProxyGroup, "ingress-pg"),
				withAnnotation(AnnotationFunnel, "true")),
			ours: true,
			want: Endpoint{Kind: KindProxyGroup, Namespace: "default", Name: "a",
				RequestedHostname: "web", ProxyGroup: "ingress-pg", Funnel: true, FunnelIgnored: true},
		},
		{
			name: "annotations, labels and tags are read and normalised",
			ing: tsIngress("a", withTLSHost("web"),
				withAnnotation(AnnotationTags, " tag:web, tag:k8s,tag:web "),
				withAnnotation(AnnotationHTTPRedirect, "true"),
				withAnnotation(AnnotationFunnel, "false"),
				func(i *networkingv1.Ingress) { i.Labels = map[string]string{LabelProxyClass: "prod"} }),
			ours: true,
			want: Endpoint{Kind: KindIngress, Namespace: "default", Name: "a", RequestedHostname: "web",
				HTTPRedirect: true, Tags: "tag:k8s,tag:web", ProxyClass: "prod"},
		},
		{
			name: "proxy class from annotation when no label",
			ing:  tsIngress("a", withTLSHost("web"), withAnnotation(LabelProxyClass, "dev")),
			ours: true,
			want: Endpoint{Kind: KindIngress, Namespace: "default", Name: "a", RequestedHostname: "web",
				ProxyClass: "dev"},
		},
		{
			name: "garbage annotations are read as the operator reads them and flagged",
			ing: tsIngress("a", withTLSHost("web"),
				withAnnotation(AnnotationFunnel, "yes"),
				withAnnotation(AnnotationHTTPRedirect, "TRUE"),
				withAnnotation(AnnotationTags, "k8s,tag:,,tag:ok")),
			ours: true,
			want: Endpoint{Kind: KindIngress, Namespace: "default", Name: "a", RequestedHostname: "web",
				Tags:    "k8s,tag:,tag:ok",
				Invalid: []string{AnnotationFunnel, AnnotationHTTPRedirect, AnnotationTags}},
		},
		{
			name: "empty TLS host is what the operator requests, flagged",
			ing:  tsIngress("a", withTLSHost("")),
			ours: true,
			want: Endpoint{Kind: KindIngress, Namespace: "default", Name: "a", Invalid: []string{FieldTLSHost}},
		},
		{
			name: "TLS block without hosts falls back to the default name",
			ing: tsIngress("a", func(i *networkingv1.Ingress) {
				i.Spec.TLS = []networkingv1.IngressTLS{{SecretName: "x"}}
			}),
			ours: true,
			want: Endpoint{Kind: KindIngress, Namespace: "default", Name: "a", RequestedHostname: "default-a-ingress"},
		},
		{
			name: "default name longer than a DNS label is flagged",
			ing:  tsIngress("a-very-long-ingress-name-that-goes-on-and-on-and-on-for-ever-and-ever"),
			ours: true,
			want: Endpoint{Kind: KindIngress, Namespace: "default",
				Name:              "a-very-long-ingress-name-that-goes-on-and-on-and-on-for-ever-and-ever",
				RequestedHostname: "default-a-very-long-ingress-name-that-goes-on-and-on-and-on-for-ever-and-ever-ingress",
				Invalid:           []string{FieldTLSHost}},
		},
		{
			name: "root rule replaces the default backend, as in the operator's serve config",
			ing: tsIngress("a", withTLSHost("web"), withDefaultBackend("fallback", 8080),
				withRule("", "/", "app", "http", 0)),
			ours: true,
			want: Endpoint{Kind: KindIngress, Namespace: "default", Name: "a", RequestedHostname: "web",
				Backend: "app:http"},
		},
		{
			name: "empty path means root",
			ing: tsIngress("a", withTLSHost("web"), withRule("", "/api", "api", "", 9000),
				withRule("", "", "app", "", 80)),
			ours: true,
			want: Endpoint{Kind: KindIngress, Namespace: "default", Name: "a", RequestedHostname: "web",
				Backend: "app:80"},
		},
		{
			name: "without a root path the first backend stands",
			ing: tsIngress("a", withTLSHost("web"), withRule("", "/api", "api", "", 9000),
				withRule("", "/ui", "ui", "", 80)),
			ours: true,
			want: Endpoint{Kind: KindIngress, Namespace: "default", Name: "a", RequestedHostname: "web",
				Backend: "api:9000"},
		},
		{
			name: "rules for another host are ignored like the operator does",
			ing: tsIngress("a", withTLSHost("web.tail1234.ts.net"),
				withRule("other.example.com", "/", "other", "", 80),
				withRule("web.tail1234.ts.net", "/", "app", "", 80)),
			ours: true,
			want: Endpoint{Kind: KindIngress, Namespace: "default", Name: "a", RequestedHostname: "web",
				Backend: "app:80"},
		},
		{
			name: "rule without http block and resource backends do not panic",
			ing: tsIngress("a", withTLSHost("web"), func(i *networkingv1.Ingress) {
				i.Spec.Rules = []networkingv1.IngressRule{{Host: ""}}
				i.Spec.DefaultBackend = &networkingv1.IngressBackend{
					Resource: &corev1.TypedLocalObjectReference{Kind: "Bucket", Name: "b"}}
			}),
			ours: true,
			want: Endpoint{Kind: KindIngress, Namespace: "default", Name: "a", RequestedHostname: "web"},
		},
		{
			name: "service backend without port",
			ing: tsIngress("a", withTLSHost("web"), func(i *networkingv1.Ingress) {
				i.Spec.DefaultBackend = &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "app"}}
			}),
			ours: true,
			want: Endpoint{Kind: KindIngress, Namespace: "default", Name: "a", RequestedHostname: "web",
				Backend: "app"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ours := EndpointFromIngress(tt.ing, "tailscale")
			if ours != tt.ours {
				t.Fatalf("ours = %v, want %v", ours, tt.ours)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("endpoint:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func tsService(name string, mods ...func(*corev1.Service)) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.ServiceSpec{
			Type:              corev1.ServiceTypeLoadBalancer,
			LoadBalancerClass: ptr(LoadBalancerClass),
			Ports:             []corev1.ServicePort{{Port: 80}, {Port: 443}},
		},
	}
	for _, m := range mods {
		m(svc)
	}
	return svc
}

func withSvcAnnotation(k, v string) func(*corev1.Service) {
	return func(s *corev1.Service) {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[k] = v
	}
}

func TestEndpointFromService(t *testing.T) {
	notLB := func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeClusterIP
		s.Spec.LoadBalancerClass = nil
	}
	tests := []struct {
		name string
		svc  *corev1.Service
		want Endpoint
		ours bool
	}{
		{name: "nil service", svc: nil},
		{name: "plain ClusterIP service", svc: tsService("a", notLB)},
		{
			name: "other load balancer class",
			svc:  tsService("a", func(s *corev1.Service) { s.Spec.LoadBalancerClass = ptr("metallb") }),
		},
		{
			name: "expose annotation must be exactly true",
			svc:  tsService("a", notLB, withSvcAnnotation(AnnotationExpose, "True")),
		},
		{
			name: "load balancer class, default hostname, provisioned with IP",
			svc: tsService("db", func(s *corev1.Service) {
				s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{
					{Hostname: "default-db.tail1234.ts.net"}, {IP: "100.64.0.7"}}
			}),
			ours: true,
			want: Endpoint{Kind: KindService, Namespace: "default", Name: "db",
				Hostname: "default-db.tail1234.ts.net", RequestedHostname: "default-db", Provisioned: true,
				Backend: "db:80", ServicePorts: []int{80, 443}},
		},
		{
			name: "expose annotation, hostname annotation, never provisioned",
			svc: tsService("db", notLB, withSvcAnnotation(AnnotationExpose, "true"),
				withSvcAnnotation(AnnotationHostname, "postgres"),
				withSvcAnnotation(AnnotationTags, "tag:db"),
				func(s *corev1.Service) { s.Labels = map[string]string{LabelProxyClass: "prod"} }),
			ours: true,
			want: Endpoint{Kind: KindService, Namespace: "default", Name: "db", RequestedHostname: "postgres",
				Backend: "db:80", ServicePorts: []int{80, 443}, Tags: "tag:db", ProxyClass: "prod"},
		},
		{
			name: "HA service on a proxy group keeps kind service",
			svc: tsService("db", withSvcAnnotation(AnnotationProxyGroup, "ingress-pg"), func(s *corev1.Service) {
				s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{Hostname: "default-db-1.tail1234.ts.net"}}
			}),
			ours: true,
			want: Endpoint{Kind: KindService, Namespace: "default", Name: "db", ProxyGroup: "ingress-pg",
				Hostname: "default-db-1.tail1234.ts.net", RequestedHostname: "default-db", Provisioned: true,
				Suffixed: true, Backend: "db:80", ServicePorts: []int{80, 443}},
		},
		{
			name: "empty or invalid hostname annotation is flagged",
			svc: tsService("db", withSvcAnnotation(AnnotationHostname, "-bad_name"),
				func(s *corev1.Service) { s.Spec.Ports = nil }),
			ours: true,
			want: Endpoint{Kind: KindService, Namespace: "default", Name: "db", RequestedHostname: "-bad_name",
				Backend: "db", Invalid: []string{AnnotationHostname}},
		},
		{
			name: "funnel annotation means nothing on a Service: flagged as ignored",
			svc:  tsService("db", withSvcAnnotation(AnnotationFunnel, "true")),
			ours: true,
			want: Endpoint{Kind: KindService, Namespace: "default", Name: "db", RequestedHostname: "default-db",
				Backend: "db:80", ServicePorts: []int{80, 443}, FunnelIgnored: true},
		},
		{
			name: "a UDP port is not served over TCP",
			svc: tsService("dns", func(s *corev1.Service) {
				s.Spec.Ports = []corev1.ServicePort{{Port: 53, Protocol: corev1.ProtocolUDP}, {Port: 53, Protocol: corev1.ProtocolTCP}}
			}),
			ours: true,
			want: Endpoint{Kind: KindService, Namespace: "default", Name: "dns", RequestedHostname: "default-dns",
				Backend: "dns:53", ServicePorts: []int{53}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ours := EndpointFromService(tt.svc)
			if ours != tt.ours {
				t.Fatalf("ours = %v, want %v", ours, tt.ours)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("endpoint:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestEndpointAccessors(t *testing.T) {
	tests := []struct {
		name       string
		e          Endpoint
		wantLabel  string
		wantTarget string
		probeable  bool
		wantObject ObjectRef
		wantParent Parent
	}{
		{
			name:       "provisioned ingress",
			e:          Endpoint{Kind: KindIngress, Namespace: "ns", Name: "a", Hostname: "a.t.ts.net", RequestedHostname: "a", Provisioned: true},
			wantLabel:  "a.t.ts.net",
			wantTarget: "a.t.ts.net",
			probeable:  true,
			wantObject: ObjectRef{ResourceIngress, "ns", "a"},
			wantParent: Parent{Type: ParentIngress, Namespace: "ns", Name: "a"},
		},
		{
			name:       "unprovisioned service is labelled by its requested name and not probeable",
			e:          Endpoint{Kind: KindService, Namespace: "ns", Name: "db", RequestedHostname: "ns-db"},
			wantLabel:  "ns-db",
			wantObject: ObjectRef{ResourceService, "ns", "db"},
			wantParent: Parent{Type: ParentService, Namespace: "ns", Name: "db"},
		},
		{
			name:       "HA ingress is served by its proxy group",
			e:          Endpoint{Kind: KindProxyGroup, Namespace: "ns", Name: "a", RequestedHostname: "a", ProxyGroup: "pg"},
			wantLabel:  "a",
			wantObject: ObjectRef{ResourceIngress, "ns", "a"},
			wantParent: Parent{Type: ParentProxyGroup, Name: "pg"},
		},
		{
			name:       "HA service is served by its proxy group",
			e:          Endpoint{Kind: KindService, Namespace: "ns", Name: "db", RequestedHostname: "db", ProxyGroup: "pg"},
			wantLabel:  "db",
			wantObject: ObjectRef{ResourceService, "ns", "db"},
			wantParent: Parent{Type: ParentProxyGroup, Name: "pg"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.e.HostnameLabel(); got != tt.wantLabel {
				t.Errorf("HostnameLabel() = %q, want %q", got, tt.wantLabel)
			}
			if got, ok := tt.e.Target(); got != tt.wantTarget || ok != tt.probeable {
				t.Errorf("Target() = %q, %v, want %q, %v", got, ok, tt.wantTarget, tt.probeable)
			}
			if got := tt.e.Object(); got != tt.wantObject {
				t.Errorf("Object() = %+v, want %+v", got, tt.wantObject)
			}
			if got := tt.e.ProxyParent(); got != tt.wantParent {
				t.Errorf("ProxyParent() = %+v, want %+v", got, tt.wantParent)
			}
		})
	}
}

func TestServedPorts(t *testing.T) {
	tests := []struct {
		name string
		e    Endpoint
		want []int
	}{
		{"ingress serves 443", Endpoint{Kind: KindIngress}, []int{443}},
		{"http-redirect adds 80", Endpoint{Kind: KindIngress, HTTPRedirect: true}, []int{80, 443}},
		{"proxygroup ingress", Endpoint{Kind: KindProxyGroup}, []int{443}},
		{"service forwards its TCP ports", Endpoint{Kind: KindService, ServicePorts: []int{5432}}, []int{5432}},
		{"service without TCP ports", Endpoint{Kind: KindService}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.e.ServedPorts(); !slices.Equal(got, tt.want) {
				t.Errorf("ServedPorts() = %v, want %v", got, tt.want)
			}
		})
	}
}
