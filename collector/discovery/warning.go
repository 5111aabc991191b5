package discovery

import (
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// ReasonOther stands for every Warning reason not in KnownReasons.
const ReasonOther = "other"

// KnownReasons are the reasons of the Warning Events the operator records on
// Ingresses and Services (cmd/k8s-operator, v1.9x). They are kept as label
// values; any other reason, from the operator or another controller, counts
// as ReasonOther, so that the reason label stays bounded.
var KnownReasons = []string{
	"HTTPSNotEnabled",             // HTTPS (certificates) not enabled on the tailnet
	"NoValidBackends",             // no backend of the Ingress could be used
	"InvalidIngressBackend",       // a backend or rule was skipped
	"UnsupportedPathTypeExact",    // Exact paths are served as Prefix
	"InvalidIngressConfiguration", // HA Ingress failed validation
	"InvalidTailscaleService",     // Tailscale Service owned by someone else
	"ProxyGroupNotFound",          // HA Service names a missing ProxyGroup
	"IngressSvcInvalid",           // HA Service failed validation
	"INVALIDCONFIG",               // Service proxy config rejected
	"INVALIDSERVICE",              // Service failed validation
}

// Warning is one Warning Event recorded on an Ingress or a Service.
type Warning struct {
	Object ObjectRef
	// Reason is one of KnownReasons or ReasonOther.
	Reason string
	// Event identifies the Event object: its UID, else namespace/name.
	Event string
	// Count is how often the event occurred, as the Event says; at least 1.
	Count int32
	// Unlisted is the Event's own reason when it is not one of
	// KnownReasons (Reason is then ReasonOther): for reports, never a label.
	Unlisted string
	// Message is the Event's message, for reports.
	Message string
	// Last is when the event last occurred, as far as the Event tells.
	Last time.Time
}

// EventReason is the reason the Event gives, listed or not.
func (w Warning) EventReason() string {
	if w.Unlisted != "" {
		return w.Unlisted
	}
	return w.Reason
}

// WarningFromEvent returns the Warning of an Event of type Warning about an
// Ingress or a Service, and false for any other Event.
func WarningFromEvent(ev *corev1.Event) (Warning, bool) {
	if ev == nil || ev.Type != corev1.EventTypeWarning {
		return Warning{}, false
	}
	kind := ev.InvolvedObject.Kind
	if kind != ResourceIngress && kind != ResourceService {
		return Warning{}, false
	}
	w := Warning{
		Object:  ObjectRef{Resource: kind, Namespace: ev.InvolvedObject.Namespace, Name: ev.InvolvedObject.Name},
		Reason:  ReasonOther,
		Event:   string(ev.UID),
		Count:   ev.Count,
		Message: ev.Message,
	}
	if w.Object.Namespace == "" {
		w.Object.Namespace = ev.Namespace
	}
	if slices.Contains(KnownReasons, ev.Reason) {
		w.Reason = ev.Reason
	} else {
		w.Unlisted = ev.Reason
	}
	if w.Event == "" {
		w.Event = ev.Namespace + "/" + ev.Name
	}
	// Events written through the core API carry LastTimestamp; those
	// written through events.k8s.io carry EventTime and keep their count
	// and latest time in the series.
	for _, t := range []time.Time{ev.LastTimestamp.Time, ev.EventTime.Time, ev.FirstTimestamp.Time, ev.CreationTimestamp.Time} {
		if !t.IsZero() {
			w.Last = t
			break
		}
	}
	if s := ev.Series; s != nil {
		w.Count = max(w.Count, s.Count)
		if s.LastObservedTime.After(w.Last) {
			w.Last = s.LastObservedTime.Time
		}
	}
	w.Count = max(w.Count, 1)
	return w, true
}

// warningCounts turns Event counts into counters that never go down.
//
// An Event's count only grows while it exists, but Events expire (one hour
// by default) and the recorder then starts a new Event for the next
// occurrence. So each Event contributes what its count grew by since it was
// last seen, and an expired Event's contribution stays in the total. Totals
// of an object go away with the object.
type warningCounts struct {
	seen   map[string]int32 // last count by Warning.Event
	totals map[ObjectRef]map[string]float64
}

func newWarningCounts() *warningCounts {
	return &warningCounts{
		seen:   map[string]int32{},
		totals: map[ObjectRef]map[string]float64{},
	}
}

// observe records the current state of an Event (added or updated).
func (c *warningCounts) observe(w Warning) {
	last := c.seen[w.Event]
	c.seen[w.Event] = w.Count
	if w.Count <= last {
		// Nothing new, a relist, or a count that went back, which real
		// Events never do: no increment either way.
		return
	}
	byReason := c.totals[w.Object]
	if byReason == nil {
		byReason = map[string]float64{}
		c.totals[w.Object] = byReason
	}
	byReason[w.Reason] += float64(w.Count - last)
}

// forget drops an Event that expired or was deleted; its count stays in the
// totals.
func (c *warningCounts) forget(event string) {
	delete(c.seen, event)
}

// drop removes the totals of an object that no longer exists.
func (c *warningCounts) drop(obj ObjectRef) {
	delete(c.totals, obj)
}

// of returns the totals by reason of one object, or nil.
func (c *warningCounts) of(obj ObjectRef) map[string]float64 {
	return c.totals[obj]
}
