package discovery

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/kubeapi"
)

// Kinds of discovery errors; label values of
// tailscale_tunnel_discovery_errors_total (see kubeapi.ErrorKind).
const (
	ErrorForbidden   = string(kubeapi.Forbidden)   // RBAC or credentials refused: nothing heals by itself
	ErrorUnreachable = string(kubeapi.Unreachable) // the API server could not be reached or did not answer
	ErrorGone        = string(kubeapi.Gone)        // 410: a watch fell too far behind and relists (usually harmless)
	ErrorOther       = string(kubeapi.Other)
)

// ErrorKinds lists every error kind of a list or watch call.
var ErrorKinds = []string{ErrorForbidden, ErrorUnreachable, ErrorGone, ErrorOther}

// ErrorKind classifies an error of a list or watch call. A 404 cannot come
// from a list or watch of a served resource, so it counts as other.
func ErrorKind(err error) string {
	if k := kubeapi.Classify(err); k != kubeapi.NotFound {
		return string(k)
	}
	return ErrorOther
}

var (
	upDesc = prometheus.NewDesc(namespace+"_discovery_up",
		"1 when every Kubernetes informer has synced and none is failing.", nil, nil)
	syncedDesc = prometheus.NewDesc(namespace+"_discovery_synced",
		"Whether the informers of a resource have completed their initial list.", []string{"resource"}, nil)
	lastSyncDesc = prometheus.NewDesc(namespace+"_discovery_last_sync_timestamp_seconds",
		"When a list or watch call last succeeded or a watch last delivered a change "+
			"(watches are renewed every 5-10 minutes).", nil, nil)
	errorsDesc = prometheus.NewDesc(namespace+"_discovery_errors_total",
		"Failed list and watch calls and broken watches, by resource and kind of error.",
		[]string{"resource", "kind"}, nil)
)

// callError is an error of one list or watch call, so that the watch error
// handler knows the verb and that the call was already counted.
type callError struct {
	verb string
	err  error
}

func (e *callError) Error() string { return e.verb + ": " + e.err.Error() }
func (e *callError) Unwrap() error { return e.err }

// stream is one informer's connection: a resource in a namespace, maybe
// with a selector.
type stream struct {
	resource  string
	namespace string // "" for all namespaces
	selector  string
}

// health tracks the state of the informers' connections to the API server.
// It logs on state changes only: a forbidden resource gives one line, not
// one per retry.
type health struct {
	logger log.Logger
	now    func() time.Time

	mu       sync.Mutex
	lastSync time.Time
	errors   map[stream]map[string]float64 // by resource (namespace ""), kind
	failing  map[stream]failure            // current failure
}

// failure is the current failure of a stream: its kind, the verb that
// failed and the error it failed with.
type failure struct {
	kind, verb string
	err        error
}

func newHealth(logger log.Logger, now func() time.Time) *health {
	return &health{
		logger:  logger,
		now:     now,
		errors:  map[stream]map[string]float64{},
		failing: map[stream]failure{},
	}
}

// ok records a successful call (verb list or watch). A call that went
// through proves the API server reachable, so it ends any failure but a
// forbidden one: RBAC grants verbs one by one, and a list that is allowed
// says nothing about a watch that is not. Without this distinction a Role
// with list but not watch would log "forbidden" and "recovered" on every
// retry.
func (h *health) ok(s stream, verb string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastSync = h.now()
	f, was := h.failing[s]
	if !was || f.kind == ErrorForbidden && f.verb != verb {
		return
	}
	delete(h.failing, s)
	level.Info(h.logger).Log("msg", "Kubernetes API access recovered",
		"verb", verb, "resource", s.resource, "namespace", namespaceLabel(s.namespace), "selector", s.selector, "after", f.kind)
}

// delivered records that a watch or list delivered a change. It ends no
// failure: the objects of a list may arrive while the watch is forbidden.
func (h *health) delivered() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastSync = h.now()
}

// failed records a failed call (verb list or watch) or a broken watch.
func (h *health) failed(s stream, verb string, err error) {
	kind := ErrorKind(err)
	h.mu.Lock()
	defer h.mu.Unlock()
	byKind := h.errors[stream{resource: s.resource}]
	if byKind == nil {
		byKind = map[string]float64{}
		h.errors[stream{resource: s.resource}] = byKind
	}
	byKind[kind]++
	if kind == ErrorGone {
		// The informer relists at once; only a following failure matters.
		return
	}
	f, was := h.failing[s]
	h.failing[s] = failure{kind: kind, verb: verb, err: err}
	if was && f.kind == kind {
		return // logged when it began
	}
	lvl := level.Warn(h.logger)
	msg := "Kubernetes API call failed; retrying with backoff"
	if kind == ErrorForbidden {
		lvl = level.Error(h.logger)
		msg = "Kubernetes API access forbidden; grant the verb on the resource to the exporter's ServiceAccount. Discovery of the other resources goes on"
	}
	lvl.Log("msg", msg, "verb", verb, "resource", s.resource,
		"namespace", namespaceLabel(s.namespace), "selector", s.selector, "kind", kind, "err", err)
}

// failures returns a copy of the current failure of every failing stream.
func (h *health) failures() map[stream]failure {
	h.mu.Lock()
	defer h.mu.Unlock()
	return maps.Clone(h.failing)
}

func (h *health) lastSyncTime() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lastSync
}

func (h *health) errorCount(resource, kind string) float64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.errors[stream{resource: resource}][kind]
}

func namespaceLabel(ns string) string {
	if ns == "" {
		return "(all)"
	}
	return ns
}

// String names a stream for errors: "ingresses in all namespaces",
// "events in namespace default (type=Warning,...)".
func (s stream) String() string {
	where := "all namespaces"
	if s.namespace != "" {
		where = "namespace " + s.namespace
	}
	if s.selector != "" {
		return fmt.Sprintf("%s in %s (%s)", s.resource, where, s.selector)
	}
	return s.resource + " in " + where
}

// errNotSynced is the error of an informer whose initial list has not
// completed, though no call of it has failed (yet).
var errNotSynced = errors.New("not synced yet")

// healthError is why discovery cannot report all it should: one error per
// informer that has not synced or whose last call failed.
type healthError []error

// maxShown bounds the message: every informer of every namespace fails at
// once when the API server is down.
const maxShown = 4

func (e healthError) Error() string {
	var b strings.Builder
	for i, err := range e[:min(len(e), maxShown)] {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(err.Error())
	}
	if len(e) > maxShown {
		fmt.Fprintf(&b, "; and %d more", len(e)-maxShown)
	}
	return b.String()
}

func (e healthError) Unwrap() []error { return e }
