// Package logs follows the logs of Tailscale proxies (pods through the
// Kubernetes API, a file like tail -F, or standard input), runs every line
// through logmatch, and keeps counters per stream that become metrics
// joinable with the probes on hostname.
//
// Counts from logs are a lower bound: tailscaled rate-limits drop logging
// (a burst of 10, then about one line per 5 s) and its whole logger, so many
// drops never reach the log. tailscale_tunnel_proxy_log_suppressed_lines_total
// says when that happened; the exact packet counts are the proxy's own
// client metrics (tailscaled_inbound_dropped_packets_total).
package logs

import (
	"cmp"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logmatch"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/kubeapi"
)

// StreamKey names one log stream: the endpoint it belongs to and the pod
// (empty for a file or standard input on a plain host).
type StreamKey struct {
	Hostname string
	Pod      string
}

// ErrorKind is a bounded label value for why a stream failed: the kinds of
// an API error, and a stream that broke mid-way.
type ErrorKind = kubeapi.ErrorKind

const (
	ErrForbidden             = kubeapi.Forbidden   // 403 on pods/log: RBAC
	ErrNotFound              = kubeapi.NotFound    // pod or container gone
	ErrUnreachable           = kubeapi.Unreachable // API server or file not reachable
	ErrStream      ErrorKind = "stream"            // the stream broke mid-way
	ErrOther                 = kubeapi.Other
)

// streamErrorKinds are every kind a stream error is counted by. Each
// stream has their series at 0 from the moment it exists, so that
// increase() sees its first error.
var streamErrorKinds = [...]ErrorKind{ErrForbidden, ErrNotFound, ErrUnreachable, ErrStream, ErrOther}

// zeroErrors returns the error counts a stream starts with.
func zeroErrors() map[ErrorKind]uint64 {
	m := make(map[ErrorKind]uint64, len(streamErrorKinds))
	for _, k := range streamErrorKinds {
		m[k] = 0
	}
	return m
}

// streamCounts is everything counted for one stream. Events are keyed with
// their per-line numbers zeroed, so the key space is the product of small
// enumerations. Line counters are atomic because they change on every line;
// the rest changes rarely and is guarded by Counters.mu.
type streamCounts struct {
	lines, bytes, truncated atomic.Uint64

	events     map[logmatch.Event]uint64
	series     map[series]uint64     // the labelled families, zeros included
	classified map[Classified]uint64 // drops and accepts by where they went
	head       PodFacts              // learned from the followed lines (and a head read)
	suppressed map[bool]uint64       // by FilterFormat
	signatures map[string]uint64
	lastDrop   time.Time
	up         bool
	tried      bool      // opened or failed at least once: a down stream is not just starting
	lastError  ErrorKind // since it was last up; "" when it ended without an error
	reconnects uint64
	errors     map[ErrorKind]uint64
	holders    int // followers holding the stream (Counters.hold)
}

// Counters holds the counts of every stream. Counters only go up within a
// process; a stream that goes away takes its series with it.
type Counters struct {
	mu      sync.Mutex
	streams map[StreamKey]*streamCounts
}

// NewCounters makes empty counters.
func NewCounters() *Counters {
	return &Counters{streams: map[StreamKey]*streamCounts{}}
}

// stream returns a stream's counts, creating them; c.mu must be held.
func (c *Counters) stream(k StreamKey) *streamCounts {
	s, ok := c.streams[k]
	if !ok {
		s = &streamCounts{events: map[logmatch.Event]uint64{}, series: zeroSeries(), classified: map[Classified]uint64{}, suppressed: map[bool]uint64{}, signatures: map[string]uint64{}, errors: zeroErrors()}
		c.streams[k] = s
	}
	return s
}

// Stream is a stream's handle for counting lines; it is what a reader holds.
type Stream struct {
	c *Counters
	s *streamCounts
}

