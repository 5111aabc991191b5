package logmatchtest

import (
	"testing"
	"time"
)

// Compare benchmarks pass, one pass over a corpus of lines lines and size
// bytes, against ref, the baseline's pass over the same corpus. ref runs
// after each pass with the timer stopped, so both see the same load on a
// shared machine and their ratio holds when absolute times do not. It
// reports ns/line, allocs/line (of pass) and, under refName, how many
// times faster pass is than ref; with a nil ref, only the first two.
func Compare(b *testing.B, lines int, size int64, pass, ref func(), refName string) {
	b.SetBytes(size)
	var refTime time.Duration
	for b.Loop() {
		pass()
		if ref != nil {
			b.StopTimer()
			start := time.Now()
			ref()
			refTime += time.Since(start)
			b.StartTimer()
		}
	}
	perLine := float64(b.Elapsed().Nanoseconds()) / float64(b.N*lines)
	b.ReportMetric(perLine, "ns/line")
	b.ReportMetric(testing.AllocsPerRun(1, pass)/float64(lines), "allocs/line")
	if ref != nil {
		b.ReportMetric(float64(refTime.Nanoseconds())/float64(b.N*lines)/perLine, refName)
	}
}
