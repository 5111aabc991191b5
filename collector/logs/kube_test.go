package logs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/discovery"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logmatch"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/kubetest"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/testwait"
)

// The kube-apiserver and etcd of kubetest are processes, not goroutines;
// what the tests leave behind in this process (client transports, the fake
// kubelet's server) must be gone once they are stopped.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// kubeWait bounds every wait on the API server, the fake kubelet or the
// followers; an apiserver restart takes a few seconds.
const kubeWait = 30 * time.Second

// TestPodLogsThroughAPIServer follows pod logs the way the exporter does in
// a cluster: client-go → kube-apiserver (pods/log, follow, timestamps) →
// a fake kubelet, all over HTTPS on loopback. One cluster serves every
// subtest; each has its own namespace, node and kubelet, so cutting one
// kubelet's streams does not touch another subtest.
func TestPodLogsThroughAPIServer(t *testing.T) {
	c := kubetest.Start(t, kubetest.Options{})
	t.Run("exactly once across forced reconnects", func(t *testing.T) { testExactlyOnceAcrossCuts(t, c) })
	t.Run("streams start at now", func(t *testing.T) { testStartsAtNow(t, c) })
	t.Run("forbidden pods/log", func(t *testing.T) { testForbidden(t, c) })
	t.Run("pod deleted mid-stream", func(t *testing.T) { testPodDeleted(t, c) })
	t.Run("container restart", func(t *testing.T) { testContainerRestart(t, c) })
	t.Run("outages, with and without a restart", func(t *testing.T) { testOutages(t, c) })
	t.Run("huge line and binary garbage", func(t *testing.T) { testBadLines(t, c) })
	t.Run("target dropped and added again keeps its series", func(t *testing.T) { testResync(t, c) })
	t.Run("tail of a pod's log", func(t *testing.T) { testTailPod(t, c) })
	t.Run("tail of a pod's log reads its head", func(t *testing.T) { testTailPodHead(t, c) })
	t.Run("peer API port from the head of the log", func(t *testing.T) { testHeadRead(t, c) })
	// Last: it restarts the shared apiserver.
	t.Run("apiserver restart", func(t *testing.T) { testAPIServerRestart(t, c) })
}

// kubeEnv is one subtest's namespace, node and fake kubelet on the shared
// cluster.
type kubeEnv struct {
	c       *kubetest.Cluster
	kubelet *kubetest.Kubelet
	ns      string
}

func newKubeEnv(t testing.TB, c *kubetest.Cluster) *kubeEnv {
	t.Helper()
	ns := c.Namespace(t)
	k := kubetest.NewKubelet(t)
	k.RegisterNode(t, c, ns) // namespace names are unique: a fine node name
	return &kubeEnv{c: c, kubelet: k, ns: ns}
}

// pod creates a running proxy pod on the env's node.
func (e *kubeEnv) pod(t testing.TB, name string) FollowTarget {
	t.Helper()
	created := kubetest.CreatePod(t, e.c.AdminClient(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: name, Labels: map[string]string{"tailscale.com/managed": "true"}},
		Spec:       corev1.PodSpec{NodeName: e.ns, Containers: []corev1.Container{{Name: discovery.ProxyContainer}}},
	})
	return FollowTarget{Pod: PodRef{Namespace: e.ns, Name: name, UID: string(created.UID)}, Hostname: name + ".tn.ts.net"}
}

func (e *kubeEnv) append(tgt FollowTarget, lines ...string) {
	e.kubelet.Append(tgt.Pod.Namespace, tgt.Pod.Name, discovery.ProxyContainer, lines...)
}

func (e *kubeEnv) appendAt(tgt FollowTarget, at time.Time, lines ...string) {
	e.kubelet.AppendAt(tgt.Pod.Namespace, tgt.Pod.Name, discovery.ProxyContainer, at, lines...)
}

// newClient is a clientset with a transport of its own (a config with
// WrapTransport is never shared through client-go's transport cache), whose
// idle connections are closed when the test ends, after the followers.
func newClient(t testing.TB, cfg *rest.Config) (kubernetes.Interface, func()) {
	t.Helper()
	if cfg.WrapTransport == nil {
		cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return rt }
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatalf("http client: %v", err)
	}
	cs, err := kubernetes.NewForConfigAndClient(cfg, hc)
	if err != nil {
		t.Fatalf("clientset: %v", err)
	}
	closeIdle := func() { utilnet.CloseIdleConnectionsFor(hc.Transport) }
	t.Cleanup(closeIdle)
	return cs, closeIdle
}

