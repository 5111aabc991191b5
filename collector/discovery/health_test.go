package discovery

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-kit/log"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ErrorKind is kubeapi.Classify (tested there) with the reflector's
// wrapping and one exception: no 404 comes from a list or watch.
func TestErrorKind(t *testing.T) {
	ingresses := schema.GroupResource{Group: "networking.k8s.io", Resource: "ingresses"}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"forbidden wrapped by the reflector",
			fmt.Errorf("failed to list *v1.Ingress: %w", &callError{"list", apierrors.NewForbidden(ingresses, "", errors.New("no"))}),
			ErrorForbidden},
		{"connection refused", &url.Error{Op: "Get", URL: "https://127.0.0.1:6443",
			Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}, ErrorUnreachable},
		{"gone", apierrors.NewGone("too old resource version"), ErrorGone},
		{"not found", apierrors.NewNotFound(ingresses, ""), ErrorOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ErrorKind(tt.err); got != tt.want {
				t.Errorf("ErrorKind(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

// syncBuffer is a log sink safe for the informers' goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// linesWith returns the log lines containing every one of subs.
func (b *syncBuffer) linesWith(subs ...string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for l := range strings.Lines(b.buf.String()) {
		all := true
		for _, s := range subs {
			all = all && strings.Contains(l, s)
		}
		if all {
			out = append(out, l)
		}
	}
	return out
}

func TestHealthLogsStateChangesOnly(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Group: "networking.k8s.io", Resource: "ingresses"}, "",
		errors.New(`User "system:serviceaccount:monitoring:exporter" cannot list resource "ingresses"`))
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	ings := stream{ResourceIngresses, "apps", ""}
	svcs := stream{ResourceServices, "apps", ""}
	type call struct {
		s    stream
		verb string
		err  error // nil: success
	}
	tests := []struct {
		name      string
		calls     []call
		wantLines [][]string // substrings each expected line holds, in order
		failing   bool
		errors    map[[2]string]float64
	}{
		{
			name:      "repeated forbidden logs once, naming verb, resource and namespace",
			calls:     []call{{ings, "list", forbidden}, {ings, "list", forbidden}, {ings, "list", forbidden}},
			wantLines: [][]string{{"level=error", "verb=list", "resource=ingresses", "namespace=apps", "kind=forbidden"}},
			failing:   true,
			errors:    map[[2]string]float64{{ResourceIngresses, ErrorForbidden}: 3},
		},
		{
			name:  "recovery is logged once, then a new failure again",
			calls: []call{{ings, "watch", refused}, {ings, "watch", refused}, {ings, "list", nil}, {ings, "list", nil}, {ings, "watch", refused}},
			wantLines: [][]string{
				{"level=warn", "verb=watch", "resource=ingresses", "kind=unreachable"},
				{"level=info", "recovered", "resource=ingresses", "after=unreachable"},
				{"level=warn", "verb=watch", "resource=ingresses", "kind=unreachable"},
			},
			failing: true,
			errors:  map[[2]string]float64{{ResourceIngresses, ErrorUnreachable}: 3},
		},
		{
			name:      "a change of kind is logged",
			calls:     []call{{ings, "list", refused}, {ings, "list", forbidden}},
			wantLines: [][]string{{"kind=unreachable"}, {"kind=forbidden"}},
			failing:   true,
			errors:    map[[2]string]float64{{ResourceIngresses, ErrorUnreachable}: 1, {ResourceIngresses, ErrorForbidden}: 1},
		},
		{
			name:    "gone is counted, not logged, not failing",
			calls:   []call{{svcs, "watch", apierrors.NewGone("too old")}},
			errors:  map[[2]string]float64{{ResourceServices, ErrorGone}: 1},
			failing: false,
		},
		{
			name: "an allowed list does not end a forbidden watch: no flapping",
			calls: []call{{svcs, "watch", forbidden}, {svcs, "list", nil}, {svcs, "watch", forbidden},
				{svcs, "list", nil}, {svcs, "watch", forbidden}},
			wantLines: [][]string{{"level=error", "verb=watch", "resource=services", "kind=forbidden"}},
			failing:   true,
			errors:    map[[2]string]float64{{ResourceServices, ErrorForbidden}: 3},
		},
		{
			name:  "an allowed watch ends a forbidden watch",
			calls: []call{{svcs, "watch", forbidden}, {svcs, "list", nil}, {svcs, "watch", nil}},
			wantLines: [][]string{
				{"level=error", "verb=watch", "kind=forbidden"},
				{"level=info", "recovered", "verb=watch", "resource=services", "after=forbidden"},
			},
			errors: map[[2]string]float64{{ResourceServices, ErrorForbidden}: 1},
		},
		{
			name:      "one failing resource does not hide another's recovery",
			calls:     []call{{ings, "list", forbidden}, {svcs, "list", refused}, {svcs, "list", nil}},
			wantLines: [][]string{{"resource=ingresses"}, {"resource=services", "kind=unreachable"}, {"resource=services", "recovered"}},
			failing:   true,
			errors:    map[[2]string]float64{{ResourceIngresses, ErrorForbidden}: 1, {ResourceServices, ErrorUnreachable}: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf syncBuffer
			clock := time.Unix(1700000000, 0)
			h := newHealth(log.NewLogfmtLogger(&buf), func() time.Time { clock = clock.Add(time.Second); return clock })
			for _, c := range tt.calls {
				if c.err == nil {
					h.ok(c.s, c.verb)
				} else {
					h.failed(c.s, c.verb, c.err)
				}
			}
			got := buf.linesWith()
			if len(got) != len(tt.wantLines) {
				t.Fatalf("got %d log lines, want %d:\n%s", len(got), len(tt.wantLines), strings.Join(got, ""))
			}
			for i, subs := range tt.wantLines {
				for _, s := range subs {
					if !strings.Contains(got[i], s) {
						t.Errorf("log line %d %q lacks %q", i, got[i], s)
					}
				}
			}
			if failing := len(h.failures()) > 0; failing != tt.failing {
				t.Errorf("failing = %v, want %v (%v)", failing, tt.failing, h.failures())
			}
			for _, r := range resources {
				for _, k := range ErrorKinds {
					if got, want := h.errorCount(r, k), tt.errors[[2]string{r, k}]; got != want {
						t.Errorf("errors{%s,%s} = %v, want %v", r, k, got, want)
					}
				}
			}
		})
	}
}
