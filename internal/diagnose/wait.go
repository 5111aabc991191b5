package diagnose

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/prober"
)

// Waiting for endpoints to work, for deploy pipelines that would otherwise
// retry curl: rounds of probes with a bounded backoff between them.
const (
	// WaitFirstBackoff is the pause after the first failed round; it
	// doubles every round up to WaitMaxBackoff.
	WaitFirstBackoff = time.Second
	WaitMaxBackoff   = 15 * time.Second
	// WaitLastRound is the time the last round gets before the deadline:
	// a round that would start later could not finish a handshake.
	WaitLastRound = time.Second
	// waitLookupTimeout bounds each round's look-up in the cluster.
	waitLookupTimeout = 10 * time.Second
)

// NextWait is how long to pause after the failed round number round
// (1-based) at now, before the deadline. ok is false when no further
// round fits: it would start less than WaitLastRound before the deadline.
// The pause never reaches past deadline-WaitLastRound, so the last round
// still has time to succeed.
func NextWait(round int, now, deadline time.Time) (pause time.Duration, ok bool) {
	left := deadline.Sub(now) - WaitLastRound
	if left <= 0 {
		return 0, false
	}
	pause = WaitMaxBackoff
	if round >= 1 && round <= 4 { // 1s, 2s, 4s, 8s, then the cap
		pause = WaitFirstBackoff << (round - 1)
	}
	return min(pause, left), true
}

// WaitFailure is one endpoint that did not work from one vantage in a
// round. Vantage is "" when the endpoint could not be probed at all.
type WaitFailure struct {
	Hostname string
	Vantage  string
	Reason   string
}

func (f WaitFailure) String() string {
	if f.Vantage == "" {
		return f.Hostname + ": " + f.Reason
	}
	return f.Hostname + " (" + f.Vantage + "): " + f.Reason
}

// WaitRound is the outcome of one round, for progress lines.
type WaitRound struct {
	Number   int
	Elapsed  time.Duration
	Failures []WaitFailure // empty: every endpoint worked
	Pause    time.Duration // until the next round; 0: none follows
}

// Line is the round's one-line progress report: which endpoints still
// fail and why (the first few of them), and when the next round starts.
func (r WaitRound) Line() string {
	const shown = 3
	var b strings.Builder
	fmt.Fprintf(&b, "round %d (%s): ", r.Number, r.Elapsed.Round(100*time.Millisecond))
	if len(r.Failures) == 0 {
		b.WriteString("all work")
		return b.String()
	}
	for i, f := range r.Failures[:min(len(r.Failures), shown)] {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.String())
	}
	if n := len(r.Failures) - shown; n > 0 {
		fmt.Fprintf(&b, "; and %d more", n)
	}
	if r.Pause > 0 {
		fmt.Fprintf(&b, "; next try in %s", r.Pause.Round(100*time.Millisecond))
	} else {
		b.WriteString("; no time left for another try")
	}
	return b.String()
}

// WaitOutcome says how a wait ended.
type WaitOutcome int

const (
	WaitWorked   WaitOutcome = iota // a round found every endpoint working
	WaitTimedOut                    // the deadline came first
	WaitAborted                     // ctx ended (a signal)
)

// WaitOptions configures Wait. Now and After are the clock, injectable
// for tests; default time.Now and time.After.
type WaitOptions struct {
	Deadline time.Time
	// Round probes every endpoint once; ctx ends at the deadline.
	Round    func(ctx context.Context) []WaitFailure
	Progress func(WaitRound)
	Now      func() time.Time
	After    func(time.Duration) <-chan time.Time
}

// WaitResult is how a wait ended and its last round.
type WaitResult struct {
	Outcome WaitOutcome
	Last    WaitRound
}

// Wait runs rounds until one finds every endpoint working, the deadline
// passes or ctx ends. Every round's probes end at the deadline; the
// number of rounds is bounded by the deadline and the backoff.
func Wait(ctx context.Context, opts WaitOptions) WaitResult {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.After == nil {
		opts.After = time.After
	}
	start := opts.Now()
	for n := 1; ; n++ {
		rctx, cancel := context.WithDeadline(ctx, opts.Deadline)
		failures := opts.Round(rctx)
		cancel()
		if ctx.Err() != nil {
			return WaitResult{Outcome: WaitAborted, Last: WaitRound{Number: n, Elapsed: opts.Now().Sub(start), Failures: failures}}
		}
		now := opts.Now()
		r := WaitRound{Number: n, Elapsed: now.Sub(start), Failures: failures}
		if len(failures) == 0 {
			report(opts.Progress, r)
			return WaitResult{Outcome: WaitWorked, Last: r}
		}
		pause, more := NextWait(n, now, opts.Deadline)
		r.Pause = pause
		report(opts.Progress, r)
		if !more {
			return WaitResult{Outcome: WaitTimedOut, Last: r}
		}
		select {
		case <-opts.After(pause):
		case <-ctx.Done():
			return WaitResult{Outcome: WaitAborted, Last: r}
		}
	}
}

func report(progress func(WaitRound), r WaitRound) {
	if progress != nil {
		progress(r)
	}
}

// ProbeRound returns the Round function of a wait for opts.Hostnames: each
// round looks the names up as Gather does (in the cluster when there is
// one, so an endpoint provisioned while waiting is found) and probes each
// from every vantage Gather probes, with the same ProbeFunc.
func ProbeRound(opts GatherOptions) func(ctx context.Context) []WaitFailure {
	opts = opts.withDefaults()
	return func(ctx context.Context) []WaitFailure {
		var all []EndpointEvidence
		if opts.Client != nil {
			// A hung API server must not eat the whole wait: names it
			// cannot look up are probed as given.
			sctx, cancel := context.WithTimeout(ctx, waitLookupTimeout)
			g := &gatherer{opts: opts, client: opts.Client, now: opts.Now()}
			g.snapshot(sctx)
			cancel()
			all = selectEndpoints(g.snap.Endpoints, opts.Hostnames)
		} else {
			all = selectEndpoints(nil, opts.Hostnames)
		}
		failures := make([][]WaitFailure, len(all))
		var wg sync.WaitGroup
		sem := make(chan struct{}, parallelism)
		for i := range all {
			name, ok := probeTarget(&all[i])
			if !ok {
				failures[i] = []WaitFailure{{Hostname: all[i].Hostname, Reason: "no FQDN to probe yet"}}
				continue
			}
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				failures[i] = probeFailures(name, probeAll(ctx, opts.Probe, name))
			})
		}
		wg.Wait()
		var out []WaitFailure
		for _, f := range failures {
			out = append(out, f...)
		}
		return out
	}
}

// probeFailures lists the vantages whose probe of name failed, in Gather's
// vantage order; no probe at all is a failure too.
func probeFailures(name string, probes map[string]prober.Result) []WaitFailure {
	if len(probes) == 0 {
		return []WaitFailure{{Hostname: name, Reason: "not probed"}}
	}
	var out []WaitFailure
	for _, v := range probeVantages {
		if res, ok := probes[v]; ok && !res.Success {
			out = append(out, WaitFailure{Hostname: name, Vantage: v, Reason: string(res.Reason)})
		}
	}
	return out
}
