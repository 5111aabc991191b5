package logs

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/discovery"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logmatch"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/kubeapi"
)

// PodRef names a pod. UID, when known, tells it from a later pod of the
// same name; what a head read learned is cached by it.
type PodRef struct {
	Namespace, Name string
	UID             string
}

// FollowTarget is a pod to follow and the hostname its counts carry.
type FollowTarget struct {
	Pod      PodRef
	Hostname string
}

// FollowTargets maps discovered proxy pods to what to follow. A pod that
// serves exactly one endpoint carries that endpoint's hostname; one that
// serves several (a ProxyGroup) or none carries an empty hostname, and
// tailscale_tunnel_proxy_pod_info joins it to its endpoints. Pending pods
// have no log yet and are left until they run.
func FollowTargets(pods []discovery.ProxyPod, eps []discovery.Endpoint) []FollowTarget {
	var out []FollowTarget
	for _, p := range pods {
		if p.Phase == string(corev1.PodPending) {
			continue
		}
		// The same hostname as the pod's exact counts: alerts join them on
		// (hostname, pod).
		out = append(out, FollowTarget{Pod: PodRef{p.Namespace, p.Name, p.UID}, Hostname: discovery.HostnameOf(p, eps)})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Pod.Namespace != out[j].Pod.Namespace {
			return out[i].Pod.Namespace < out[j].Pod.Namespace
		}
		return out[i].Pod.Name < out[j].Pod.Name
	})
	return out
}

// PodLogs follows the proxy container's log of every pod it is given,
// through the Kubernetes API (pods/log with follow and timestamps), and
// counts what the lines say. Streams start at "now", so an exporter restart
// does not replay history; a stream that ends or fails is resumed from the
// last line counted, with backoff while it keeps failing.
//
// A resumed stream serves the container's current instance only, so every
// resume first reads the previous instance's log (previous=true) from the
// same position: what a container restarted while the stream was down
// wrote after the last line counted is counted too. The API keeps a single
// previous instance, so two restarts during one outage still lose what the
// instance running when the stream broke wrote after the last line counted.
type PodLogs struct {
	Client        kubernetes.Interface
	Matcher       *MatcherRef
	Counters      *Counters
	Logger        log.Logger
	MaxLineLength int
	MinBackoff    time.Duration // default 1s
	MaxBackoff    time.Duration // default 1m

	mu      sync.Mutex
	running map[PodRef]*follower
	facts   map[string]PodFacts // by pod UID: head reads, then what followers learned
	wg      sync.WaitGroup
}

// HeadReadBytes bounds the read of the start of a pod's log (or a followed
// file) for its peer API ports and version: tailscaled logs them within
// its first seconds.
const HeadReadBytes = 256 << 10

type follower struct {
	target FollowTarget
	cancel context.CancelFunc
}

// Sync starts following new targets and stops the ones no longer given (or
// whose hostname changed: their series go with them). Followers run until
// ctx ends or they are dropped; Wait waits for them.
func (p *PodLogs) Sync(ctx context.Context, targets []FollowTarget) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running == nil {
		p.running = map[PodRef]*follower{}
	}
	want := make(map[PodRef]FollowTarget, len(targets))
	uids := make(map[string]bool, len(targets))
	for _, t := range targets {
		want[t.Pod] = t
		uids[t.Pod.UID] = true
	}
	for uid := range p.facts {
		if !uids[uid] {
			delete(p.facts, uid)
		}
	}
	for ref, f := range p.running {
		if t, ok := want[ref]; !ok || t != f.target {
			f.cancel()
			delete(p.running, ref)
		}
	}
	for ref, t := range want {
		if _, ok := p.running[ref]; ok {
			continue
		}
		fctx, cancel := context.WithCancel(ctx)
		p.running[ref] = &follower{target: t, cancel: cancel}
		// Held here, not in the goroutine, so that a follower of the same
		// stream still ending cannot drop the series in between.
		key := StreamKey{Hostname: t.Hostname, Pod: t.Pod.Name}
		stream := p.Counters.hold(key)
		p.wg.Go(func() {
			defer stream.release(key)
			p.follow(fctx, t, stream)
		})
	}
}

