package logs

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/kubetest"
)

// BenchmarkFollow500Pods follows the proxy logs of 100 and then 500 pods
// at once through the test API server and reports:
//   - heap-B/stream: heap held per open stream once every stream has
//     carried lines (after GC). The fake kubelet runs in this process, so
//     its side of each stream (an HTTP/1.1 server connection) is included.
//   - goroutines/stream.
//   - apiserver-RSS-B/stream: growth of kube-apiserver's resident memory.
//   - cpu-ms/1000lines: user+system CPU of this process (followers, client
//     transport and the fake kubelet; kube-apiserver is another process)
//     per 1,000 lines appended and counted.
func BenchmarkFollow500Pods(b *testing.B) {
	c := kubetest.Start(b, kubetest.Options{})
	e := newKubeEnv(b, c)
	targets := make([]FollowTarget, 500)
	for i := range targets {
		targets[i] = e.pod(b, fmt.Sprintf("ts-bench-%03d", i))
	}
	for _, n := range []int{100, 500} {
		b.Run(fmt.Sprintf("pods=%d", n), func(b *testing.B) { benchFollow(b, c, e, targets[:n]) })
	}
}

func benchFollow(b *testing.B, c *kubetest.Cluster, e *kubeEnv, targets []FollowTarget) {
	// Streams of an earlier run end asynchronously.
	deadline := time.Now().Add(kubeWait)
	for e.kubelet.OpenStreams() != 0 {
		if time.Now().After(deadline) {
			b.Fatalf("%d log streams of an earlier run still open", e.kubelet.OpenStreams())
		}
		time.Sleep(10 * time.Millisecond)
	}
	client, _ := newClient(b, c.RESTConfig(c.AdminToken))
	p, ctx := startPodLogs(b, client, log.NewNopLogger())
	n := len(targets)

	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	g0 := runtime.NumGoroutine()
	kas0, _ := c.RSS()

	p.Sync(ctx, targets)
	e.kubelet.WaitOpenStreams(b, n, 2*kubeWait)
	var w truth
	rng := rand.New(rand.NewPCG(5, 6))
	batch := make([]string, 20)
	for i := range batch {
		batch[i] = w.next(rng)
	}
	counted := uint64(0)
	round := func() {
		for _, tgt := range targets {
			e.append(tgt, batch...)
		}
		counted += uint64(n * len(batch))
		waitCounted(b, p.Counters, counted)
	}
	round() // every stream has carried lines: its buffers exist

	runtime.GC()
	runtime.ReadMemStats(&m1)
	kas1, _ := c.RSS()
	heap := float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc)) / float64(n)
	goroutines := float64(runtime.NumGoroutine()-g0) / float64(n)
	kasRSS := float64(kas1-kas0) / float64(n)

	start := counted
	cpu0 := cpuTime(b)
	for b.Loop() {
		round()
	}
	cpu := cpuTime(b) - cpu0
	// After the loop: b.Loop's timer reset drops metrics reported before.
	b.ReportMetric(cpu.Seconds()*1e3/(float64(counted-start)/1000), "cpu-ms/1000lines")
	b.ReportMetric(heap, "heap-B/stream")
	b.ReportMetric(goroutines, "goroutines/stream")
	b.ReportMetric(kasRSS, "apiserver-RSS-B/stream")
}

// waitCounted waits until the streams of c counted want lines in all.
func waitCounted(b *testing.B, c *Counters, want uint64) {
	b.Helper()
	deadline := time.Now().Add(kubeWait)
	for {
		var got uint64
		c.mu.Lock()
		for _, s := range c.streams {
			got += s.lines.Load()
		}
		c.mu.Unlock()
		if got >= want {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("counted %d lines, appended %d", got, want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// cpuTime is the user and system CPU time of this process so far.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