// Stream returns the handle of a stream, creating its counts.
func (c *Counters) Stream(k StreamKey) Stream {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stream{c: c, s: c.stream(k)}
}

// Lines counts lines read, matched or not: how many, their bytes and how
// many of them were truncated.
func (h Stream) Lines(lines, bytes, truncated uint64) {
	h.s.lines.Add(lines)
	h.s.bytes.Add(bytes)
	if truncated > 0 {
		h.s.truncated.Add(truncated)
	}
}

// Event counts a line m matched; at is the line's time (zero: now).
// Signatures are counted by name, so a reload that changes the list keeps
// the counts of the ones that stay. It returns where a drop or accept
// went, as counted (zero for other lines).
func (h Stream) Event(ev logmatch.Event, at time.Time, m *logmatch.Matcher) (logmatch.DropClass, logmatch.PortSource) {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	s := h.s
	if ev.Custom != 0 {
		for i, sig := range m.Signatures() {
			if ev.Custom.Has(i) {
				s.signatures[sig.Name]++
			}
		}
	}
	var class logmatch.DropClass
	var src logmatch.PortSource
	switch ev.Kind {
	case logmatch.KindRateLimit:
		s.suppressed[ev.FilterFormat] += uint64(ev.Suppressed)
	case logmatch.KindPeerAPIServing, logmatch.KindProgramStarting:
		s.head.learn(ev)
	case logmatch.KindDrop, logmatch.KindAccept:
		// Classified now, with the peer API port known at this line: a
		// later "serving on" line (new addresses) does not move past drops.
		class, src = logmatch.Classify(ev, s.head.Ports)
		s.classified[Classified{Event: ev.Key(), Class: class, Source: src}]++
		if ev.Kind == logmatch.KindAccept {
			break
		}
		if at.IsZero() {
			at = time.Now()
		}
		if at.After(s.lastDrop) {
			s.lastDrop = at
		}
	}
	if k, ok := labelsOf(ev, class); ok {
		s.series[k]++
	}
	// Every matched line is counted by its key, also the kinds no family
	// shows (rate-limit notices, lines only signatures matched, peer API
	// listeners, versions), so that Totals tells a report all that matched.
	// The key has no per-line numbers (ports, lengths), so it stays
	// bounded. The metrics are written from s.series, not from these keys.
	s.events[ev.Key()]++
	return class, src
}

// Learn takes what lines of the pod's log written before the stream
// started say about the proxy (a head read): the peer API ports and the
// version, where the stream has not learned them from its own, later,
// lines. Such lines are not counted.
func (h Stream) Learn(f PodFacts) {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	h.s.head.fill(f)
}

// Facts returns what the stream has learned about its proxy so far.
func (h Stream) Facts() PodFacts {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	return h.s.head
}

// SetUp records whether the stream is connected.
func (h Stream) SetUp(up bool) {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	h.s.up, h.s.tried = up, true
	if up {
		h.s.lastError = ""
	}
}

// Reconnected counts one reopening of the stream.
func (h Stream) Reconnected() {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	h.s.reconnects++
}

// Failed counts an error of the stream by kind.
func (h Stream) Failed(kind ErrorKind) {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	h.s.errors[kind]++
	h.s.tried, h.s.lastError = true, kind
}

// hold returns the handle of a stream for a follower, which must release
// it when it ends. While any follower holds a stream its series stay: a
// follower that ends late (its pod was dropped and given again at once, as
// a StatefulSet pod recreated under its name is) must not take the series
// of its successor with it.
func (c *Counters) hold(k StreamKey) Stream {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stream(k)
	s.holders++
	return Stream{c: c, s: s}
}

// release ends a hold; the last one drops the stream's series.
func (h Stream) release(k StreamKey) {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	h.s.holders--
	if h.s.holders <= 0 && h.c.streams[k] == h.s {
		delete(h.c.streams, k)
	}
}

// Forget drops a stream's series (its pod is gone).
func (c *Counters) Forget(k StreamKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.streams, k)
}

