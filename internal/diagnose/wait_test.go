package diagnose

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/config"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober"
)

func TestNextWait(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := time.Second
	for _, c := range []struct {
		name  string
		round int
		left  time.Duration
		pause time.Duration
		ok    bool
	}{
		{"first round", 1, 5 * time.Minute, 1 * s, true},
		{"doubles", 2, 5 * time.Minute, 2 * s, true},
		{"doubles again", 4, 5 * time.Minute, 8 * s, true},
		{"capped", 5, 5 * time.Minute, 15 * s, true},
		{"stays capped", 40, 5 * time.Minute, 15 * s, true},
		{"shortened to leave the last round its second", 3, 3 * s, 2 * s, true},
		{"no room for another round", 1, s, 0, false},
		{"deadline passed", 1, -s, 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			pause, ok := NextWait(c.round, now, now.Add(c.left))
			if pause != c.pause || ok != c.ok {
				t.Errorf("NextWait(%d, deadline in %s) = %s, %t; want %s, %t", c.round, c.left, pause, ok, c.pause, c.ok)
			}
		})
	}
}

// fakeClock is Wait's clock: After moves time on at once, so a table of
// waits runs without sleeping.
type fakeClock struct {
	now    time.Time
	pauses []time.Duration
}

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.pauses = append(c.pauses, d)
	c.now = c.now.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

func TestWait(t *testing.T) {
	s := time.Second
	fail := []WaitFailure{{Hostname: "k8s.tail1.ts.net", Vantage: "direct", Reason: "tls_handshake_timeout"}}
	for _, c := range []struct {
		name      string
		wait      time.Duration
		roundTime time.Duration // each round takes this long
		failing   int           // rounds that fail before one works; -1: all fail
		cancelIn  int           // the round during which ctx ends; 0: never
		cancelGap bool          // ctx ends during the pause after cancelIn instead
		outcome   WaitOutcome
		rounds    int
		pauses    []time.Duration
	}{
		{name: "works at once", wait: 5 * time.Minute, outcome: WaitWorked, rounds: 1},
		{name: "works in the third round", wait: 5 * time.Minute, failing: 2, outcome: WaitWorked, rounds: 3, pauses: []time.Duration{s, 2 * s}},
		{name: "never works", wait: 10 * s, failing: -1, outcome: WaitTimedOut, rounds: 5, pauses: []time.Duration{s, 2 * s, 4 * s, 2 * s}},
		{name: "backoff capped at 15s", wait: time.Minute, failing: -1, outcome: WaitTimedOut, rounds: 8,
			pauses: []time.Duration{s, 2 * s, 4 * s, 8 * s, 15 * s, 15 * s, 14 * s}},
		{name: "slow rounds", wait: 5 * s, roundTime: 3 * s, failing: -1, outcome: WaitTimedOut, rounds: 2, pauses: []time.Duration{s}},
		{name: "shorter than a round: one try", wait: 500 * time.Millisecond, failing: -1, outcome: WaitTimedOut, rounds: 1},
		{name: "works in the last round", wait: 10 * s, failing: 4, outcome: WaitWorked, rounds: 5, pauses: []time.Duration{s, 2 * s, 4 * s, 2 * s}},
		{name: "signal during a round", wait: 5 * time.Minute, failing: -1, cancelIn: 2, outcome: WaitAborted, rounds: 2, pauses: []time.Duration{s}},
		{name: "signal during a pause", wait: 5 * time.Minute, failing: -1, cancelIn: 2, cancelGap: true, outcome: WaitAborted, rounds: 2, pauses: []time.Duration{s, 2 * s}},
	} {
		t.Run(c.name, func(t *testing.T) {
			clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			after := clock.After
			if c.cancelGap {
				after = func(d time.Duration) <-chan time.Time {
					ch := clock.After(d)
					if len(clock.pauses) == c.cancelIn {
						cancel()
						return nil // never fires: only ctx ends the pause
					}
					return ch
				}
			}
			rounds := 0
			var lines []WaitRound
			res := Wait(ctx, WaitOptions{
				Deadline: clock.now.Add(c.wait),
				Now:      clock.Now,
				After:    after,
				Progress: func(r WaitRound) { lines = append(lines, r) },
				Round: func(context.Context) []WaitFailure {
					rounds++
					if rounds > 100 {
						t.Fatal("more than 100 rounds")
					}
					clock.now = clock.now.Add(c.roundTime)
					if rounds == c.cancelIn && !c.cancelGap {
						cancel()
					}
					if c.failing < 0 || rounds <= c.failing {
						return fail
					}
					return nil
				},
			})
			if res.Outcome != c.outcome || rounds != c.rounds || res.Last.Number != c.rounds {
				t.Errorf("outcome %d after %d rounds (last %d), want %d after %d", res.Outcome, rounds, res.Last.Number, c.outcome, c.rounds)
			}
			if !reflect.DeepEqual(clock.pauses, c.pauses) {
				t.Errorf("pauses %v, want %v", clock.pauses, c.pauses)
			}
			// One progress line per finished round; an aborted round has none.
			wantLines := c.rounds
			if c.outcome == WaitAborted && !c.cancelGap {
				wantLines--
			}
			if len(lines) != wantLines {
				t.Errorf("%d progress lines, want %d", len(lines), wantLines)
			}
			if c.outcome == WaitWorked && len(res.Last.Failures) != 0 {
				t.Errorf("worked, but the last round has failures %v", res.Last.Failures)
			}
		})
	}
}

