package kubetest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// TestCluster proves the harness against one shared cluster. The subtests
// run in order; the last one turns the watch cache off.
func TestCluster(t *testing.T) {
	c := Start(t, Options{Users: []User{{Name: "viewer"}}})
	kas, etcd := c.RSS()
	t.Logf("RSS after start: kube-apiserver %d MiB, etcd %d MiB", kas>>20, etcd>>20)
	t.Cleanup(func() {
		kas, etcd := c.RSS()
		t.Logf("RSS at the end: kube-apiserver %d MiB, etcd %d MiB", kas>>20, etcd>>20)
	})

	t.Run("ingress create, list and watch", func(t *testing.T) { testIngress(t, c) })
	t.Run("service hostname", func(t *testing.T) { testServiceHostname(t, c) })
	t.Run("kubeconfig and token users", func(t *testing.T) { testKubeconfig(t, c) })
	t.Run("forbidden verb", func(t *testing.T) { testForbidden(t, c) })
	t.Run("pod logs through the apiserver", func(t *testing.T) { testPodLogs(t, c) })
	t.Run("informer survives restart", func(t *testing.T) { testRestart(t, c) })
	t.Run("watch from compacted revision is gone", func(t *testing.T) { testGone(t, c) })
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func testIngress(t *testing.T, c *Cluster) {
	ctx := testCtx(t)
	client := c.AdminClient()
	ns := c.Namespace(t)
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "whoami", Namespace: ns, Annotations: map[string]string{"tailscale.com/funnel": "true"}},
		Spec: networkingv1.IngressSpec{
			IngressClassName: new("tailscale"),
			DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
				Name: "whoami", Port: networkingv1.ServiceBackendPort{Number: 80}}},
			TLS: []networkingv1.IngressTLS{{Hosts: []string{"whoami"}}},
		},
	}
	if _, err := client.NetworkingV1().Ingresses(ns).Create(ctx, ing, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create ingress: %v", err)
	}
	list, err := client.NetworkingV1().Ingresses(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list ingresses: %v", err)
	}
	if len(list.Items) != 1 || list.Items[0].Name != "whoami" {
		t.Fatalf("list ingresses in %s = %+v, want just whoami", ns, list.Items)
	}
	w, err := client.NetworkingV1().Ingresses(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatalf("watch ingresses: %v", err)
	}
	defer w.Stop()
	const host = "whoami.tail1234.ts.net"
	if err := SetIngressHostname(ctx, client, ns, "whoami", host); err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, w)
	got, ok := ev.Object.(*networkingv1.Ingress)
	if ev.Type != watch.Modified || !ok {
		t.Fatalf("watch event = %s %T, want MODIFIED *Ingress", ev.Type, ev.Object)
	}
	if lb := got.Status.LoadBalancer.Ingress; len(lb) != 1 || lb[0].Hostname != host || lb[0].Ports[0].Port != 443 {
		t.Fatalf("ingress status = %+v, want hostname %s port 443", lb, host)
	}
}

func nextEvent(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("watch ended before an event")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no watch event within 10s")
	}
	panic("unreachable")
}

func testServiceHostname(t *testing.T, c *Cluster) {
	ctx := testCtx(t)
	client := c.AdminClient()
	ns := c.Namespace(t)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: corev1.ServiceSpec{
			Type:              corev1.ServiceTypeLoadBalancer,
			LoadBalancerClass: new("tailscale"),
			Ports:             []corev1.ServicePort{{Port: 80}},
		},
	}
	if _, err := client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create service: %v", err)
	}
	if err := SetServiceHostname(ctx, client, ns, "web", "web.tail1234.ts.net", "100.64.0.7"); err != nil {
		t.Fatal(err)
	}
	got, err := client.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get service: %v", err)
	}
	lb := got.Status.LoadBalancer.Ingress
	if len(lb) != 2 || lb[0].Hostname != "web.tail1234.ts.net" || lb[1].IP != "100.64.0.7" {
		t.Fatalf("service status = %+v, want the hostname then the IP", lb)
	}
}

