// Package testwait waits in tests for a condition another goroutine makes
// true, bounded in time, instead of sleeping a guessed duration.
package testwait

import (
	"testing"
	"time"
)

// poll is short: conditions are cheap and tests wait on each other's work.
const poll = 5 * time.Millisecond

// Until polls cond until it holds, or fails the test after timeout with
// what() (called only then, so it can describe the state at that moment).
func Until(t testing.TB, timeout time.Duration, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what())
			return // Fatalf ends the test's goroutine; a recording TB's does not
		}
		<-tick.C
	}
}

// For is Until with a fixed description of what was awaited.
func For(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	Until(t, timeout, func() string { return "timed out waiting for " + what }, cond)
}
