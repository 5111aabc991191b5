package main

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/config"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/discovery"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/scheduler"
)

func ingress(ns, name, host string, funnel bool) *networkingv1.Ingress {
	class := "tailscale"
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: map[string]string{}},
		Spec:       networkingv1.IngressSpec{IngressClassName: &class},
	}
	if funnel {
		ing.Annotations["tailscale.com/funnel"] = "true"
	}
	if host != "" {
		ing.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{Hostname: host}}
	}
	return ing
}

// Discovered endpoints reach the scheduler live, merged with (and yielding
// to) static targets, and survive a config reload.
func TestAppFollowsDiscovery(t *testing.T) {
	client := fake.NewClientset(
		ingress("kube-system", "traefik-ingress", "k8s.tn.ts.net", false),
		ingress("default", "whoami", "whoami.tn.ts.net", true),
	)
	d := discovery.New(client, discovery.Options{})
	cfgFile := filepath.Join(t.TempDir(), "cfg.yml")
	write := func(s string) {
		if err := os.WriteFile(cfgFile, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("vantages:\n  tailnet:\n    socks5_address: 127.0.0.1:1055\ntargets:\n  - hostname: whoami.tn.ts.net\n    module: tls\n    vantages: [direct]\n")
	sched := scheduler.NewScheduler(scheduler.SchedulerOptions{})
	a := newApp(log.NewNopLogger(), configSource{file: cfgFile, flags: config.Flags{}}, scheduler.Network{}, sched, d, scheduler.DirectFunnel)
	if err := a.reload(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { d.Run(ctx); done <- struct{}{} }()
	go func() { a.followDiscovery(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })

	scheduled := func() string {
		var ks []string
		for _, st := range sched.Statuses() {
			ks = append(ks, st.Target.Hostname+"/"+st.Target.Vantage+"/"+st.Target.Module+"/"+st.Target.Source)
		}
		sort.Strings(ks)
		return strings.Join(ks, " ")
	}
	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for scheduled() != want {
			if time.Now().After(deadline) {
				t.Fatalf("scheduled = %q, want %q", scheduled(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("k8s.tn.ts.net/tailnet/https/discovered whoami.tn.ts.net/direct/tls/static whoami.tn.ts.net/tailnet/https/discovered")

	// A new Funnel ingress appears; the cluster tunnel goes.
	if _, err := client.NetworkingV1().Ingresses("default").Create(ctx, ingress("default", "blog", "blog.tn.ts.net", true), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := client.NetworkingV1().Ingresses("kube-system").Delete(ctx, "traefik-ingress", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("blog.tn.ts.net/direct/https/discovered blog.tn.ts.net/tailnet/https/discovered whoami.tn.ts.net/direct/tls/static whoami.tn.ts.net/tailnet/https/discovered")

	// A reload without the tailnet vantage keeps discovered targets.
	write("targets: []\n")
	if err := a.reload(); err != nil {
		t.Fatal(err)
	}
	waitFor("blog.tn.ts.net/direct/https/discovered whoami.tn.ts.net/direct/https/discovered")

	// An exposed Service without a hostname yet is not probed.
	if _, err := client.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "db", Annotations: map[string]string{"tailscale.com/expose": "true"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(fmtEndpoints(d.Endpoints()), "default/db") {
		if time.Now().After(deadline) {
			t.Fatalf("discovery never saw the Service: %s", fmtEndpoints(d.Endpoints()))
		}
		time.Sleep(10 * time.Millisecond)
	}
	a.mu.Lock()
	a.syncTargets()
	a.mu.Unlock()
	waitFor("blog.tn.ts.net/direct/https/discovered whoami.tn.ts.net/direct/https/discovered")
}

func fmtEndpoints(eps []discovery.Endpoint) string {
	var b strings.Builder
	for _, e := range eps {
		b.WriteString(e.Namespace + "/" + e.Name + " ")
	}
	return b.String()
}
