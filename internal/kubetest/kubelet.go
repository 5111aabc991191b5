package kubetest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TimestampFormat is how the kubelet prefixes lines when asked for
// timestamps: RFC 3339 with fixed nanoseconds, parseable as time.RFC3339Nano.
const TimestampFormat = "2006-01-02T15:04:05.000000000Z07:00"

// LogLine is one line of a container log.
type LogLine struct {
	Time time.Time
	Text string
}

// Kubelet is a fake kubelet: an HTTPS server on 127.0.0.1 answering
// GET /containerLogs/{ns}/{pod}/{container} from in-memory logs, the way the
// apiserver's pods/log proxy calls a real one. It honours follow, previous,
// timestamps, sinceTime, sinceSeconds, tailLines and limitBytes, and keeps
// one previous instance per container, as a real kubelet does.
type Kubelet struct {
	// Port is where it listens on 127.0.0.1.
	Port int

	srv *httptest.Server

	mu       sync.Mutex
	logs     map[string][]LogLine // the running instance; key namespace/pod/container
	previous map[string][]LogLine // the last terminated instance, if any
	restarts map[string]int       // instances ended, so a follower sees its own end
	changed  chan struct{}        // closed and replaced on every Append and restart
	cut      chan struct{}        // closed and replaced by CutStreams
	status   int                  // injected failure status, 0 for none
	requests int
	injected int // requests answered with the injected status
	open     int
	closed   bool
}

// NewKubelet starts a fake kubelet, closed in t.Cleanup.
func NewKubelet(t testing.TB) *Kubelet {
	t.Helper()
	k := &Kubelet{
		logs:     map[string][]LogLine{},
		previous: map[string][]LogLine{},
		restarts: map[string]int{},
		changed:  make(chan struct{}),
		cut:      make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", k.serveLogs)
	k.srv = httptest.NewUnstartedServer(mux)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("kubetest: fake kubelet: %v", err)
	}
	k.srv.Listener = l
	k.srv.StartTLS()
	k.Port = l.Addr().(*net.TCPAddr).Port
	t.Cleanup(func() {
		// Close waits for handlers: end followers, and refuse new streams
		// that would never be cut.
		k.mu.Lock()
		k.closed = true
		k.mu.Unlock()
		k.CutStreams()
		k.srv.Close()
	})
	return k
}

// Append adds lines to a container's log, stamped with the current time.
// Following streams receive them at once.
func (k *Kubelet) Append(namespace, pod, container string, lines ...string) {
	k.AppendAt(namespace, pod, container, time.Now(), lines...)
}

// AppendAt adds lines stamped with at (each further line 1 ns later, so
// order survives timestamps).
func (k *Kubelet) AppendAt(namespace, pod, container string, at time.Time, lines ...string) {
	at = at.UTC().Round(0)
	k.mu.Lock()
	defer k.mu.Unlock()
	key := logKey(namespace, pod, container)
	for i, text := range lines {
		k.logs[key] = append(k.logs[key], LogLine{Time: at.Add(time.Duration(i)), Text: text})
	}
	close(k.changed)
	k.changed = make(chan struct{})
}

// RestartContainer ends the running instance of a container and starts an
// empty one, as a kubelet does when the container exits and is restarted:
// the old lines become the previous instance (served with previous=true,
// replacing any older one) and follow streams of the old instance end
// cleanly once they have sent its last line. Lines appended from now on go
// to the new instance. It does not touch the pod's status: see the
// package's RestartContainer for that.
func (k *Kubelet) RestartContainer(namespace, pod, container string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	key := logKey(namespace, pod, container)
	k.previous[key] = k.logs[key]
	if k.previous[key] == nil {
		k.previous[key] = []LogLine{} // an instance that wrote nothing is still one
	}
	delete(k.logs, key)
	k.restarts[key]++
	close(k.changed)
	k.changed = make(chan struct{})
}

// Lines returns a copy of a container's log.
func (k *Kubelet) Lines(namespace, pod, container string) []LogLine {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]LogLine(nil), k.logs[logKey(namespace, pod, container)]...)
}

// CutStreams aborts every open log stream, like a kubelet restart: the
// connection to the apiserver drops mid-response.
func (k *Kubelet) CutStreams() {
	k.mu.Lock()
	defer k.mu.Unlock()
	close(k.cut)
	k.cut = make(chan struct{})
}

// FailWith makes every log request fail with status (e.g. 500) until
// FailWith(0).
func (k *Kubelet) FailWith(status int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.status = status
}

// Requests counts log requests received, failed ones included.
func (k *Kubelet) Requests() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.requests
}

// InjectedFailures counts log requests answered with FailWith's status.
func (k *Kubelet) InjectedFailures() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.injected
}

// OpenStreams counts log responses in progress (mostly follow streams).
func (k *Kubelet) OpenStreams() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.open
}

// WaitOpenStreams waits up to timeout until at least n log streams are open,
// so a test appends only once a follower is attached.
func (k *Kubelet) WaitOpenStreams(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	if err := poll(timeout, 10*time.Millisecond, func() (bool, error) { return k.OpenStreams() >= n, nil }); err != nil {
		t.Fatalf("kubetest: wait for %d open log streams (have %d): %v", n, k.OpenStreams(), err)
	}
}

