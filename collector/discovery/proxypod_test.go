package discovery

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// proxyPod is a Ready, running proxy pod of the Ingress default/name.
func proxyPod(name string, mods ...func(*corev1.Pod)) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "tailscale", Name: name, Labels: map[string]string{
			LabelManaged:         "true",
			LabelParentType:      ParentIngress,
			LabelParentNamespace: "default",
			LabelParentName:      "whoami",
		}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: ProxyContainer, Image: "tailscale/tailscale:v1.80.3"}}},
		Status: corev1.PodStatus{
			Phase:             corev1.PodRunning,
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: ProxyContainer, RestartCount: 2}},
		},
	}
	for _, m := range mods {
		m(pod)
	}
	return pod
}

func TestProxyPodFromPod(t *testing.T) {
	tests := []struct {
		name string
		pod  *corev1.Pod
		want ProxyPod
		ours bool
	}{
		{name: "nil pod", pod: nil},
		{name: "unmanaged pod", pod: proxyPod("a", func(p *corev1.Pod) { delete(p.Labels, LabelManaged) })},
		{name: "managed=false", pod: proxyPod("a", func(p *corev1.Pod) { p.Labels[LabelManaged] = "false" })},
		{
			name: "ready ingress proxy",
			pod:  proxyPod("ts-whoami-abcde-0"),
			ours: true,
			want: ProxyPod{Namespace: "tailscale", Name: "ts-whoami-abcde-0",
				Parent: Parent{Type: ParentIngress, Namespace: "default", Name: "whoami"},
				Ready:  true, Restarts: 2, Image: "tailscale/tailscale:v1.80.3", Version: "v1.80.3",
				Phase: "Running"},
		},
		{
			name: "user metrics on the port named metrics",
			pod: proxyPod("ts-whoami-abcde-0", func(p *corev1.Pod) {
				p.Status.PodIP = "10.1.2.3"
				p.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "debug", ContainerPort: 9001}, {Name: MetricsPortName, ContainerPort: 9002}}
				p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "sidecar", Ports: []corev1.ContainerPort{{Name: MetricsPortName, ContainerPort: 8080}}})
			}),
			ours: true,
			want: ProxyPod{Namespace: "tailscale", Name: "ts-whoami-abcde-0",
				Parent: Parent{Type: ParentIngress, Namespace: "default", Name: "whoami"},
				Ready:  true, Restarts: 2, Image: "tailscale/tailscale:v1.80.3", Version: "v1.80.3",
				Phase: "Running", IP: "10.1.2.3", MetricsPort: 9002},
		},
		{
			name: "proxy group pod has no parent namespace",
			pod: proxyPod("pg-0", func(p *corev1.Pod) {
				p.Labels[LabelParentType] = ParentProxyGroup
				p.Labels[LabelParentName] = "ingress-pg"
				p.Labels[LabelParentNamespace] = "ignored"
			}),
			ours: true,
			want: ProxyPod{Namespace: "tailscale", Name: "pg-0",
				Parent: Parent{Type: ParentProxyGroup, Name: "ingress-pg"},
				Ready:  true, Restarts: 2, Image: "tailscale/tailscale:v1.80.3", Version: "v1.80.3", Phase: "Running"},
		},
		{
			name: "not ready, sidecars ignored, image from status when spec lacks the container",
			pod: proxyPod("a", func(p *corev1.Pod) {
				p.Spec.Containers = []corev1.Container{{Name: "sidecar", Image: "busybox:1"}}
				p.Status.Phase = corev1.PodPending
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}
				p.Status.ContainerStatuses = []corev1.ContainerStatus{
					{Name: "sidecar", RestartCount: 9},
					{Name: ProxyContainer, RestartCount: 1, Image: "ghcr.io/tailscale/tailscale:v1.98.10"},
				}
			}),
			ours: true,
			want: ProxyPod{Namespace: "tailscale", Name: "a",
				Parent:   Parent{Type: ParentIngress, Namespace: "default", Name: "whoami"},
				Restarts: 1, Image: "ghcr.io/tailscale/tailscale:v1.98.10", Version: "v1.98.10", Phase: "Pending"},
		},
		{
			name: "empty pod with only the managed label",
			pod: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "tailscale", Name: "x",
				Labels: map[string]string{LabelManaged: "true"}}},
			ours: true,
			want: ProxyPod{Namespace: "tailscale", Name: "x", Version: VersionUnknown},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ours := ProxyPodFromPod(tt.pod)
			if ours != tt.ours {
				t.Fatalf("ours = %v, want %v", ours, tt.ours)
			}
			if got != tt.want {
				t.Errorf("proxy pod:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestImageVersion(t *testing.T) {
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		image, want string
	}{
		{"tailscale/tailscale:v1.80.3", "v1.80.3"},
		{"tailscale/tailscale:unstable-v1.81.5", "unstable-v1.81.5"},
		{"tailscale/tailscale:v1.80.3@" + digest, "v1.80.3"},
		{"tailscale/tailscale@" + digest, VersionUnknown},
		{"tailscale/tailscale", "latest"},
		{"registry.local:5000/tailscale/tailscale", "latest"},
		{"registry.local:5000/tailscale/tailscale:v1.98.10", "v1.98.10"},
		{"registry.local:5000/tailscale@" + digest, VersionUnknown},
		{"tailscale/tailscale:", "latest"},
		{"", VersionUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			if got := ImageVersion(tt.image); got != tt.want {
				t.Errorf("ImageVersion(%q) = %q, want %q", tt.image, got, tt.want)
			}
		})
	}
}

