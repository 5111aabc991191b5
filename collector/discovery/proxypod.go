package discovery

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Labels the operator puts on its proxy pods.
const (
	LabelManaged         = "tailscale.com/managed"
	LabelParentName      = "tailscale.com/parent-resource"
	LabelParentNamespace = "tailscale.com/parent-resource-ns"
	LabelParentType      = "tailscale.com/parent-resource-type"

	// ProxyContainer is the name of the container running tailscaled and
	// containerboot in every proxy pod.
	ProxyContainer = "tailscale"

	// MetricsPortName names the tailscale container's port that serves
	// tailscaled's user metrics at /metrics; the operator adds it for a
	// ProxyClass with spec.metrics.enable: true.
	MetricsPortName = "metrics"

	// VersionUnknown is the version of a proxy whose image has no tag.
	VersionUnknown = "unknown"
)

// Values of the tailscale.com/parent-resource-type label that endpoints
// are joined on. Connectors, recorders and egress proxies have others.
const (
	ParentIngress    = "ingress"
	ParentService    = "svc"
	ParentProxyGroup = "proxygroup"
)

// Parent is the object a proxy pod was created for, from its labels.
type Parent struct {
	Type      string // ParentIngress, ParentService, ParentProxyGroup, ...
	Namespace string // empty for a ProxyGroup, which is cluster-scoped
	Name      string
}

// ProxyPod is one pod of a proxy StatefulSet the operator manages.
type ProxyPod struct {
	Namespace string
	Name      string
	// UID tells a pod from a later one of the same name (a StatefulSet
	// recreates its pods under their names).
	UID    string
	Parent Parent
	Ready  bool
	// Restarts is the restart count of the tailscale container.
	Restarts int32
	// Image is the tailscale container's image as the pod spec names it.
	Image string
	// Version is the image tag (v1.80.3 for tailscale/tailscale:v1.80.3),
	// "latest" for an untagged name, VersionUnknown for a digest only.
	Version string
	Phase   string
	// IP is status.podIP, empty until the pod has one.
	IP string
	// MetricsPort is the tailscale container's port named MetricsPortName,
	// 0 when the proxy serves no user metrics.
	MetricsPort int32
}

// ProxyPodFromPod returns the proxy of a pod labelled
// tailscale.com/managed=true, and false for any other pod.
func ProxyPodFromPod(pod *corev1.Pod) (ProxyPod, bool) {
	if pod == nil || pod.Labels[LabelManaged] != "true" {
		return ProxyPod{}, false
	}
	p := ProxyPod{
		Namespace: pod.Namespace,
		Name:      pod.Name,
		UID:       string(pod.UID),
		Parent: Parent{
			Type:      pod.Labels[LabelParentType],
			Namespace: pod.Labels[LabelParentNamespace],
			Name:      pod.Labels[LabelParentName],
		},
		Phase: string(pod.Status.Phase),
		IP:    pod.Status.PodIP,
	}
	if p.Parent.Type == ParentProxyGroup {
		p.Parent.Namespace = ""
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			p.Ready = c.Status == corev1.ConditionTrue
		}
	}
	for _, c := range pod.Spec.Containers {
		if c.Name != ProxyContainer {
			continue
		}
		p.Image = c.Image
		for _, port := range c.Ports {
			if port.Name == MetricsPortName {
				p.MetricsPort = port.ContainerPort
			}
		}
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name != ProxyContainer {
			continue
		}
		p.Restarts = cs.RestartCount
		if p.Image == "" {
			p.Image = cs.Image
		}
	}
	p.Version = ImageVersion(p.Image)
	return p, true
}

// Serves reports whether the pod proxies traffic for e.
func (p ProxyPod) Serves(e Endpoint) bool {
	return p.Parent == e.ProxyParent()
}

// HostnameOf returns the hostname label of the pod's series: the hostname
// of the one endpoint it serves, or "" when it serves several (a
// ProxyGroup) or none; tailscale_tunnel_proxy_pod_info joins those to
// their endpoints.
func HostnameOf(p ProxyPod, eps []Endpoint) string {
	host, n := "", 0
	for _, ep := range eps {
		if p.Serves(ep) {
			host, n = ep.HostnameLabel(), n+1
		}
	}
	if n != 1 {
		return ""
	}
	return host
}

// ImageVersion returns the tag of an image reference: "v1.80.3" for
// tailscale/tailscale:v1.80.3 (with or without a digest), "latest" when
// there is neither tag nor digest, VersionUnknown for a digest alone or an
// empty reference.
func ImageVersion(image string) string {
	ref, _, hasDigest := strings.Cut(image, "@")
	// A colon before the last slash belongs to a registry host:port.
	name := ref[strings.LastIndex(ref, "/")+1:]
	if _, tag, ok := strings.Cut(name, ":"); ok && tag != "" {
		return tag
	}
	if ref == "" || hasDigest {
		return VersionUnknown
	}
	return "latest"
}