// RegisterNode creates Node name whose kubelet is this server: InternalIP
// 127.0.0.1 and kubelet port Port, Ready. Pods with spec.nodeName = name
// get their logs from here.
func (k *Kubelet) RegisterNode(t testing.TB, c *Cluster, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := k.registerNode(ctx, c, name); err != nil {
		t.Fatalf("kubetest: %v", err)
	}
}

func (k *Kubelet) registerNode(ctx context.Context, c *Cluster, name string) error {
	client := c.AdminClient()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name:   name,
		Labels: map[string]string{"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"},
	}}
	created, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create node %s: %w", name, err)
	}
	now := metav1.Now()
	created.Status = corev1.NodeStatus{
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: "127.0.0.1"},
			{Type: corev1.NodeHostName, Address: name},
		},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(k.Port)}},
		Conditions: []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			LastHeartbeatTime: now, LastTransitionTime: now,
		}},
	}
	if _, err := client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("set status of node %s: %w", name, err)
	}
	return nil
}

func logKey(namespace, pod, container string) string {
	return namespace + "/" + pod + "/" + container
}

// logQuery is the subset of the kubelet's log options the apiserver passes on.
type logQuery struct {
	follow, previous, timestamps bool
	since                        time.Time
	tailLines                    int // -1: all
	limitBytes                   int // 0: no limit
}

func parseLogQuery(r *http.Request) (logQuery, error) {
	q := r.URL.Query()
	lq := logQuery{
		follow: q.Get("follow") == "true", previous: q.Get("previous") == "true",
		timestamps: q.Get("timestamps") == "true", tailLines: -1,
	}
	if s := q.Get("sinceTime"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return lq, fmt.Errorf("sinceTime %q: %w", s, err)
		}
		lq.since = t
	}
	if s := q.Get("sinceSeconds"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return lq, fmt.Errorf("sinceSeconds %q: want a positive integer", s)
		}
		lq.since = time.Now().Add(-time.Duration(n) * time.Second)
	}
	if s := q.Get("tailLines"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return lq, fmt.Errorf("tailLines %q: want a non-negative integer", s)
		}
		lq.tailLines = n
	}
	if s := q.Get("limitBytes"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return lq, fmt.Errorf("limitBytes %q: want a positive integer", s)
		}
		lq.limitBytes = n
	}
	return lq, nil
}

// errLimit ends a stream once limitBytes are written.
var errLimit = fmt.Errorf("limitBytes reached")

type limitedWriter struct {
	w    io.Writer
	left int // < 0: unlimited
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.left < 0 {
		return l.w.Write(p)
	}
	if len(p) > l.left {
		n, err := l.w.Write(p[:l.left])
		l.left -= n
		if err == nil {
			err = errLimit
		}
		return n, err
	}
	n, err := l.w.Write(p)
	l.left -= n
	return n, err
}

func (k *Kubelet) serveLogs(w http.ResponseWriter, r *http.Request) {
	namespace, pod, container := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	key := logKey(namespace, pod, container)
	k.mu.Lock()
	k.requests++
	status := k.status
	if status != 0 {
		k.injected++
	}
	if k.closed {
		status = http.StatusServiceUnavailable
	}
	k.open++
	changed, cut := k.changed, k.cut
	lines, restarts := k.logs[key], k.restarts[key]
	previous, hasPrevious := k.previous[key]
	k.mu.Unlock()
	defer func() {
		k.mu.Lock()
		k.open--
		k.mu.Unlock()
	}()

	if status != 0 {
		http.Error(w, "fake kubelet: injected failure", status)
		return
	}
	q, err := parseLogQuery(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if q.previous {
		if !hasPrevious {
			// A real kubelet's answer, word for word (it names the pod
			// name_namespace); the apiserver relays it as a BadRequest.
			http.Error(w, fmt.Sprintf("previous terminated container %q in pod %q not found", container, pod+"_"+namespace), http.StatusBadRequest)
			return
		}
		// A terminated instance's log is complete: there is nothing to follow.
		lines, q.follow = previous, false
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	out := &limitedWriter{w: w, left: -1}
	if q.limitBytes > 0 {
		out.left = q.limitBytes
	}
	// An unknown container has an empty log that may grow, so followers of a
	// pod whose lines are not appended yet still wait.
	next := len(lines)
	first := lines
	if q.tailLines >= 0 && len(first) > q.tailLines {
		first = first[len(first)-q.tailLines:]
	}
	for {
		for _, l := range first {
			if !q.since.IsZero() && l.Time.Before(q.since) {
				continue
			}
			text := l.Text + "\n"
			if q.timestamps {
				text = l.Time.Format(TimestampFormat) + " " + text
			}
			if _, err := io.WriteString(out, text); err != nil {
				return // limitBytes reached or the apiserver went away
			}
		}
		if flusher != nil {
			flusher.Flush()
		}
		if !q.follow {
			return
		}
		select {
		case <-changed:
		case <-cut:
			// Abort the connection instead of ending the chunked body cleanly.
			panic(http.ErrAbortHandler)
		case <-r.Context().Done():
			return
		}
		k.mu.Lock()
		if k.restarts[key] != restarts {
			// The instance followed has exited: send the rest of what it
			// wrote (unless a second restart already dropped it) and end
			// the stream cleanly, as a kubelet does.
			first, q.follow = nil, false
			if k.restarts[key] == restarts+1 {
				first = k.previous[key][next:]
			}
		} else {
			all := k.logs[key]
			first, next = all[next:], len(all)
		}
		changed = k.changed
		k.mu.Unlock()
	}
}
