package testwait

import (
	"sync/atomic"
	"testing"
	"time"
)

// recorder is a testing.TB whose Fatalf records instead of stopping the
// real test, so a timeout can be checked.
type recorder struct {
	testing.TB
	msg string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.msg = format
	if len(args) > 0 {
		r.msg = args[len(args)-1].(string)
	}
}

func TestForReturnsOnceTrue(t *testing.T) {
	var n atomic.Int32
	go func() {
		for range 3 {
			n.Add(1)
		}
	}()
	For(t, 5*time.Second, "three increments", func() bool { return n.Load() == 3 })
}

func TestUntilTimesOutWithWhat(t *testing.T) {
	r := &recorder{TB: t}
	start := time.Now()
	Until(r, 50*time.Millisecond, func() string { return "state: never" }, func() bool { return false })
	if r.msg != "state: never" {
		t.Errorf("Fatalf message = %q, want the what() text", r.msg)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("gave up after %v, before the timeout", d)
	}
}