// Wait waits for every follower to stop (after their ctx ended).
func (p *PodLogs) Wait() { p.wg.Wait() }

func (p *PodLogs) follow(ctx context.Context, t FollowTarget, stream Stream) {
	logger := p.Logger
	if logger == nil {
		logger = log.NewNopLogger()
	}
	logger = log.With(logger, "pod", t.Pod.Namespace+"/"+t.Pod.Name, "hostname", t.Hostname)
	r := &Reader{Matcher: p.Matcher, Stream: stream, MaxLineLength: p.MaxLineLength}
	minB, maxB := p.MinBackoff, p.MaxBackoff
	if minB <= 0 {
		minB = time.Second
	}
	if maxB < minB {
		maxB = max(time.Minute, minB)
	}
	pos := Position{Time: time.Now()}
	defer p.keepFacts(t.Pod, stream)
	headDone := false
	backoff := minB
	var lastKind ErrorKind
	for opened, first := false, true; ; first = false {
		since := metav1.NewTime(pos.SinceTime())
		rc, err := p.Client.CoreV1().Pods(t.Pod.Namespace).GetLogs(t.Pod.Name, &corev1.PodLogOptions{
			Container: discovery.ProxyContainer, Follow: true, Timestamps: true, SinceTime: &since,
		}).Stream(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			kind := errorKind(err)
			stream.Failed(kind)
			if kind != lastKind { // one line per change, not one per retry
				level.Error(logger).Log("msg", "cannot open the proxy log stream", "kind", kind, "err", describe(err, t.Pod), "retry_in", backoff)
			}
			lastKind = kind
		} else {
			if opened {
				stream.Reconnected()
			}
			if lastKind != "" {
				level.Info(logger).Log("msg", "proxy log stream open again")
			}
			opened, lastKind = true, ""
			stream.SetUp(true)
			if !headDone {
				headDone = p.learnHead(ctx, t.Pod, stream, logger)
			}
			before := pos
			if !first {
				// Read after the current stream is open, not before: a
				// restart in between then makes the opened instance the
				// previous one, read whole and deduplicated by the same
				// position, instead of a running instance's lines being
				// lost. It also costs no request while the API refuses.
				// Not on the very first open: history before "now" is
				// not counted.
				p.readPrevious(ctx, t.Pod, r, &pos, stream, logger)
			}
			err = r.ReadKube(rc, &pos)
			rc.Close()
			if ctx.Err() != nil {
				// Stopped: up is a successor's to set if one holds the
				// series; otherwise they go with the last release.
				return
			}
			stream.SetUp(false)
			if err != nil {
				stream.Failed(ErrStream)
				level.Debug(logger).Log("msg", "proxy log stream broke; resuming", "err", err)
			}
			if pos != before {
				backoff = minB // it delivered: the next failure starts over
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff + rand.N(backoff/4+1)):
		}
		backoff = min(backoff*2, maxB)
	}
}

// learnHead gives the stream what the start of the pod's log says about
// the proxy (its peer API ports, its version), which a stream from "now"
// never sees: from the cache, else from one bounded read of the current
// container's log, whose lines are not counted. It reports whether the
// stream has it; a failed read is tried again at the next open, and
// until then drops are classified with an inferred port.
func (p *PodLogs) learnHead(ctx context.Context, pod PodRef, stream Stream, logger log.Logger) bool {
	p.mu.Lock()
	cached, ok := p.facts[pod.UID]
	p.mu.Unlock()
	if ok {
		stream.Learn(cached)
		return true
	}
	f, err := ReadHead(ctx, p.Client, pod, p.Matcher.Load(), p.MaxLineLength)
	if err != nil {
		level.Debug(logger).Log("msg", "cannot read the start of the proxy log; the peer API port is inferred", "err", describe(err, pod))
		return false
	}
	stream.Learn(f)
	p.keepFacts(pod, stream)
	return true
}

