package logmatch

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

var updateCorpus = flag.Bool("update-corpus", false, "write the FuzzMatch seed corpus from builtinCases")

// fuzzMatcher has signatures with and without a literal prefilter, and one
// anchored at the message start, so the prefix invariants cover them too.
func fuzzMatcher(t testing.TB) *Matcher {
	m, err := New([]Signature{
		{Name: "refused", Pattern: `connection refused`},
		{Name: "anchored_boot", Pattern: `^boot: .*error`},
		{Name: "folded", Pattern: `(?i)funnel`},
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func FuzzMatch(f *testing.F) {
	for _, tc := range builtinCases {
		f.Add([]byte(tc.line))
	}
	m := fuzzMatcher(f)
	f.Fuzz(func(t *testing.T, line []byte) {
		ev, ok := m.Match(line)
		if ok != (ev.Kind != KindNone) {
			t.Fatalf("ok %v for %+v", ok, ev)
		}
		checkEventInvariants(t, ev, len(m.Signatures()))

		// The Kubernetes timestamp never changes the event, unless the line
		// already starts with one (then a custom pattern sees another message).
		if kubeTimestampLen(line) == 0 {
			with, _ := m.Match(append([]byte("2026-11-24T09:32:16.123456789Z "), line...))
			if with != ev {
				t.Fatalf("with k8s timestamp %+v, without %+v", with, ev)
			}
		}
		if nl, _ := m.Match(append(line[:len(line):len(line)], '\r', '\n')); nl != ev {
			t.Fatalf("with CRLF %+v, without %+v", nl, ev)
		}
	})
}

func checkEventInvariants(t *testing.T, ev Event, nsigs int) {
	t.Helper()
	if ev.Kind >= numKinds || ev.Reason >= numReasons || ev.Protocol >= numProtocols ||
		ev.Family >= numFamilies || ev.DstFamily >= numFamilies || ev.Port >= numPortClasses || ev.TLSCause >= numTLSCauses {
		t.Fatalf("value outside its enumeration: %+v", ev)
	}
	if ev.Custom>>uint(nsigs) != 0 {
		t.Fatalf("custom set %b has bits beyond %d signatures", ev.Custom, nsigs)
	}
	packet := ev.Kind == KindDrop || ev.Kind == KindAccept
	if packet != (ev.Protocol != ProtocolNone) || packet != (ev.Port != PortNone) || (!packet && ev.Length != 0) {
		t.Fatalf("packet fields do not fit kind: %+v", ev)
	}
	if packet && (ev.Port != portClass(int(ev.DstPort)) || ev.DstFamily == FamilyNone || ev.DstFamily == FamilyUnknown) {
		t.Fatalf("destination does not fit port class: %+v", ev)
	}
	if ev.InferredPeerAPIPort != 0 && (!packet || ev.InferredPeerAPIPort < 32768) {
		t.Fatalf("inferred peer API port %d: %+v", ev.InferredPeerAPIPort, ev)
	}
	serving := ev.Kind == KindPeerAPIServing
	if serving && (ev.DstPort == 0 || ev.DstFamily == FamilyNone || ev.DstFamily == FamilyUnknown) {
		t.Fatalf("serving line without address: %+v", ev)
	}
	if !packet && !serving && (ev.DstFamily != FamilyNone || ev.DstPort != 0) {
		t.Fatalf("destination does not fit kind: %+v", ev)
	}
	if (ev.Version != Version{}) && ev.Kind != KindProgramStarting {
		t.Fatalf("version does not fit kind: %+v", ev)
	}
	if (ev.Kind == KindDrop) != (ev.Reason != ReasonNone) {
		t.Fatalf("reason does not fit kind: %+v", ev)
	}
	hasAddr := packet || ev.Kind == KindTLSHandshakeError || ev.Kind == KindIngressDenied
	if hasAddr != (ev.Family != FamilyNone) || (ev.Family == FamilyUnknown && ev.Kind != KindTLSHandshakeError) {
		t.Fatalf("family does not fit kind: %+v", ev)
	}
	if (ev.Kind == KindTLSHandshakeError) != (ev.TLSCause != TLSCauseNone) {
		t.Fatalf("TLS cause does not fit kind: %+v", ev)
	}
	if ev.Kind != KindRateLimit && (ev.Suppressed != 0 || ev.FilterFormat) {
		t.Fatalf("rate limit fields do not fit kind: %+v", ev)
	}
	if (ev.Kind == KindCustom) && ev.Custom == 0 {
		t.Fatalf("custom kind without signatures: %+v", ev)
	}

	// Every packet has a class; nothing else has one.
	for _, learned := range []PeerAPIPorts{{}, {IPv4: ev.DstPort, IPv6: ev.DstPort}} {
		class, source := Classify(ev, learned)
		if packet != (class != DropClassNone) || class >= numDropClasses || source >= numPortSources {
			t.Fatalf("Classify(%+v, %+v) = %v, %v", ev, learned, class, source)
		}
		if class == DropClassPeerAPI && (ev.Protocol != ProtocolTCP || source == PortSourceNone || source == PortSourceUnknown) {
			t.Fatalf("Classify(%+v, %+v) = %v, %v", ev, learned, class, source)
		}
	}
	k := ev.Key()
	if k.Key() != k || k.DstPort != 0 || k.InferredPeerAPIPort != 0 || k.Length != 0 || k.Custom != 0 || k.Suppressed != 0 {
		t.Fatalf("key %+v of %+v", k, ev)
	}
}

func FuzzAddrPort(f *testing.F) {
	for _, s := range addrSamples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkAddrPort(t, s)
	})
}

// FuzzLineReader checks that any chunking of any stream gives the lines of
// the obvious unbounded split.
func FuzzLineReader(f *testing.F) {
	f.Add([]byte("a\nbb\r\n\nccc"), uint8(2), []byte{1, 2, 3})
	f.Add([]byte("2026-11-24T09:32:16Z Drop: TCP{1.2.3.4:1 > 1.2.3.5:443} 60 no rules matched\n"), uint8(16), []byte{7})
	f.Add([]byte("\r\n\r\r\n\xff\x00\n"), uint8(1), []byte{0})
	f.Fuzz(func(t *testing.T, data []byte, max uint8, chunks []byte) {
		sizes := []int{len(data) + 1}
		if len(chunks) > 0 {
			sizes = sizes[:0]
			for _, c := range chunks {
				sizes = append(sizes, int(c)+1)
			}
		}
		limit := int(max) + 1
		got, err := readAll(t, NewLineReader(&chunkReader{data: data, sizes: sizes}, limit))
		if err != io.EOF {
			t.Fatalf("error %v", err)
		}
		if want := referenceSplit(data, limit); !equalLines(got, want) {
			t.Fatalf("got %q, want %q", got, want)
		}
	})
}

// TestSeedCorpus keeps testdata/fuzz/FuzzMatch in step with builtinCases,
// so `go test -fuzz` starts from every format variant (the committed files
// also run as regression tests without -fuzz).
func TestSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzMatch")
	for _, tc := range builtinCases {
		content := "go test fuzz v1\n[]byte(" + strconv.Quote(tc.line) + ")\n"
		name := filepath.Join(dir, fmt.Sprintf("seed-%x", sha256.Sum256([]byte(tc.line)))[:len(dir)+1+5+16])
		if *updateCorpus {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(name)
		if err != nil {
			t.Errorf("case %q has no seed file (run go test -run TestSeedCorpus -update-corpus): %v", tc.name, err)
			continue
		}
		if string(got) != content {
			t.Errorf("seed %s does not hold case %q", name, tc.name)
		}
	}
}
