package discovery

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/kubernetes/fake"
)

// syncedDiscovery runs a Discovery over a fake clientset holding n provisioned
// Ingresses with a proxy pod each, and waits for its caches.
func syncedDiscovery(tb testing.TB, n int) *Discovery {
	tb.Helper()
	d := New(fake.NewClientset(scaleObjects(n)...), Options{})
	runSynced(tb, d)
	return d
}

// runSynced runs d until the test ends and waits for its caches.
func runSynced(tb testing.TB, d *Discovery) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = d.Run(ctx); close(done) }()
	tb.Cleanup(func() { cancel(); <-done })
	wctx, wcancel := context.WithTimeout(ctx, waitTimeout)
	defer wcancel()
	if !d.WaitForSync(wctx) {
		tb.Fatal("caches did not sync")
	}
}

// BenchmarkCollect measures one scrape of the discovery collector; the
// objects=100 case is the baseline that objects=1000 scales from.
func BenchmarkCollect(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("objects=%d", n), func(b *testing.B) {
			d := syncedDiscovery(b, n)
			ch := make(chan prometheus.Metric, 1024)
			done := make(chan int)
			go func() {
				count := 0
				for range ch {
					count++
				}
				done <- count
			}()
			b.ReportAllocs()
			for b.Loop() {
				_ = d.Update(ch)
			}
			close(ch)
			b.ReportMetric(float64(<-done)/float64(b.N), "metrics/op")
		})
	}
}

// BenchmarkInformerMemory reports the heap the informer caches hold for
// 1,000 Ingresses and 1,000 proxy pods, beyond what the fake clientset's own
// copies of them take.
func BenchmarkInformerMemory(b *testing.B) {
	const n = 1000
	for b.Loop() {
		b.StopTimer()
		client := fake.NewClientset(scaleObjects(n)...)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()

		d := New(client, Options{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = d.Run(ctx); close(done) }()
		if !d.WaitForSync(context.Background()) {
			b.Fatal("caches did not sync")
		}

		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), "MiB-cached")
		runtime.KeepAlive(d)
		cancel()
		<-done
		b.StartTimer()
	}
}