// startPodLogs makes a PodLogs with short backoffs, stopped and waited for
// when the test ends.
// followOnePod follows one new proxy pod with an admin client and waits
// until its stream is open.
func followOnePod(t *testing.T, c *kubetest.Cluster, name string) (*kubeEnv, *PodLogs, FollowTarget) {
	t.Helper()
	e := newKubeEnv(t, c)
	client, _ := newClient(t, c.RESTConfig(c.AdminToken))
	p, ctx := startPodLogs(t, client, log.NewNopLogger())
	tgt := e.pod(t, name)
	p.Sync(ctx, []FollowTarget{tgt})
	e.kubelet.WaitOpenStreams(t, 1, kubeWait)
	return e, p, tgt
}

func startPodLogs(t testing.TB, client kubernetes.Interface, logger log.Logger) (*PodLogs, context.Context) {
	t.Helper()
	m, err := logmatch.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &PodLogs{
		Client: client, Matcher: NewMatcherRef(m), Counters: NewCounters(), Logger: logger,
		MinBackoff: 2 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		if !within(p.Wait, kubeWait) {
			t.Errorf("followers still running %v after their context ended", kubeWait)
		}
	})
	return p, ctx
}

// within reports whether f returns within d.
func within(f func(), d time.Duration) bool {
	done := make(chan struct{})
	go func() { f(); close(done) }()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-done:
		return true
	case <-timer.C:
		return false
	}
}

// eventually polls cond until it holds, failing t after kubeWait with what
// describes the state.
func eventually(t testing.TB, what func() string, cond func() bool) {
	t.Helper()
	testwait.Until(t, kubeWait, what, cond)
}

func keyOf(tgt FollowTarget) StreamKey {
	return StreamKey{Hostname: tgt.Hostname, Pod: tgt.Pod.Name}
}

// truth is what was written to a container log, to compare the counts with.
type truth struct {
	lines     int
	drops     map[logmatch.Family]uint64
	sentinels uint64 // see settle
}

func (w *truth) add(line string, family logmatch.Family) string {
	w.lines++
	if family != logmatch.FamilyNone {
		if w.drops == nil {
			w.drops = map[logmatch.Family]uint64{}
		}
		w.drops[family]++
	}
	return line
}

// next returns a proxy log line, a drop (IPv4 or IPv6) about a third of
// the time, tailscaled or containerboot chatter otherwise.
func (w *truth) next(rng *rand.Rand) string {
	i := w.lines
	switch rng.IntN(6) {
	case 0:
		return w.add(fmt.Sprintf("2026/11/24 09:32:16 Drop: TCP{100.64.%d.%d:%d > 100.64.0.2:443} 60 no rules matched", i/250%250, i%250, 1024+i), logmatch.FamilyIPv4)
	case 1:
		return w.add(fmt.Sprintf("2026/11/24 09:32:41 Drop: UDP{[fd7a:115c:a1e0::%x]:%d > [fd7a:115c:a1e0::2]:443} 60 no rules matched", i, 1024+i), logmatch.FamilyIPv6)
	case 2:
		return w.add(fmt.Sprintf("2026/11/24 09:32:16 magicsock: disco: node [abc%d] d:def now using 10.0.0.%d:41641", i, i%250), logmatch.FamilyNone)
	case 3:
		return w.add(fmt.Sprintf("boot: 2026/11/24 09:32:16 Waiting for tailscaled to come up (%d)", i), logmatch.FamilyNone)
	case 4:
		return w.add(fmt.Sprintf("2026/11/24 09:32:16 Accept: TCP{100.64.0.%d:65076 > 100.64.0.2:443} 60 tcp ok", i%250), logmatch.FamilyNone)
	default:
		return w.add(fmt.Sprintf("2026/11/24 09:32:16 wgengine: Reconfig: configuring router %d %s", i, strings.Repeat("x", i%200)), logmatch.FamilyNone)
	}
}

func dropLine(w *truth, i int, ipv6 bool) string {
	if ipv6 {
		return w.add(fmt.Sprintf("Drop: UDP{[fd7a:115c:a1e0::%x]:23426 > [fd7a:115c:a1e0::2]:443} 60 no rules matched", i), logmatch.FamilyIPv6)
	}
	return w.add(fmt.Sprintf("2026/11/24 09:32:16 Drop: TCP{100.64.0.%d:65076 > 100.64.0.2:443} 60 no rules matched", i%250), logmatch.FamilyIPv4)
}

// dropsByFamily sums the drop events of one stream by source family.
func dropsByFamily(c *Counters, k StreamKey) map[logmatch.Family]uint64 {
	out := map[logmatch.Family]uint64{}
	for ev, n := range c.Totals(k).Events {
		if ev.Kind == logmatch.KindDrop {
			out[ev.Family] += n
		}
	}
	return out
}