// ReadHead reads what the start of a pod's proxy container log says about
// the proxy (its peer API ports, its version) with one read of at most
// HeadReadBytes, counting nothing: the followers' head read, and the
// diagnose tail's.
func ReadHead(ctx context.Context, client kubernetes.Interface, pod PodRef, m *logmatch.Matcher, maxLineLength int) (PodFacts, error) {
	limit := int64(HeadReadBytes)
	rc, err := client.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{
		Container: discovery.ProxyContainer, LimitBytes: &limit,
	}).Stream(ctx)
	if err != nil {
		return PodFacts{}, err
	}
	defer rc.Close()
	return readFacts(rc, m, maxLineLength)
}

// keepFacts caches what the stream knows about its pod, for a later
// follower of the same pod (a reconnect or a new hostname); it learned the
// latest lines, so it replaces what the cache had. Not for a pod that is
// no longer followed, nor one without a UID.
func (p *PodLogs) keepFacts(pod PodRef, stream Stream) {
	if pod.UID == "" {
		return
	}
	f := stream.Facts()
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, followed := p.running[pod]; !followed {
		return
	}
	if p.facts == nil {
		p.facts = map[string]PodFacts{}
	}
	p.facts[pod.UID] = f
}

// readPrevious counts the lines of the proxy container's previous instance
// after pos and advances pos past them. Every line ReadKube counts lies
// after pos, and pos moves past it, so a line served again (the previous
// instance re-read on each resume, or the same terminated instance served
// as both previous and current) is never counted twice. Its failures are
// counted but do not keep the current stream from being read.
func (p *PodLogs) readPrevious(ctx context.Context, pod PodRef, r *Reader, pos *Position, stream Stream, logger log.Logger) {
	since := metav1.NewTime(pos.SinceTime())
	rc, err := p.Client.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{
		Container: discovery.ProxyContainer, Previous: true, Timestamps: true, SinceTime: &since,
	}).Stream(ctx)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return
	case noPreviousInstance(err):
		// The container has not restarted since the pod started: normal.
		level.Debug(logger).Log("msg", "no previous instance of the proxy container", "err", err)
		return
	default:
		kind := errorKind(err)
		stream.Failed(kind)
		level.Warn(logger).Log("msg", "cannot read the previous proxy container's log; lines it wrote while the stream was down may be missed",
			"kind", kind, "err", describe(err, pod))
		return
	}
	err = r.ReadKube(rc, pos)
	rc.Close()
	if err != nil && ctx.Err() == nil {
		stream.Failed(ErrStream)
		level.Warn(logger).Log("msg", "the previous proxy container's log broke; lines it wrote while the stream was down may be missed", "err", err)
	}
}

// noPreviousInstance reports whether err is the kubelet's answer for a
// container that never terminated: "previous terminated container ... not
// found", which the apiserver relays as a BadRequest.
func noPreviousInstance(err error) bool {
	return apierrors.IsBadRequest(err) && strings.Contains(err.Error(), "previous terminated container")
}

// errorKind is the kind a stream error is counted by, one of
// streamErrorKinds. A pod log read has no resourceVersion, so the API has
// no reason to answer 410 Gone; should it, that is other.
func errorKind(err error) ErrorKind {
	if k := kubeapi.Classify(err); k != kubeapi.Gone {
		return k
	}
	return ErrOther
}

// describe makes RBAC failures actionable: which verb on which resource in
// which namespace is missing.
func describe(err error, pod PodRef) string {
	if apierrors.IsForbidden(err) {
		return fmt.Sprintf("forbidden: the exporter needs get on pods/log in namespace %s (%v)", pod.Namespace, err)
	}
	return err.Error()
}