func TestWaitRoundLine(t *testing.T) {
	f := func(h string) WaitFailure {
		return WaitFailure{Hostname: h, Vantage: "direct", Reason: "connect_refused"}
	}
	for _, c := range []struct {
		round WaitRound
		want  string
	}{
		{WaitRound{Number: 1, Elapsed: 20 * time.Millisecond}, "round 1 (0s): all work"},
		{WaitRound{Number: 2, Elapsed: 1500 * time.Millisecond, Failures: []WaitFailure{f("a.ts.net"), {Hostname: "k8s", Reason: "no FQDN to probe yet"}}, Pause: 2 * time.Second},
			"round 2 (1.5s): a.ts.net (direct): connect_refused; k8s: no FQDN to probe yet; next try in 2s"},
		{WaitRound{Number: 9, Elapsed: time.Minute, Failures: []WaitFailure{f("a"), f("b"), f("c"), f("d"), f("e")}},
			"round 9 (1m0s): a (direct): connect_refused; b (direct): connect_refused; c (direct): connect_refused; and 2 more; no time left for another try"},
	} {
		if got := c.round.Line(); got != c.want {
			t.Errorf("Line() = %q\nwant      %q", got, c.want)
		}
	}
}

// TestProbeRound: without a cluster, names are probed as given (a first
// label too, as Gather does: MagicDNS may resolve it), from every vantage
// the probe function serves.
func TestProbeRound(t *testing.T) {
	probe := func(_ context.Context, hostname, vantage string) (prober.Result, bool) {
		if vantage != config.VantageDirect {
			return prober.Result{}, false // no tailnet vantage configured
		}
		if hostname == "up.tail1.ts.net" {
			return prober.Result{Success: true}, true
		}
		return prober.Result{Reason: prober.ReasonTLSHandshakeTimeout}, true
	}
	round := ProbeRound(GatherOptions{Hostnames: []string{"up.tail1.ts.net", "down.tail1.ts.net", "k8s"}, Probe: probe})
	got := round(context.Background())
	want := []WaitFailure{
		{Hostname: "down.tail1.ts.net", Vantage: "direct", Reason: "tls_handshake_timeout"},
		{Hostname: "k8s", Vantage: "direct", Reason: "tls_handshake_timeout"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round = %v, want %v", got, want)
	}
	if line := (WaitRound{Number: 1, Failures: got}).Line(); !strings.Contains(line, "down.tail1.ts.net (direct): tls_handshake_timeout") {
		t.Errorf("progress line %q does not name the failing endpoint and reason", line)
	}
}