// settle proves a stream counted exactly what was written. It appends a
// sentinel (an "ingress denied" line, which nothing else writes) and waits
// for it: every line before it in the stream, late replays included, has
// then been read, so the counts must equal the truth, not merely reach it.
func settle(t *testing.T, e *kubeEnv, p *PodLogs, tgt FollowTarget, w *truth) {
	t.Helper()
	k := keyOf(tgt)
	w.sentinels++
	e.append(tgt, w.add(fmt.Sprintf("peerapi: ingress: denied; no ingress cap from [fd7a:115c:a1e0::1]:%d", w.sentinels), logmatch.FamilyNone))
	eventually(t, func() string {
		return fmt.Sprintf("sentinel %d not seen; counted %d lines, wrote %d", w.sentinels, p.Counters.Totals(k).Lines, w.lines)
	}, func() bool { return sentinels(p.Counters, k) >= w.sentinels })
	if got := sentinels(p.Counters, k); got != w.sentinels {
		t.Errorf("counted %d sentinels, wrote %d", got, w.sentinels)
	}
	if got := p.Counters.Totals(k).Lines; got != uint64(w.lines) {
		t.Errorf("counted %d lines, wrote %d", got, w.lines)
	}
	got := dropsByFamily(p.Counters, k)
	for _, f := range []logmatch.Family{logmatch.FamilyIPv4, logmatch.FamilyIPv6} {
		if got[f] != w.drops[f] {
			t.Errorf("%v drops: counted %d, wrote %d", f, got[f], w.drops[f])
		}
	}
}

func sentinels(c *Counters, k StreamKey) uint64 {
	var n uint64
	for ev, v := range c.Totals(k).Events {
		if ev.Kind == logmatch.KindIngressDenied {
			n += v
		}
	}
	return n
}

// sample is the value of one series of c (the first whose labels include
// labels) and whether there is one.
func sample(t testing.TB, c *Counters, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(updateCollector{c})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue metrics
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue(), true
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// seriesOf counts every series of c that carries pod.
func seriesOf(t testing.TB, c *Counters, pod string) int {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(updateCollector{c})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	n := 0
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "pod" && lp.GetValue() == pod {
					n++
				}
			}
		}
	}
	return n
}

func streamErrors(t testing.TB, c *Counters, tgt FollowTarget, kind ErrorKind) float64 {
	t.Helper()
	v, _ := sample(t, c, "tailscale_tunnel_log_stream_errors_total", map[string]string{"pod": tgt.Pod.Name, "kind": string(kind)})
	return v
}

// bodyCutter breaks pod log responses on the client side at a random byte
// of the next chunk that arrives, mid-line, as a connection that drops
// between the exporter and the API server would. The fake kubelet's
// CutStreams can only end a stream between lines (it writes whole lines and
// aborts after a flush), so both are needed for every kind of cut.
type bodyCutter struct {
	mu      sync.Mutex
	rng     *rand.Rand
	open    map[*cutBody]struct{}
	applied int // cuts that broke a stream
	midLine int // ... of which in the middle of a line
}

var errCut = errors.New("test: connection cut")

func newBodyCutter(seed uint64) *bodyCutter {
	return &bodyCutter{rng: rand.New(rand.NewPCG(seed, seed)), open: map[*cutBody]struct{}{}}
}

func (bc *bodyCutter) wrap(rt http.RoundTripper) http.RoundTripper {
	return cutTransport{bc: bc, next: rt}
}

// cutTransport tracks the bodies of pod log streams (200 answers), but
// for head reads (limitBytes): a failed head read is no stream error, and
// an error answer's body (a resume's previous-instance request when there
// is none) is read by client-go to make its error, so a cut there would be
// a failure of another kind and no reconnect, which the test cannot
// account for. It unwraps to the real
// transport so that its idle connections can be closed.
type cutTransport struct {
	bc   *bodyCutter
	next http.RoundTripper
}

func (ct cutTransport) WrappedRoundTripper() http.RoundTripper { return ct.next }

func (ct cutTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := ct.next.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusOK || !strings.HasSuffix(r.URL.Path, "/log") || r.URL.Query().Has("limitBytes") {
		return resp, err
	}
	b := &cutBody{ReadCloser: resp.Body, bc: ct.bc}
	ct.bc.mu.Lock()
	ct.bc.open[b] = struct{}{}
	ct.bc.mu.Unlock()
	resp.Body = b
	return resp, nil
}

// cut arms every open stream to break in its next chunk.
func (bc *bodyCutter) cut() {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	for b := range bc.open {
		b.armed.Store(true)
	}
}

func (bc *bodyCutter) counts() (applied, midLine int) {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	return bc.applied, bc.midLine
}

// cutAt picks how much of chunk gets through: a random length that stops
// inside a line when the chunk allows it.
func (bc *bodyCutter) cutAt(chunk []byte) int {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	bc.applied++
	for range 8 {
		n := bc.rng.IntN(len(chunk))
		if n > 0 && chunk[n-1] != '\n' {
			bc.midLine++
			return n
		}
	}
	return 0
}

type cutBody struct {
	io.ReadCloser
	bc    *bodyCutter
	armed atomic.Bool
	dead  bool // only the reading goroutine touches it
}

