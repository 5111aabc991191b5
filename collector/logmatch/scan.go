package logmatch

// On amd64, Match first hands a line to scanUsual, a kernel in assembly
// that does the fast path's work with vector compares (SSE2, or AVX2 where
// the CPU has it): it checks the usual timestamps, then finds the spaces,
// colons and anchors' first two bytes in the message's first 32 or 64 bytes
// as bit masks. The "component: " prefix chain is then bit arithmetic,
// where the Go code needs a load per prefix that waits for the one before.
// It decides on the same argument as the Go fast path, from the same shapes
// and anchors; what it cannot decide goes to the Go code, which is also the
// fast path on other architectures and with the purego build tag.

// What scanUsual says about a line.
const (
	scanNone      = 0 // no built-in event: builtin(message(line)) is KindNone
	scanMaybe     = 1 // an anchor where builtin looks: the exact path decides
	scanUndecided = 2 // not a usual line or not decidable here: the Go fast path decides
)

// scanMinLen is the shortest line scanUsual reads: a Kubernetes timestamp
// and a Go log timestamp.
const scanMinLen = len(kubeUsualShape) + len(goLogUsualShape)

// looseShape16 is looseShape8 for 16 bytes, as vectors: a line's bytes
// ANDed with mask equal val.
type looseShape16 struct{ mask, val [16]byte }

func newLooseShape16(t string) looseShape16 {
	var s looseShape16
	for i := range 16 {
		s.mask[i], s.val[i] = looseByte(t[i])
	}
	return s
}

// scanTable is what scanUsual compares with. Its layout is the kernel's:
// scan_amd64.s reads it at fixed offsets, which TestScanTableLayout checks.
type scanTable struct {
	kube   [2]looseShape16 // bytes 0-15 and 15-30 of kubeUsualShape
	goLog  [2]looseShape16 // bytes 0-15 and 4-19 of goLogUsualShape
	space  [16]byte
	colon  [16]byte
	anchor [len(anchors)][16]byte // an anchor's first two bytes, eight times
	avx2   bool                   // 32 bytes at a time: set where the CPU has AVX2
}

var scanK = newScanTable()

func newScanTable() *scanTable {
	t := &scanTable{
		kube:  [2]looseShape16{newLooseShape16(kubeUsualShape[0:16]), newLooseShape16(kubeUsualShape[15:31])},
		goLog: [2]looseShape16{newLooseShape16(goLogUsualShape[0:16]), newLooseShape16(goLogUsualShape[4:20])},
	}
	for i := range 16 {
		t.space[i], t.colon[i] = ' ', ':'
	}
	for k, a := range anchors {
		for i := 0; i < 16; i += 2 {
			t.anchor[k][i], t.anchor[k][i+1] = a[0], a[1]
		}
	}
	return t
}