func testKubeconfig(t *testing.T, c *Cluster) {
	ctx := testCtx(t)
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := c.WriteKubeconfig(path, c.Token("viewer")); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	client := kubernetes.NewForConfigOrDie(cfg)
	if _, err := client.Discovery().ServerVersion(); err != nil {
		t.Fatalf("server version through %s: %v", path, err)
	}
	// The static user has no RBAC bindings: authenticated, not authorized.
	_, err = client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("list pods as viewer: err = %v, want 403 Forbidden", err)
	}
	_, err = kubernetes.NewForConfigOrDie(c.RESTConfig("not-a-token")).CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	if !apierrors.IsUnauthorized(err) {
		t.Fatalf("list pods with a bad token: err = %v, want 401 Unauthorized", err)
	}
}

func testForbidden(t *testing.T, c *Cluster) {
	ctx := testCtx(t)
	ns := c.Namespace(t)
	other := c.Namespace(t)
	tests := []struct {
		name        string
		clusterWide bool
		listNS      string // namespace listing is granted in
		deniedNS    string // namespace listing is denied in ("" for none)
	}{
		{name: "role", listNS: ns, deniedNS: other},
		{name: "clusterrole", clusterWide: true, listNS: metav1.NamespaceAll},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			token := c.ServiceAccountToken(t, ns, "lister-"+tc.name, []rbacv1.PolicyRule{{
				APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses"}, Verbs: []string{"list"},
			}}, tc.clusterWide)
			ings := kubernetes.NewForConfigOrDie(c.RESTConfig(token)).NetworkingV1().Ingresses
			if _, err := ings(tc.listNS).List(ctx, metav1.ListOptions{}); err != nil {
				t.Fatalf("list ingresses in %q with the granted verb: %v", tc.listNS, err)
			}
			_, err := ings(tc.listNS).Watch(ctx, metav1.ListOptions{})
			if !apierrors.IsForbidden(err) {
				t.Fatalf("watch ingresses (verb not granted): err = %v, want 403 Forbidden", err)
			}
			if tc.deniedNS != "" {
				_, err := ings(tc.deniedNS).List(ctx, metav1.ListOptions{})
				if !apierrors.IsForbidden(err) {
					t.Fatalf("list ingresses in %s (no binding there): err = %v, want 403 Forbidden", tc.deniedNS, err)
				}
			}
		})
	}
}