func (b *cutBody) Read(p []byte) (int, error) {
	if b.dead {
		return 0, errCut
	}
	n, err := b.ReadCloser.Read(p)
	if n > 0 && b.armed.Load() {
		b.dead = true
		b.ReadCloser.Close()
		return b.bc.cutAt(p[:n]), nil
	}
	return n, err
}

func (b *cutBody) Close() error {
	b.bc.mu.Lock()
	delete(b.bc.open, b)
	b.bc.mu.Unlock()
	return b.ReadCloser.Close()
}

// testExactlyOnceAcrossCuts appends thousands of lines in bursts, many
// sharing one timestamp, while 30 cuts break the stream at random moments:
// half by the kubelet (the apiserver's upstream aborts), half on the
// client's connection in the middle of a line. Every line and every drop is
// counted once.
func testExactlyOnceAcrossCuts(t *testing.T, c *kubetest.Cluster) {
	e := newKubeEnv(t, c)
	cutter := newBodyCutter(7)
	cfg := c.RESTConfig(c.AdminToken)
	cfg.WrapTransport = cutter.wrap
	client, _ := newClient(t, cfg)
	p, ctx := startPodLogs(t, client, log.NewNopLogger())
	tgt := e.pod(t, "ts-traefik-ingress-abc-0")
	p.Sync(ctx, []FollowTarget{tgt})
	e.kubelet.WaitOpenStreams(t, 1, kubeWait)

	const batches, cuts = 300, 30
	rng := rand.New(rand.NewPCG(1, 2))
	cutAt := map[int]bool{}
	for len(cutAt) < cuts {
		cutAt[rng.IntN(batches)] = true
	}
	var w truth
	cutsDone, serverCuts := 0, 0
	for b := range batches {
		at := time.Now()
		if rng.IntN(2) == 0 {
			// Separate appends stamped alike: lines sharing one timestamp.
			for range 1 + rng.IntN(8) {
				e.appendAt(tgt, at, w.next(rng))
			}
		} else {
			lines := make([]string, 1+rng.IntN(40))
			for i := range lines {
				lines[i] = w.next(rng)
			}
			e.appendAt(tgt, at, lines...)
		}
		if cutAt[b] {
			if cutsDone++; cutsDone%2 == 0 {
				e.kubelet.CutStreams()
				serverCuts++
			} else {
				cutter.cut()
			}
		}
		if rng.IntN(3) == 0 {
			// Pace the writer so that cuts land on a stream at every stage:
			// reading, reconnecting, replaying the last second.
			time.Sleep(time.Duration(rng.IntN(4)) * time.Millisecond)
		}
	}
	settle(t, e, p, tgt, &w)

	applied, midLine := cutter.counts()
	tot := p.Counters.Totals(keyOf(tgt))
	t.Logf("%d lines (%d IPv4 and %d IPv6 drops), %d kubelet cuts, %d client cuts applied (%d mid-line), %d reconnects",
		w.lines, w.drops[logmatch.FamilyIPv4], w.drops[logmatch.FamilyIPv6], serverCuts, applied, midLine, tot.Reconnects)
	if w.lines < 2000 {
		t.Errorf("only %d lines written: the test lost its strength", w.lines)
	}
	if midLine == 0 {
		t.Error("no cut landed in the middle of a line")
	}
	if tot.Reconnects < uint64(applied) {
		t.Errorf("reconnects = %d, want at least the %d client cuts", tot.Reconnects, applied)
	}
	// Every client cut lands on a stream (the cutter leaves error answers
	// alone) and counts once as a broken stream.
	if broken := streamErrors(t, p.Counters, tgt, ErrStream); broken < float64(applied) {
		t.Errorf("stream errors = %v, want at least the %d client cuts (other kinds: unreachable %v, other %v)",
			broken, applied, streamErrors(t, p.Counters, tgt, ErrUnreachable), streamErrors(t, p.Counters, tgt, ErrOther))
	}
}

// testStartsAtNow: history, even from the very second the follower starts,
// is not counted.
func testStartsAtNow(t *testing.T, c *kubetest.Cluster) {
	e := newKubeEnv(t, c)
	client, _ := newClient(t, c.RESTConfig(c.AdminToken))
	p, ctx := startPodLogs(t, client, log.NewNopLogger())
	tgt := e.pod(t, "ts-whoami-0")
	var history, w truth
	e.appendAt(tgt, time.Now().Add(-time.Hour), dropLine(&history, 1, false))
	e.append(tgt, dropLine(&history, 2, false), dropLine(&history, 3, true)) // the same second as the start, most likely
	p.Sync(ctx, []FollowTarget{tgt})
	e.kubelet.WaitOpenStreams(t, 1, kubeWait)
	e.append(tgt, dropLine(&w, 4, true))
	settle(t, e, p, tgt, &w)
}