func TestProxyPodServes(t *testing.T) {
	ingress := Endpoint{Kind: KindIngress, Namespace: "default", Name: "whoami"}
	service := Endpoint{Kind: KindService, Namespace: "default", Name: "whoami"}
	haIngress := Endpoint{Kind: KindProxyGroup, Namespace: "default", Name: "web", ProxyGroup: "ingress-pg"}
	haService := Endpoint{Kind: KindService, Namespace: "apps", Name: "db", ProxyGroup: "ingress-pg"}
	tests := []struct {
		name   string
		parent Parent
		serves []Endpoint
		not    []Endpoint
	}{
		{
			name:   "ingress proxy serves its Ingress only, not a Service of the same name",
			parent: Parent{Type: ParentIngress, Namespace: "default", Name: "whoami"},
			serves: []Endpoint{ingress},
			not:    []Endpoint{service, haIngress, haService},
		},
		{
			name:   "svc proxy serves its Service",
			parent: Parent{Type: ParentService, Namespace: "default", Name: "whoami"},
			serves: []Endpoint{service},
			not:    []Endpoint{ingress, haIngress, haService},
		},
		{
			name:   "proxy group pod serves every endpoint on the group, in any namespace",
			parent: Parent{Type: ParentProxyGroup, Name: "ingress-pg"},
			serves: []Endpoint{haIngress, haService},
			not:    []Endpoint{ingress, service},
		},
		{
			name:   "other proxy group",
			parent: Parent{Type: ParentProxyGroup, Name: "egress-pg"},
			not:    []Endpoint{ingress, service, haIngress, haService},
		},
		{
			name:   "connector serves no endpoint",
			parent: Parent{Type: "connector", Name: "whoami"},
			not:    []Endpoint{ingress, service, haIngress, haService},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ProxyPod{Namespace: "tailscale", Name: "p-0", Parent: tt.parent}
			for _, e := range tt.serves {
				if !p.Serves(e) {
					t.Errorf("pod of %+v does not serve %s %s/%s", tt.parent, e.Kind, e.Namespace, e.Name)
				}
			}
			for _, e := range tt.not {
				if p.Serves(e) {
					t.Errorf("pod of %+v serves %s %s/%s", tt.parent, e.Kind, e.Namespace, e.Name)
				}
			}
		})
	}
}

func TestHostnameOf(t *testing.T) {
	whoami := Endpoint{Kind: KindIngress, Namespace: "default", Name: "whoami", Hostname: "whoami.tail1.ts.net", Provisioned: true}
	web := Endpoint{Kind: KindProxyGroup, Namespace: "default", Name: "web", ProxyGroup: "ingress-pg", Hostname: "web.tail1.ts.net", Provisioned: true}
	db := Endpoint{Kind: KindService, Namespace: "apps", Name: "db", ProxyGroup: "ingress-pg", RequestedHostname: "db"}
	onePG := Endpoint{Kind: KindProxyGroup, Namespace: "default", Name: "solo", ProxyGroup: "solo-pg", Hostname: "solo.tail1.ts.net", Provisioned: true}
	eps := []Endpoint{whoami, web, db, onePG}
	tests := []struct {
		name   string
		parent Parent
		want   string
	}{
		{"a proxy of one endpoint carries its hostname", Parent{Type: ParentIngress, Namespace: "default", Name: "whoami"}, "whoami.tail1.ts.net"},
		{"a ProxyGroup pod serving several carries none", Parent{Type: ParentProxyGroup, Name: "ingress-pg"}, ""},
		{"a ProxyGroup pod serving one carries it", Parent{Type: ParentProxyGroup, Name: "solo-pg"}, "solo.tail1.ts.net"},
		{"a pod serving no known endpoint carries none", Parent{Type: ParentService, Namespace: "default", Name: "gone"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := HostnameOf(ProxyPod{Name: "p-0", Parent: tt.parent}, eps); got != tt.want {
				t.Errorf("HostnameOf(pod of %+v) = %q, want %q", tt.parent, got, tt.want)
			}
		})
	}
}