func testPodLogs(t *testing.T, c *Cluster) {
	ctx := testCtx(t)
	client := c.AdminClient()
	kubelet := NewKubelet(t)
	kubelet.RegisterNode(t, c, "node-"+strings.ToLower(randomToken()[:6]))
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) == 0 {
		t.Fatalf("list nodes: %v (%d nodes)", err, len(nodes.Items))
	}
	ns := c.Namespace(t)
	pod := CreatePod(t, client, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "ts-whoami-0", Namespace: ns, Labels: map[string]string{"tailscale.com/managed": "true"}},
		Spec: corev1.PodSpec{
			NodeName:   nodes.Items[len(nodes.Items)-1].Name,
			Containers: []corev1.Container{{Name: "tailscale"}},
		},
	})
	if pod.Status.Phase != corev1.PodRunning || len(pod.Status.ContainerStatuses) != 1 ||
		!pod.Status.ContainerStatuses[0].Ready || pod.Status.ContainerStatuses[0].RestartCount != 0 {
		t.Fatalf("pod status = %+v, want Running with one ready container", pod.Status)
	}
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	kubelet.AppendAt(ns, pod.Name, "tailscale", old, "boot: starting")
	recent := time.Now()
	kubelet.AppendAt(ns, pod.Name, "tailscale", recent, "Drop: TCP{100.64.0.1:65076 > 100.64.0.2:443} 60 no rules matched")

	t.Run("follow with timestamps, then cut", func(t *testing.T) {
		stream, err := client.CoreV1().Pods(ns).GetLogs(pod.Name, &corev1.PodLogOptions{
			Container: "tailscale", Follow: true, Timestamps: true}).Stream(ctx)
		if err != nil {
			t.Fatalf("stream logs: %v", err)
		}
		defer stream.Close()
		lines := readLines(stream)
		wantLine(t, lines, old.UTC().Format(TimestampFormat)+" boot: starting")
		wantLine(t, lines, recent.UTC().Format(TimestampFormat)+" Drop: TCP{100.64.0.1:65076 > 100.64.0.2:443} 60 no rules matched")
		later := time.Now()
		kubelet.AppendAt(ns, pod.Name, "tailscale", later, "appended while following")
		wantLine(t, lines, later.UTC().Format(TimestampFormat)+" appended while following")
		if n := kubelet.OpenStreams(); n != 1 {
			t.Fatalf("open streams at the kubelet = %d, want 1", n)
		}
		kubelet.CutStreams()
		wantEnd(t, lines, "CutStreams")
	})

	t.Run("sinceTime", func(t *testing.T) {
		since := metav1.NewTime(time.Now().Add(-time.Minute))
		raw, err := client.CoreV1().Pods(ns).GetLogs(pod.Name, &corev1.PodLogOptions{
			Container: "tailscale", SinceTime: &since}).DoRaw(ctx)
		if err != nil {
			t.Fatalf("get logs: %v", err)
		}
		want := "Drop: TCP{100.64.0.1:65076 > 100.64.0.2:443} 60 no rules matched\nappended while following\n"
		if string(raw) != want {
			t.Fatalf("logs since %v = %q, want %q", since, raw, want)
		}
	})

	// The apiserver passes previous=true on and relays the kubelet's 400 as
	// a BadRequest carrying its words.
	t.Run("previous instance", func(t *testing.T) {
		// Stream, as the exporter reads logs: DoRaw would decode the
		// error body as a generic "rejected for an unknown reason".
		previous := func() (string, error) {
			rc, err := client.CoreV1().Pods(ns).GetLogs(pod.Name, &corev1.PodLogOptions{
				Container: "tailscale", Previous: true}).Stream(ctx)
			if err != nil {
				return "", err
			}
			defer rc.Close()
			raw, err := io.ReadAll(rc)
			return string(raw), err
		}
		_, err := previous()
		want := `previous terminated container "tailscale" in pod "` + pod.Name + "_" + ns + `" not found`
		if !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), want) {
			t.Fatalf("previous before a restart: err = %v, want a BadRequest saying %q", err, want)
		}
		kubelet.RestartContainer(ns, pod.Name, "tailscale")
		kubelet.Append(ns, pod.Name, "tailscale", "new instance")
		got, err := previous()
		if wantLogs := "boot: starting\nDrop: TCP{100.64.0.1:65076 > 100.64.0.2:443} 60 no rules matched\nappended while following\n"; err != nil || got != wantLogs {
			t.Fatalf("previous after a restart = %q (%v), want %q", got, err, wantLogs)
		}
	})

	t.Run("container restart and pod deletion", func(t *testing.T) {
		if err := RestartContainer(ctx, client, ns, pod.Name, "tailscale"); err != nil {
			t.Fatal(err)
		}
		got, err := client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get pod: %v", err)
		}
		if cs := got.Status.ContainerStatuses[0]; cs.RestartCount != 1 || cs.LastTerminationState.Terminated == nil {
			t.Fatalf("container status after restart = %+v, want restartCount 1 and a terminated lastState", cs)
		}
		other := CreatePod(t, client, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "short-lived", Namespace: ns},
			Spec:       corev1.PodSpec{NodeName: pod.Spec.NodeName, Containers: []corev1.Container{{Name: "tailscale"}}},
		})
		if err := DeletePod(ctx, client, ns, other.Name); err != nil {
			t.Fatal(err)
		}
		if _, err := client.CoreV1().Pods(ns).Get(ctx, other.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("get deleted pod: err = %v, want 404 Not Found", err)
		}
	})

	t.Run("kubelet error", func(t *testing.T) {
		kubelet.FailWith(http.StatusInternalServerError)
		defer kubelet.FailWith(0)
		before := kubelet.Requests()
		_, err := client.CoreV1().Pods(ns).GetLogs(pod.Name, &corev1.PodLogOptions{Container: "tailscale"}).DoRaw(ctx)
		var status apierrors.APIStatus
		if !errors.As(err, &status) || status.Status().Code != http.StatusInternalServerError {
			t.Fatalf("get logs while the kubelet fails: err = %v, want a 500 status", err)
		}
		if kubelet.Requests() != before+1 {
			t.Fatalf("kubelet requests = %d, want %d", kubelet.Requests(), before+1)
		}
	})
}