// testForbidden: a token without get on pods/log. The stream of that pod
// fails with kind forbidden on every retry, one error line says what is
// missing, and another follower with the right token is unaffected.
func testForbidden(t *testing.T, c *kubetest.Cluster) {
	e := newKubeEnv(t, c)
	denied, allowed := e.pod(t, "ts-denied-0"), e.pod(t, "ts-allowed-0")
	token := c.ServiceAccountToken(t, e.ns, "exporter-without-pods-log", []rbacv1.PolicyRule{{
		APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"},
	}}, false)

	var logs syncBuffer
	noLogsClient, _ := newClient(t, c.RESTConfig(token))
	pd, dctx := startPodLogs(t, noLogsClient, log.NewLogfmtLogger(&logs))
	pd.Sync(dctx, []FollowTarget{denied})
	adminClient, _ := newClient(t, c.RESTConfig(c.AdminToken))
	pa, actx := startPodLogs(t, adminClient, log.NewNopLogger())
	pa.Sync(actx, []FollowTarget{allowed})

	e.kubelet.WaitOpenStreams(t, 1, kubeWait)
	var w truth
	e.append(allowed, dropLine(&w, 1, false), dropLine(&w, 2, true))
	e.append(denied, "Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched")
	eventually(t, func() string {
		return fmt.Sprintf("forbidden errors = %v, want retries", streamErrors(t, pd.Counters, denied, ErrForbidden))
	}, func() bool { return streamErrors(t, pd.Counters, denied, ErrForbidden) >= 3 })
	settle(t, e, pa, allowed, &w)

	if tot := pd.Counters.Totals(keyOf(denied)); tot.Up || tot.Lines != 0 {
		t.Errorf("denied stream: up=%v lines=%d, want down and nothing counted", tot.Up, tot.Lines)
	}
	// The denied follower's only stream is down: its collector fails; the
	// allowed one's does not.
	if got, _ := exported(t, pd.Counters); got != 0 {
		t.Errorf("scrape_collector_success with every stream forbidden = %v, want 0", got)
	}
	if got, _ := exported(t, pa.Counters); got != 1 {
		t.Errorf("scrape_collector_success with the stream up = %v, want 1", got)
	}
	if n := e.kubelet.Requests(); n != 2 {
		t.Errorf("the kubelet got %d log requests, want 2 (the allowed pod's stream and head read): a denied request must not reach it", n)
	}
	errLines := logs.linesWith("level=error")
	if len(errLines) != 1 {
		t.Fatalf("error lines = %q, want exactly one for repeated 403s", errLines)
	}
	for _, want := range []string{"pod=" + e.ns + "/ts-denied-0", "kind=forbidden", "get on pods/log", "namespace " + e.ns} {
		if !strings.Contains(errLines[0], want) {
			t.Errorf("error line %q does not say %q", errLines[0], want)
		}
	}
}

// testPodDeleted: the pod goes away while followed. Its stream ends, the
// reopening gets 404 (counted as not_found), and once discovery drops the
// pod its series are gone and its follower has ended.
func testPodDeleted(t *testing.T, c *kubetest.Cluster) {
	e := newKubeEnv(t, c)
	client, closeIdle := newClient(t, c.RESTConfig(c.AdminToken))
	p, ctx := startPodLogs(t, client, log.NewNopLogger())
	tgt := e.pod(t, "ts-gone-0")
	before := goleak.IgnoreCurrent()
	p.Sync(ctx, []FollowTarget{tgt})
	e.kubelet.WaitOpenStreams(t, 1, kubeWait)
	var w truth
	e.append(tgt, dropLine(&w, 1, false))
	settle(t, e, p, tgt, &w)

	dctx, cancel := context.WithTimeout(context.Background(), kubeWait)
	defer cancel()
	if err := kubetest.DeletePod(dctx, c.AdminClient(), e.ns, tgt.Pod.Name); err != nil {
		t.Fatal(err)
	}
	e.kubelet.CutStreams() // the kubelet ends the stream of a killed container
	eventually(t, func() string {
		return fmt.Sprintf("not_found errors = %v", streamErrors(t, p.Counters, tgt, ErrNotFound))
	}, func() bool { return streamErrors(t, p.Counters, tgt, ErrNotFound) >= 1 })
	if p.Counters.Totals(keyOf(tgt)).Up {
		t.Error("stream of a deleted pod is up")
	}

	p.Sync(ctx, nil)
	if !within(p.Wait, kubeWait) {
		t.Fatal("the follower of a dropped pod did not end")
	}
	if n := seriesOf(t, p.Counters, tgt.Pod.Name); n != 0 {
		t.Errorf("%d series left for a dropped pod, want none", n)
	}
	closeIdle()
	// The fake kubelet serves the apiserver's connections (kept for reuse)
	// in this process too; they are the harness', not the follower's.
	goleak.VerifyNone(t, before, goleak.IgnoreAnyFunction("net/http.(*conn).serve"))
}

