package main

import (
	"errors"
	"fmt"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/discovery"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/scheduler"
)

// kubeFlags configure Kubernetes discovery.
type kubeFlags struct {
	enabled           *bool
	kubeconfig        *string
	operatorNamespace *string
	ingressClass      *string
	namespaces        *[]string
	direct            *string
}

func addKubeFlags(a *kingpin.Application) kubeFlags {
	return kubeFlags{
		enabled:           a.Flag("kubernetes.discovery", "Discover the Tailscale operator's endpoints and proxy pods and probe them.").Bool(),
		kubeconfig:        a.Flag("kubeconfig", "Kubeconfig file for running outside a cluster; in a cluster the service account is used.").Envar("KUBECONFIG").PlaceHolder("FILE").String(),
		operatorNamespace: a.Flag("kubernetes.operator-namespace", "Namespace of the Tailscale operator and its proxy pods.").Default("tailscale").String(),
		ingressClass:      a.Flag("kubernetes.ingress-class", "spec.ingressClassName of the operator's Ingresses.").Default("tailscale").String(),
		namespaces:        a.Flag("kubernetes.namespace", "Namespace to discover Ingresses and Services in; repeatable; default all (needs a ClusterRole).").PlaceHolder("NAMESPACE").Strings(),
		direct:            a.Flag("kubernetes.direct-probes", "Which discovered endpoints to probe from the direct vantage: funnel (public ones; the tailnet vantage covers the rest) or all (the exporter runs on a tailnet node).").Default(string(scheduler.DirectFunnel)).Enum(string(scheduler.DirectFunnel), string(scheduler.DirectAll)),
	}
}

// discovery builds the Kubernetes discovery and its client, or nil when it
// is off. Only a missing or broken configuration is an error: an unreachable
// API server is not, discovery reports itself down and retries.
func (f kubeFlags) discovery(logger log.Logger) (*discovery.Discovery, kubernetes.Interface, error) {
	if !*f.enabled {
		return nil, nil, nil
	}
	client, err := f.client()
	if errors.Is(err, rest.ErrNotInCluster) {
		return nil, nil, errors.New("--kubernetes.discovery: not running in a cluster and no --kubeconfig (or KUBECONFIG) given")
	}
	if err != nil {
		return nil, nil, err
	}
	d := discovery.New(client, discovery.Options{
		IngressClass:      *f.ingressClass,
		OperatorNamespace: *f.operatorNamespace,
		Namespaces:        *f.namespaces,
		Logger:            log.With(logger, "component", "discovery"),
	})
	return d, client, nil
}

// client builds a Kubernetes client from --kubeconfig, else the in-cluster
// service account (rest.ErrNotInCluster when there is neither).
func (f kubeFlags) client() (kubernetes.Interface, error) {
	var cfg *rest.Config
	var err error
	if *f.kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", *f.kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig %s: %w", *f.kubeconfig, err)
		}
	} else {
		cfg, err = rest.InClusterConfig()
		if errors.Is(err, rest.ErrNotInCluster) {
			return nil, err
		}
		if err != nil {
			return nil, fmt.Errorf("in-cluster Kubernetes config: %w", err)
		}
	}
	cfg.UserAgent = "tailscale-tunnel-exporter"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("Kubernetes client for %s: %w", cfg.Host, err)
	}
	return client, nil
}
