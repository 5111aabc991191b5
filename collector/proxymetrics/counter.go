package proxymetrics

// Totals are a node's drop counters as the exporter exposes them:
// tailscaled's counts summed over its restarts, so that they never go down
// while the exporter runs. The first read carries tailscaled's count since
// it started (log counts start with the exporter): compare increases.
// The zero value has seen nothing.
type Totals struct {
	Drops // what is exposed; a counter once Seen stays Seen

	last Drops // the last read, raw
	read bool
}

// Observe takes a new read and reports whether it saw a reset: a counter
// lower than at the last read means tailscaled started again (a proxy
// restart), so the new count is all new drops. A restart between two reads
// after which a counter is back above its old value goes unnoticed and
// loses up to that old value, as rate() over a scraped counter would.
func (t *Totals) Observe(d Drops) (reset bool) {
	for dir := range numDirections {
		for r := range numReasons {
			now, before := d.Count[dir][r], t.last.Count[dir][r]
			switch {
			case !t.read:
				t.Count[dir][r] = now
			case now >= before:
				t.Count[dir][r] += now - before
			default:
				t.Count[dir][r] += now
				reset = true
			}
			t.Seen[dir][r] = t.Seen[dir][r] || d.Seen[dir][r]
		}
	}
	t.last, t.read = d, true
	return reset
}