// testContainerRestart: the container restarts, its old stream ends, and
// the new container's lines are counted.
func testContainerRestart(t *testing.T, c *kubetest.Cluster) {
	e, p, tgt := followOnePod(t, c, "ts-restarting-0")
	var w truth
	e.append(tgt, dropLine(&w, 1, false), w.add("boot: old container going down", logmatch.FamilyNone))
	settle(t, e, p, tgt, &w)

	rctx, cancel := context.WithTimeout(context.Background(), kubeWait)
	defer cancel()
	if err := kubetest.RestartContainer(rctx, c.AdminClient(), e.ns, tgt.Pod.Name, discovery.ProxyContainer); err != nil {
		t.Fatal(err)
	}
	e.kubelet.RestartContainer(e.ns, tgt.Pod.Name, discovery.ProxyContainer) // its stream ends with it
	e.append(tgt, w.add("boot: Starting tailscaled", logmatch.FamilyNone), dropLine(&w, 2, true), dropLine(&w, 3, false))
	settle(t, e, p, tgt, &w)
	if tot := p.Counters.Totals(keyOf(tgt)); tot.Reconnects < 1 || !tot.Up {
		t.Errorf("reconnects = %d, up = %v: want the new container followed", tot.Reconnects, tot.Up)
	}
}

// testOutages: the stream breaks and stays down while lines are written;
// in some cases the container restarts meanwhile, so that the lines its old
// instance wrote are only in the previous instance's log. Every line is
// counted once when the stream is back, and once more after a plain cut
// (the previous instance is read again on every resume). A container that
// never restarted has no previous instance: the API's 400 for it is
// neither an error nor a log line above debug.
func testOutages(t *testing.T, c *kubetest.Cluster) {
	tests := []struct {
		name    string
		refuse  bool // the kubelet refuses log requests while down, not only cuts the stream
		restart bool // the container restarts while the stream is down
	}{
		{name: "outage, container restarted meanwhile", refuse: true, restart: true},
		{name: "outage, no restart", refuse: true},
		{name: "plain reconnect, no restart"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newKubeEnv(t, c)
			var logs syncBuffer
			client, _ := newClient(t, c.RESTConfig(c.AdminToken))
			p, ctx := startPodLogs(t, client, log.NewLogfmtLogger(&logs))
			tgt := e.pod(t, "ts-outage-0")
			k := keyOf(tgt)
			p.Sync(ctx, []FollowTarget{tgt})
			e.kubelet.WaitOpenStreams(t, 1, kubeWait)
			rng := rand.New(rand.NewPCG(5, uint64(i)))
			var w truth
			// Separate appends stamped alike: lines before and after the
			// break share one timestamp, so the resume must skip exactly
			// the ones counted before it, in both instances' logs.
			at := time.Now()
			burst := func(n int) {
				for range n {
					e.appendAt(tgt, at, w.next(rng))
				}
			}
			counted := func() bool { return p.Counters.Totals(k).Lines >= uint64(w.lines) }
			countedWhat := func() string {
				return fmt.Sprintf("counted %d lines, wrote %d", p.Counters.Totals(k).Lines, w.lines)
			}

			burst(20) // A
			eventually(t, countedWhat, counted)
			if tc.refuse {
				e.kubelet.FailWith(http.StatusServiceUnavailable)
			}
			e.kubelet.CutStreams()
			if tc.refuse {
				// Down for sure: the follower has been refused at least once.
				eventually(t, func() string { return "the follower did not try again" }, func() bool {
					return e.kubelet.InjectedFailures() >= 1 && e.kubelet.OpenStreams() == 0
				})
			}
			burst(20) // B, by the old instance
			if tc.restart {
				e.kubelet.RestartContainer(e.ns, tgt.Pod.Name, discovery.ProxyContainer)
				at = time.Now() // the new instance writes later than the old one
			}
			burst(20) // C
			if tc.refuse {
				e.kubelet.FailWith(0)
			}
			settle(t, e, p, tgt, &w)

			reconnects := p.Counters.Totals(k).Reconnects
			if reconnects < 1 {
				t.Errorf("reconnects = %d, want the stream resumed", reconnects)
			}
			e.kubelet.CutStreams()
			eventually(t, func() string { return "no reconnect after the second cut" },
				func() bool { return p.Counters.Totals(k).Reconnects > reconnects })
			at = time.Now() // after the sentinel: a log's timestamps do not go back
			burst(20)       // D
			settle(t, e, p, tgt, &w)

			// Each refused request (a 503 relayed from the kubelet) is one
			// error, of kind unreachable; the 400s for a missing previous
			// instance add none.
			if got, want := streamErrors(t, p.Counters, tgt, ErrUnreachable), e.kubelet.InjectedFailures(); got != float64(want) {
				t.Errorf("errors of kind unreachable = %v, want %d (the refused requests)", got, want)
			}
			for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				if strings.Contains(l, "previous") && !strings.Contains(l, "level=debug") {
					t.Errorf("log line about the previous instance above debug: %s", l)
				}
			}
			if !tc.restart && len(logs.linesWith("no previous instance")) == 0 {
				t.Error("no resume asked for the previous instance: the case proves nothing")
			}
		})
	}
}