// Totals is a snapshot of one stream's counts: what a tail read gives the
// diagnose report, and what tests check.
type Totals struct {
	// Events counts every matched line by its key (per-line numbers
	// zeroed), rate-limit notices and signature-only lines included.
	Events map[logmatch.Event]uint64
	// Classified counts the drop and accept lines of Events again, by
	// where they went when they were read.
	Classified map[Classified]uint64
	// Facts is what the stream learned about the proxy: its peer API
	// ports and version.
	Facts      PodFacts
	Lines      uint64
	Reconnects uint64
	Up         bool
}

// Totals returns a copy of one stream's counts.
func (c *Counters) Totals(k StreamKey) Totals {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.streams[k]
	if !ok {
		return Totals{}
	}
	t := Totals{Events: map[logmatch.Event]uint64{}, Classified: map[Classified]uint64{}, Facts: s.head,
		Lines: s.lines.Load(), Reconnects: s.reconnects, Up: s.up}
	for ev, n := range s.events {
		t.Events[ev] = n
	}
	for c, n := range s.classified {
		t.Classified[c] = n
	}
	return t
}

const ns = collector.Namespace

var (
	streamLabels = []string{"hostname", "pod"}
	descDrops    = prometheus.NewDesc(ns+"_proxy_drops_total",
		"Packet-filter drops logged by the proxy (lower bound: tailscaled rate-limits drop logging), by reason, protocol, source address family and where the packet went: port=\"443\" or \"80\" (a served port: a real drop), \"peerapi\" (a TCP SYN to the node's peer API port, which tailscaled logs as a drop and then lets through, net/tstun/wrap.go: every Funnel relay connection makes one; not a failure), \"other\" (any other port, or a non-tailnet destination).",
		append(streamLabels, "reason", "protocol", "family", "port"), nil)
	descAccepts = prometheus.NewDesc(ns+"_proxy_accepts_total",
		"Packet-filter accepts logged by the proxy (only at verbose logging), by protocol, source family and where the packet went (port: 443, 80, peerapi, other).",
		append(streamLabels, "protocol", "family", "port"), nil)
	descTLSErrors = prometheus.NewDesc(ns+"_proxy_tls_handshake_errors_total",
		"TLS handshake errors logged by the proxy's HTTPS server, by cause (eof, cert_unavailable, plain_http, rate_limited, other) and client family.",
		append(streamLabels, "cause", "family"), nil)
	descIngressDenied = prometheus.NewDesc(ns+"_proxy_ingress_denied_total",
		"Funnel ingress connections the proxy denied ('ingress: denied; no ingress cap'), by client family.",
		append(streamLabels, "family"), nil)
	descSuppressed = prometheus.NewDesc(ns+"_proxy_log_suppressed_lines_total",
		"Log lines tailscaled's rate limiter suppressed ([RATELIMIT] ... (N dropped)); filter=\"true\" for the packet filter's drop/accept format, which makes drop counts from logs incomplete.",
		append(streamLabels, "filter"), nil)
	descSignatures = prometheus.NewDesc(ns+"_proxy_signature_matches_total",
		"Lines matching a user-defined signature from the configuration file.",
		append(streamLabels, "signature"), nil)
	descLastDrop = prometheus.NewDesc(ns+"_proxy_last_drop_timestamp_seconds",
		"Time of the last logged drop (the line's timestamp when it has one, else when it was read).",
		streamLabels, nil)
	descLines = prometheus.NewDesc(ns+"_log_lines_total",
		"Log lines read.", streamLabels, nil)
	descBytes = prometheus.NewDesc(ns+"_log_bytes_total",
		"Log bytes read (line contents, without newlines).", streamLabels, nil)
	descTruncated = prometheus.NewDesc(ns+"_log_truncated_lines_total",
		"Lines longer than the maximum line length: matched on their start, the rest discarded.", streamLabels, nil)
	descUp = prometheus.NewDesc(ns+"_log_stream_up",
		"Whether the log stream is connected (1) or not (0).", streamLabels, nil)
	descReconnects = prometheus.NewDesc(ns+"_log_stream_reconnects_total",
		"Times the log stream was opened again after it ended or failed.", streamLabels, nil)
	descStreamErrors = prometheus.NewDesc(ns+"_log_stream_errors_total",
		"Log stream failures by kind (forbidden, not_found, unreachable, stream, other).",
		append(streamLabels, "kind"), nil)
)

