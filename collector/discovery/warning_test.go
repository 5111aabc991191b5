package discovery

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// warningEvent is a Warning Event on the Ingress default/whoami.
func warningEvent(name, reason string, count int32, mods ...func(*corev1.Event)) *corev1.Event {
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		InvolvedObject: corev1.ObjectReference{
			Kind: ResourceIngress, Namespace: "default", Name: "whoami", APIVersion: "networking.k8s.io/v1",
		},
		Type:   corev1.EventTypeWarning,
		Reason: reason,
		Count:  count,
	}
	for _, m := range mods {
		m(ev)
	}
	return ev
}

func TestWarningFromEvent(t *testing.T) {
	whoami := ObjectRef{ResourceIngress, "default", "whoami"}
	tests := []struct {
		name string
		ev   *corev1.Event
		want Warning
		ok   bool
	}{
		{name: "nil event", ev: nil},
		{
			name: "normal event",
			ev:   warningEvent("e", "PathUndefined", 1, func(e *corev1.Event) { e.Type = corev1.EventTypeNormal }),
		},
		{
			name: "warning on a pod",
			ev:   warningEvent("e", "BackOff", 3, func(e *corev1.Event) { e.InvolvedObject.Kind = "Pod" }),
		},
		{
			name: "known reason kept, UID identifies the event",
			ev:   warningEvent("e", "HTTPSNotEnabled", 4, func(e *corev1.Event) { e.UID = types.UID("u-1") }),
			ok:   true,
			want: Warning{Object: whoami, Reason: "HTTPSNotEnabled", Event: "u-1", Count: 4},
		},
		{
			name: "unknown reason is other, name identifies an event without UID",
			ev:   warningEvent("whoami.17f", "SomethingNew", 2),
			ok:   true,
			want: Warning{Object: whoami, Reason: ReasonOther, Event: "default/whoami.17f", Count: 2, Unlisted: "SomethingNew"},
		},
		{
			name: "reasons are case sensitive",
			ev:   warningEvent("e", "novalidbackends", 1),
			ok:   true,
			want: Warning{Object: whoami, Reason: ReasonOther, Event: "default/e", Count: 1, Unlisted: "novalidbackends"},
		},
		{
			name: "zero count means once",
			ev:   warningEvent("e", "NoValidBackends", 0),
			ok:   true,
			want: Warning{Object: whoami, Reason: "NoValidBackends", Event: "default/e", Count: 1},
		},
		{
			name: "series count of an events.k8s.io event",
			ev: warningEvent("e", "NoValidBackends", 0, func(e *corev1.Event) {
				e.Series = &corev1.EventSeries{Count: 7}
			}),
			ok:   true,
			want: Warning{Object: whoami, Reason: "NoValidBackends", Event: "default/e", Count: 7},
		},
		{
			name: "service, involved namespace taken from the event when empty",
			ev: warningEvent("e", "INVALIDSERVICE", 1, func(e *corev1.Event) {
				e.InvolvedObject = corev1.ObjectReference{Kind: ResourceService, Name: "db"}
			}),
			ok:   true,
			want: Warning{Object: ObjectRef{ResourceService, "default", "db"}, Reason: "INVALIDSERVICE", Event: "default/e", Count: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := WarningFromEvent(tt.ev)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if got != tt.want {
				t.Errorf("warning:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestWarningCounts(t *testing.T) {
	a := ObjectRef{ResourceIngress, "default", "a"}
	b := ObjectRef{ResourceService, "default", "b"}
	type step struct {
		observe *Warning
		forget  string
		drop    *ObjectRef
	}
	w := func(obj ObjectRef, reason, event string, count int32) step {
		return step{observe: &Warning{Object: obj, Reason: reason, Event: event, Count: count}}
	}
	tests := []struct {
		name  string
		steps []step
		want  map[ObjectRef]map[string]float64
	}{
		{
			name:  "a new event counts its count",
			steps: []step{w(a, "NoValidBackends", "e1", 3)},
			want:  map[ObjectRef]map[string]float64{a: {"NoValidBackends": 3}},
		},
		{
			name:  "updates add the growth only; relists add nothing",
			steps: []step{w(a, "NoValidBackends", "e1", 3), w(a, "NoValidBackends", "e1", 5), w(a, "NoValidBackends", "e1", 5)},
			want:  map[ObjectRef]map[string]float64{a: {"NoValidBackends": 5}},
		},
		{
			name: "an expired event keeps counting, the next one adds to it",
			steps: []step{
				w(a, "NoValidBackends", "e1", 5), {forget: "e1"}, w(a, "NoValidBackends", "e2", 1),
			},
			want: map[ObjectRef]map[string]float64{a: {"NoValidBackends": 6}},
		},
		{
			name:  "a count that goes back adds nothing and resets the baseline",
			steps: []step{w(a, "other", "e1", 5), w(a, "other", "e1", 2), w(a, "other", "e1", 4)},
			want:  map[ObjectRef]map[string]float64{a: {"other": 7}},
		},
		{
			name: "objects and reasons are counted apart",
			steps: []step{
				w(a, "NoValidBackends", "e1", 1), w(a, "HTTPSNotEnabled", "e2", 2), w(b, "INVALIDSERVICE", "e3", 1),
			},
			want: map[ObjectRef]map[string]float64{
				a: {"NoValidBackends": 1, "HTTPSNotEnabled": 2},
				b: {"INVALIDSERVICE": 1},
			},
		},
		{
			name:  "a deleted object's totals go",
			steps: []step{w(a, "NoValidBackends", "e1", 1), w(b, "INVALIDSERVICE", "e2", 1), {drop: &a}},
			want:  map[ObjectRef]map[string]float64{b: {"INVALIDSERVICE": 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newWarningCounts()
			for _, s := range tt.steps {
				switch {
				case s.observe != nil:
					c.observe(*s.observe)
				case s.drop != nil:
					c.drop(*s.drop)
				default:
					c.forget(s.forget)
				}
			}
			if !reflect.DeepEqual(c.totals, tt.want) {
				t.Errorf("totals = %v, want %v", c.totals, tt.want)
			}
		})
	}
}

// TestWarningFromEventReport: what a report shows of a Warning, from
// Events written through either events API.
func TestWarningFromEventReport(t *testing.T) {
	t0 := time.Date(2026, 2, 22, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		ev     *corev1.Event
		reason string
		msg    string
		count  int32
		last   time.Time
	}{
		{"core API", warningEvent("e", "HTTPSNotEnabled", 3, func(e *corev1.Event) {
			e.Message, e.LastTimestamp = "m", metav1.NewTime(t0)
		}), "HTTPSNotEnabled", "m", 3, t0},
		{"events.k8s.io with a series", warningEvent("e", "NoValidBackends", 0, func(e *corev1.Event) {
			e.EventTime = metav1.NewMicroTime(t0)
			e.Series = &corev1.EventSeries{Count: 7, LastObservedTime: metav1.NewMicroTime(t0.Add(time.Minute))}
		}), "NoValidBackends", "", 7, t0.Add(time.Minute)},
		{"unlisted reason, creation time only", warningEvent("e", "X", 0, func(e *corev1.Event) {
			e.CreationTimestamp = metav1.NewTime(t0)
		}), "X", "", 1, t0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, ok := WarningFromEvent(tc.ev)
			if !ok || w.EventReason() != tc.reason || w.Message != tc.msg || w.Count != tc.count || !w.Last.Equal(tc.last) {
				t.Errorf("WarningFromEvent = %+v, %v; want reason %q, message %q, count %d, last %v", w, ok, tc.reason, tc.msg, tc.count, tc.last)
			}
		})
	}
}