// testBadLines: a 1 MiB line and binary garbage neither stop the stream nor
// break the exactly-once resume over them.
func testBadLines(t *testing.T, c *kubetest.Cluster) {
	e, p, tgt := followOnePod(t, c, "ts-noisy-0")
	var w truth
	e.append(tgt,
		dropLine(&w, 1, false),
		w.add(strings.Repeat("x", 1<<20)+" Drop: TCP{100.64.0.1:1 > 100.64.0.2:443} 60 no rules matched", logmatch.FamilyNone), // cut before its drop
		w.add("\xff\xfe binary \x00 garbage \r \x1b[31m \xc3\x28", logmatch.FamilyNone),
		dropLine(&w, 2, true),
	)
	settle(t, e, p, tgt, &w)
	e.kubelet.CutStreams() // the resume replays the huge line: still once
	eventually(t, func() string { return "no reconnect" }, func() bool { return p.Counters.Totals(keyOf(tgt)).Reconnects >= 1 })
	e.append(tgt, dropLine(&w, 3, false))
	settle(t, e, p, tgt, &w)
	if v, _ := sample(t, p.Counters, "tailscale_tunnel_log_truncated_lines_total", map[string]string{"pod": tgt.Pod.Name}); v != 1 {
		t.Errorf("truncated lines = %v, want 1", v)
	}
}

// testResync: a target dropped and given again at once (a StatefulSet pod
// deleted and recreated under its name) keeps a live series: the old
// follower, ending late, must not take the new one's series with it.
func testResync(t *testing.T, c *kubetest.Cluster) {
	e := newKubeEnv(t, c)
	client, _ := newClient(t, c.RESTConfig(c.AdminToken))
	p, ctx := startPodLogs(t, client, log.NewNopLogger())
	tgt := e.pod(t, "ts-flapping-0")
	k := keyOf(tgt)
	p.Sync(ctx, []FollowTarget{tgt})
	e.kubelet.WaitOpenStreams(t, 1, kubeWait)
	for i := range 20 {
		reqs := e.kubelet.Requests()
		p.Sync(ctx, nil)
		p.Sync(ctx, []FollowTarget{tgt})
		eventually(t, func() string { return fmt.Sprintf("flap %d: no new stream", i) },
			func() bool { return e.kubelet.Requests() > reqs && e.kubelet.OpenStreams() >= 1 })
		before := dropsByFamily(p.Counters, k)[logmatch.FamilyIPv4]
		e.append(tgt, fmt.Sprintf("Drop: TCP{100.64.0.%d:1 > 100.64.0.2:443} 60 no rules matched", i))
		eventually(t, func() string {
			return fmt.Sprintf("flap %d: series %+v, want up and the new drop counted", i, p.Counters.Totals(k))
		}, func() bool {
			n := dropsByFamily(p.Counters, k)[logmatch.FamilyIPv4]
			return p.Counters.Totals(k).Up && (n == before+1 || n == 1)
		})
	}
	if n := seriesOf(t, p.Counters, tgt.Pod.Name); n == 0 {
		t.Error("no series for a followed pod")
	}
}

// testAPIServerRestart: the apiserver goes away and comes back; lines
// written meanwhile are counted once the stream resumes, none twice.
func testAPIServerRestart(t *testing.T, c *kubetest.Cluster) {
	e, p, tgt := followOnePod(t, c, "ts-survivor-0")
	rng := rand.New(rand.NewPCG(3, 4))
	var w truth
	settle(t, e, p, tgt, &w)
	// Lines before, during and after the outage share one timestamp: the
	// resume must skip exactly the ones counted before it.
	at := time.Now()
	burst := func(n int) {
		for range n {
			e.appendAt(tgt, at, w.next(rng))
		}
	}
	burst(50)
	eventually(t, func() string {
		return fmt.Sprintf("counted %d lines, wrote %d", p.Counters.Totals(keyOf(tgt)).Lines, w.lines)
	},
		func() bool { return p.Counters.Totals(keyOf(tgt)).Lines >= uint64(w.lines) })

	// A graceful stop waits for long-running requests such as this
	// stream: the kubelet ends them, as a real one ends streams of
	// containers on a node being drained, and the reopenings are refused.
	stopped := make(chan struct{})
	cutting := make(chan struct{})
	go func() {
		defer close(cutting)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for deadline := time.Now().Add(kubeWait); time.Now().Before(deadline); {
			select {
			case <-stopped:
				return
			case <-tick.C:
				e.kubelet.CutStreams()
			}
		}
	}()
	c.Stop(t)
	close(stopped)
	<-cutting
	burst(50) // written while the apiserver is down
	c.StartAgain(t)
	burst(50)
	settle(t, e, p, tgt, &w)
	tot := p.Counters.Totals(keyOf(tgt))
	if tot.Reconnects < 1 || !tot.Up {
		t.Errorf("reconnects = %d, up = %v: want the stream resumed", tot.Reconnects, tot.Up)
	}
	if v := streamErrors(t, p.Counters, tgt, ErrUnreachable); v < 1 {
		t.Errorf("unreachable errors = %v, want the time the apiserver was down counted", v)
	}
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) linesWith(sub string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for l := range strings.Lines(s.b.String()) {
		if strings.Contains(l, sub) {
			out = append(out, strings.TrimSpace(l))
		}
	}
	return out
}