// ErrAllStreamsDown is the logs collector's failure: streams should be
// followed, and not one of them is read.
var ErrAllStreamsDown = errors.New("every log stream is down")

// Update writes the metrics of every stream, sorted so output is stable; it
// is the "logs" collector. It fails when streams exist (a followed pod, a
// file, standard input) and every one that was tried is down: then no proxy
// log at all is read. Some streams down is not a failure of the collector
// (tailscale_tunnel_log_stream_up says which), nor are no streams at all,
// nor streams still opening for the first time.
func (c *Counters) Update(ch chan<- prometheus.Metric) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]StreamKey, 0, len(c.streams))
	for k := range c.streams {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Hostname != keys[j].Hostname {
			return keys[i].Hostname < keys[j].Hostname
		}
		return keys[i].Pod < keys[j].Pod
	})
	var down []string
	for _, k := range keys {
		s := c.streams[k]
		s.emit(ch, k)
		if !s.up && s.tried {
			down = append(down, k.String()+": "+cmp.Or(string(s.lastError), "ended"))
		}
	}
	if len(keys) == 0 || len(down) < len(keys) {
		return nil
	}
	const shown = 4 // a bounded message, with a thousand pods too
	if len(down) > shown {
		down = append(down[:shown], fmt.Sprintf("and %d more", len(down)-shown))
	}
	return fmt.Errorf("%w (%d): %s", ErrAllStreamsDown, len(keys), strings.Join(down, "; "))
}

// String names a stream in errors: its pod, or the hostname of a file or
// standard input.
func (k StreamKey) String() string {
	if k.Pod != "" {
		return "pod " + k.Pod
	}
	return "host log " + strconv.Quote(k.Hostname)
}

func (s *streamCounts) emit(ch chan<- prometheus.Metric, k StreamKey) {
	counter := func(d *prometheus.Desc, v uint64, extra ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append([]string{k.Hostname, k.Pod}, extra...)...)
	}
	for k, n := range s.series {
		switch k.kind {
		case logmatch.KindDrop:
			counter(descDrops, n, k.reason.String(), k.protocol.String(), k.family.String(), k.port.String())
		case logmatch.KindAccept:
			counter(descAccepts, n, k.protocol.String(), k.family.String(), k.port.String())
		case logmatch.KindTLSHandshakeError:
			counter(descTLSErrors, n, k.cause.String(), k.family.String())
		case logmatch.KindIngressDenied:
			counter(descIngressDenied, n, k.family.String())
		}
	}
	for f, n := range s.suppressed {
		counter(descSuppressed, n, map[bool]string{true: "true", false: "false"}[f])
	}
	for name, n := range s.signatures {
		counter(descSignatures, n, name)
	}
	if !s.lastDrop.IsZero() {
		ch <- prometheus.MustNewConstMetric(descLastDrop, prometheus.GaugeValue, float64(s.lastDrop.UnixNano())/1e9, k.Hostname, k.Pod)
	}
	counter(descLines, s.lines.Load())
	counter(descBytes, s.bytes.Load())
	counter(descTruncated, s.truncated.Load())
	up := 0.0
	if s.up {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up, k.Hostname, k.Pod)
	counter(descReconnects, s.reconnects)
	for kind, n := range s.errors {
		counter(descStreamErrors, n, string(kind))
	}
}