// readLines delivers the lines of r on a channel that is closed at the end.
func readLines(r io.Reader) <-chan string {
	ch := make(chan string, 100)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	return ch
}

// wantEnd waits for the stream behind lines to end after what ended it.
func wantEnd(t *testing.T, lines <-chan string, after string) {
	t.Helper()
	select {
	case l, ok := <-lines:
		if ok {
			t.Fatalf("after %s got line %q, want the end of the stream", after, l)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("stream still open 10s after %s", after)
	}
}

func wantLine(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	select {
	case got, ok := <-lines:
		if !ok {
			t.Fatalf("stream ended, want line %q", want)
		}
		if got != want {
			t.Fatalf("line = %q, want %q", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no line within 10s, want %q", want)
	}
}

func testRestart(t *testing.T, c *Cluster) {
	ctx := testCtx(t)
	ns := c.Namespace(t)
	client := kubernetes.NewForConfigOrDie(c.RESTConfig(c.AdminToken))
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ns))
	seen := make(chan string, 10)
	inf := factory.Core().V1().ConfigMaps().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if cm, ok := obj.(*corev1.ConfigMap); ok {
				seen <- cm.Name
			}
		},
	}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop); factory.Shutdown() })
	factory.Start(stop)
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("informer did not sync")
	}
	createConfigMap(t, ctx, c.AdminClient(), ns, "before")
	waitSeen(t, seen, "before")

	c.Restart(t)
	createConfigMap(t, ctx, c.AdminClient(), ns, "after")
	waitSeen(t, seen, "after")
}

func createConfigMap(t *testing.T, ctx context.Context, client kubernetes.Interface, ns, name string) *corev1.ConfigMap {
	t.Helper()
	cm, err := client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Data: map[string]string{"v": "0"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create configmap %s/%s: %v", ns, name, err)
	}
	return cm
}

func waitSeen(t *testing.T, seen <-chan string, want string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case name := <-seen:
			if name == want {
				return
			}
		case <-timeout:
			t.Fatalf("informer did not see configmap %q within 30s", want)
		}
	}
}

func testGone(t *testing.T, c *Cluster) {
	ctx := testCtx(t)
	c.SetWatchCache(t, false)
	client := c.AdminClient()
	ns := c.Namespace(t)
	cm := createConfigMap(t, ctx, client, ns, "history")
	oldRV := cm.ResourceVersion
	cm.Data["v"] = "1"
	if _, err := client.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update configmap: %v", err)
	}
	hc := c.HTTPClient(c.AdminToken)
	t.Cleanup(hc.CloseIdleConnections)

	// Before compaction the old revision is still there: the update replays.
	if ev := firstRawEvent(t, ctx, hc, c.URL, ns, oldRV); ev.Type != "MODIFIED" {
		t.Fatalf("watch from %s before compaction: first event %s, want MODIFIED", oldRV, ev.Type)
	}
	rev := c.Compact(t)
	ev := firstRawEvent(t, ctx, hc, c.URL, ns, oldRV)
	var status metav1.Status
	if err := json.Unmarshal(ev.Object, &status); err != nil {
		t.Fatalf("decode %s: %v", ev.Object, err)
	}
	if ev.Type != "ERROR" || status.Code != http.StatusGone {
		t.Fatalf("watch from %s after compaction at %d: %s %s, want ERROR with code 410", oldRV, rev, ev.Type, ev.Object)
	}
}

type rawEvent struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

func firstRawEvent(t *testing.T, ctx context.Context, hc *http.Client, base, ns, rv string) rawEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	url := fmt.Sprintf("%s/api/v1/namespaces/%s/configmaps?watch=1&resourceVersion=%s", base, ns, rv)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s %s", url, resp.Status, body)
	}
	var ev rawEvent
	if err := json.NewDecoder(resp.Body).Decode(&ev); err != nil {
		t.Fatalf("first event of %s: %v", url, err)
	}
	return ev
}