// testHeadRead: the peer API port and version a proxy logged before the
// follower started come from one bounded read of the head of its log, so
// a relay's drop to that port is peerapi, not other; the head's lines are
// not counted.
func testHeadRead(t *testing.T, c *kubetest.Cluster) {
	e := newKubeEnv(t, c)
	var heads atomic.Int32
	cfg := c.RESTConfig(c.AdminToken)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return headCounter{n: &heads, next: rt} }
	client, _ := newClient(t, cfg)
	p, ctx := startPodLogs(t, client, log.NewNopLogger())
	tgt := e.pod(t, "ts-funnel-0")
	const self6, port = "fd7a:115c:a1e0::5501:7c39", 45678
	if logmatch.InferPeerAPIPort(netip.MustParseAddr(self6)) == port {
		t.Fatalf("pick a port that is not the inferred one")
	}
	e.appendAt(tgt, time.Now().Add(-time.Hour),
		"2026/11/24 09:32:15 Program starting: v1.102.1-t36550d57f, Go 1.26.5: []string{\"tailscaled\"}",
		fmt.Sprintf("2026/11/24 09:32:16 peerapi: serving on http://[%s]:%d", self6, port),
		"2026/11/24 09:32:16 "+strings.Repeat("x", 300<<10)) // beyond HeadReadBytes, cut off
	p.Sync(ctx, []FollowTarget{tgt})
	e.kubelet.WaitOpenStreams(t, 1, kubeWait)
	e.append(tgt, fmt.Sprintf("Drop: TCP{[fd7a:115c:a1e0:ab12:4843:cd96:625a:9516]:46650 > [%s]:%d} 80 no rules matched", self6, port))
	k := keyOf(tgt)
	peerAPI := map[string]string{"pod": tgt.Pod.Name, "port": "peerapi", "family": "ipv6", "protocol": "tcp"}
	var got float64
	eventually(t, func() string { return fmt.Sprintf("peerapi drops = %v, want 1", got) },
		func() bool {
			got, _ = sample(t, p.Counters, "tailscale_tunnel_proxy_drops_total", peerAPI)
			return got == 1
		})
	tot := p.Counters.Totals(k)
	if tot.Lines != 1 {
		t.Errorf("%d lines counted, want 1: the head read counts nothing", tot.Lines)
	}
	if tot.Facts.Ports.IPv6 != port || tot.Facts.Version.Minor != 102 || tot.Facts.Version.Patch != 1 {
		t.Errorf("facts = %+v, want peer API port %d and version 1.102.1", tot.Facts, port)
	}
	for cl := range tot.Classified {
		if cl.Source != logmatch.PortSourceLearned {
			t.Errorf("class %s from a port %s, want learned", cl.Class, cl.Source)
		}
	}

	// A reconnect, and a new follower of the same pod (its hostname
	// changed), take the port from the cache: no second head read.
	e.kubelet.CutStreams()
	eventually(t, func() string { return "no reconnect after the cut" },
		func() bool { t := p.Counters.Totals(k); return t.Reconnects >= 1 && t.Up })
	renamed := tgt
	renamed.Hostname = "renamed.tn.ts.net"
	p.Sync(ctx, []FollowTarget{renamed})
	eventually(t, func() string { return "the renamed stream did not open" },
		func() bool { return p.Counters.Totals(keyOf(renamed)).Up })
	if got := p.Counters.Totals(keyOf(renamed)).Facts.Ports.IPv6; got != port {
		t.Errorf("renamed stream's peer API port = %d, want %d from the cache", got, port)
	}
	if n := heads.Load(); n != 1 {
		t.Errorf("%d head reads, want 1", n)
	}
}

// headCounter counts head reads (pod log requests with limitBytes).
type headCounter struct {
	n    *atomic.Int32
	next http.RoundTripper
}

func (h headCounter) WrappedRoundTripper() http.RoundTripper { return h.next }

func (h headCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/log") && r.URL.Query().Has("limitBytes") {
		h.n.Add(1)
	}
	return h.next.RoundTrip(r)
}
