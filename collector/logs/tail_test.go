package logs

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/collector/logmatch"
	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/kubetest"
)

// Lines of a proxy log as tailscaled writes them, and their events.
const (
	tailDrop6 = "2026/11/24 09:32:16 Drop: TCP{[fd7a:115c:a1e0::1]:46650 > [fd7a:115c:a1e0::2]:443} 80 no rules matched"
	tailDrop4 = "2026/11/24 09:32:16 Drop: TCP{100.64.0.1:65076 > 100.64.0.2:443} 60 no rules matched"
	tailTLS   = "2026/11/24 09:32:17 http: TLS handshake error from [fd7a:115c:a1e0::9]:46098: EOF"
	tailRL    = `2026/11/24 09:32:18 [RATELIMIT] format("%s: %s %d %s\n%s") (8 dropped)`
	tailOK    = "2026/11/24 09:32:19 Accept: TCP{100.64.0.1:40000 > 100.64.0.2:443} 60 tcp ok"
	tailOther = "2026/11/24 09:32:20 magicsock: derp-1 connected"
)

var (
	tailDrop6Event = logmatch.Event{Kind: logmatch.KindDrop, Reason: logmatch.ReasonNoRulesMatched, Protocol: logmatch.ProtocolTCP, Port: logmatch.Port443, Family: logmatch.FamilyIPv6}
	tailDrop4Event = logmatch.Event{Kind: logmatch.KindDrop, Reason: logmatch.ReasonNoRulesMatched, Protocol: logmatch.ProtocolTCP, Port: logmatch.Port443, Family: logmatch.FamilyIPv4}
	tailTLSEvent   = logmatch.Event{Kind: logmatch.KindTLSHandshakeError, Family: logmatch.FamilyIPv6, TLSCause: logmatch.TLSCauseEOF}
	tailRLEvent    = logmatch.Event{Kind: logmatch.KindRateLimit, FilterFormat: true}
	tailOKEvent    = logmatch.Event{Kind: logmatch.KindAccept, Protocol: logmatch.ProtocolTCP, Port: logmatch.Port443, Family: logmatch.FamilyIPv4}
)

const served = logmatch.DropClassServed

// parsed is the event a sample keeps for line: the matcher's whole parse,
// per-line numbers included (the parse itself is logmatch's to test).
func parsed(line string) logmatch.Event {
	ev, _ := (*logmatch.Matcher)(nil).Match([]byte(line))
	return ev
}

func sampleLines(s []Sample) []string {
	var out []string
	for _, x := range s {
		out = append(out, x.Line)
	}
	return out
}

func TestSamples(t *testing.T) {
	drop := logmatch.Event{Kind: logmatch.KindDrop}
	for _, tc := range []struct {
		name string
		keep func(s *Samples)
		want []string
	}{
		{"nothing", func(*Samples) {}, nil},
		{"first of each kind, then the latest, long lines cut", func(s *Samples) {
			for i := range 8 {
				s.Keep(drop, 0, 0, fmt.Appendf(nil, "drop %d", i))
			}
			s.Keep(logmatch.Event{Kind: logmatch.KindTLSHandshakeError}, 0, 0, []byte("tls"))
			s.Keep(drop, 0, 0, []byte(strings.Repeat("y", MaxSampleLength+10)))
		}, []string{"drop 0", "tls", "drop 6", "drop 7", strings.Repeat("y", MaxSampleLength) + "…"}},
		{"per-line numbers do not make a kind", func(s *Samples) {
			s.Keep(logmatch.Event{Kind: logmatch.KindDrop, Length: 60}, 0, 0, []byte("a"))
			s.Keep(logmatch.Event{Kind: logmatch.KindDrop, Length: 80}, 0, 0, []byte("b"))
			s.Keep(logmatch.Event{Kind: logmatch.KindRateLimit, Suppressed: 3}, 0, 0, []byte("c"))
			s.Keep(logmatch.Event{Kind: logmatch.KindRateLimit, Suppressed: 4}, 0, 0, []byte("d"))
		}, []string{"a", "c", "b", "d"}},
		{"accepts are no failure", func(s *Samples) {
			s.Keep(tailOKEvent, 0, 0, []byte(tailOK))
		}, nil},
		{"ports and destinations do not make a kind", func(s *Samples) {
			s.Keep(logmatch.Event{Kind: logmatch.KindDrop, DstFamily: logmatch.FamilyIPv6, DstPort: 36311, InferredPeerAPIPort: 36311}, 0, 0, []byte("a"))
			s.Keep(logmatch.Event{Kind: logmatch.KindDrop, DstFamily: logmatch.FamilyIPv4, DstPort: 22}, 0, 0, []byte("b"))
			s.Keep(logmatch.Event{Kind: logmatch.KindTLSHandshakeError}, 0, 0, []byte("c"))
		}, []string{"a", "c", "b"}},
		{"listener and version lines are no failure", func(s *Samples) {
			s.Keep(logmatch.Event{Kind: logmatch.KindProgramStarting, Version: logmatch.Version{Major: 1, Minor: 98, Patch: 10}}, 0, 0, []byte("v"))
			s.Keep(logmatch.Event{Kind: logmatch.KindPeerAPIServing, DstFamily: logmatch.FamilyIPv4, DstPort: 46590}, 0, 0, []byte("p"))
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Samples{Max: 5}
			tc.keep(s)
			if got := sampleLines(s.List()); !slices.Equal(got, tc.want) {
				t.Errorf("samples = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestSamplesRelay: the latest relay lines (peer-API drops and TLS
// errors from IPv6, ingress denials) are kept apart, so a flood of other
// drops does not push out the pairs a report matches.
func TestSamplesRelay(t *testing.T) {
	const relayDrop = "Drop: TCP{[fd7a:115c:a1e0::9]:46098 > [fd7a:115c:a1e0::2]:36311} 80 no rules matched"
	s := &Samples{Max: 2, Relay: 3}
	s.Keep(parsed(relayDrop), logmatch.DropClassPeerAPI, logmatch.PortSourceLearned, []byte(relayDrop))
	s.Keep(tailTLSEvent, 0, 0, []byte(tailTLS))
	for range 50 {
		s.Keep(parsed(tailDrop4), served, 0, []byte(tailDrop4))
		s.Keep(parsed(tailDrop6), served, 0, []byte(tailDrop6)) // IPv6 but a served port: a tailnet client
		s.Keep(parsed(relayDrop), logmatch.DropClassOther, logmatch.PortSourceLearned, []byte(relayDrop))
	}
	got := s.RelayList()
	want := []Sample{
		{Event: parsed(relayDrop), Class: logmatch.DropClassPeerAPI, Source: logmatch.PortSourceLearned, Line: relayDrop},
		{Event: tailTLSEvent, Line: tailTLS},
	}
	if !slices.Equal(got, want) {
		t.Errorf("relay samples = %+v\nwant %+v", got, want)
	}
	for range 3 {
		s.Keep(parsed(sampleDenied), 0, 0, []byte(sampleDenied))
	}
	if got := sampleLines(s.RelayList()); !slices.Equal(got, []string{sampleDenied, sampleDenied, sampleDenied}) {
		t.Errorf("relay samples once full = %q, want the latest three", got)
	}
}

const sampleDenied = "peerapi: ingress: denied; no ingress cap from [fd7a:115c:a1e0::9]:36338"

// TestSamplesKeepWithoutAllocating: once full, keeping a line reuses the
// buffers.
func TestSamplesKeepWithoutAllocating(t *testing.T) {
	s := &Samples{Max: 5, Relay: 5}
	line := []byte(tailDrop6)
	for range 20 {
		s.Keep(tailDrop6Event, 0, 0, line)
		s.Keep(tailTLSEvent, 0, 0, []byte(tailTLS))
	}
	if n := testing.AllocsPerRun(1000, func() { s.Keep(tailDrop6Event, 0, 0, line) }); n != 0 {
		t.Errorf("Keep allocates %.1f times per line once full, want 0", n)
	}
	tls := []byte(tailTLS)
	if n := testing.AllocsPerRun(1000, func() { s.Keep(tailTLSEvent, 0, 0, tls) }); n != 0 {
		t.Errorf("Keep allocates %.1f times per relay line once full, want 0", n)
	}
}

func TestLastLines(t *testing.T) {
	for _, c := range []struct {
		in      string
		n       int
		partial bool
		want    string
	}{
		{"a\nb\nc\n", 2, false, "b\nc\n"},
		{"a\nb\nc", 2, false, "b\nc"},
		{"a\nb\nc\n", 5, false, "a\nb\nc\n"},
		{"a\nb\nc\n", 1, false, "c\n"},
		{"", 3, false, ""},
		{"partial\nb\nc\n", 5, true, "b\nc\n"},
		{"no newline at all", 2, true, ""},
		{"a\nb\n", 0, false, ""},
	} {
		if got := lastLines([]byte(c.in), c.n, c.partial); string(got) != c.want {
			t.Errorf("lastLines(%q, %d, %v) = %q, want %q", c.in, c.n, c.partial, got, c.want)
		}
	}
}

// kubeStream renders lines as the API serves them with timestamps=true.
func kubeStream(at time.Time, lines ...string) string {
	var b strings.Builder
	for i, l := range lines {
		fmt.Fprintf(&b, "%s %s\n", at.Add(time.Duration(i)*time.Millisecond).UTC().Format(time.RFC3339Nano), l)
	}
	return b.String()
}

// TestTailRead: a tail goes through the Reader into Counters; every
// matched line is counted by its key, samples keep their event and lose
// the Kubernetes timestamp.
func TestTailRead(t *testing.T) {
	lines := []string{tailDrop6, tailDrop6, tailRL, tailOK, tailTLS, tailOther}
	wantEvents := map[logmatch.Event]uint64{tailDrop6Event: 2, tailRLEvent: 1, tailOKEvent: 1, tailTLSEvent: 1}
	drop6, rl := parsed(tailDrop6), parsed(tailRL)
	wantSamples := []Sample{{Event: drop6, Class: served, Line: tailDrop6}, {Event: rl, Line: tailRL}, {Event: tailTLSEvent, Line: tailTLS}, {Event: drop6, Class: served, Line: tailDrop6}}
	tail := Tail{Lines: 100, Samples: 5}

	got, err := readKubeTail(tail, strings.NewReader(kubeStream(time.Date(2026, 11, 24, 9, 32, 16, 0, time.UTC), lines...)))
	if err != nil {
		t.Fatal(err)
	}
	checkTail(t, "kube stream", got, uint64(len(lines)), wantEvents, wantSamples)

	path := filepath.Join(t.TempDir(), "tailscaled.log")
	if err := os.WriteFile(path, []byte(strings.Join(slices.Concat([]string{tailDrop4, tailDrop4}, lines), "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	tail.Lines = len(lines) // the two IPv4 drops before them are not read
	if got, err = tail.ReadFile(path); err != nil {
		t.Fatal(err)
	}
	checkTail(t, "file", got, uint64(len(lines)), wantEvents, wantSamples)

	if _, err := tail.ReadFile(filepath.Join(t.TempDir(), "missing.log")); !os.IsNotExist(err) {
		t.Errorf("missing file: err %v, want not exist", err)
	}
}

func checkTail(t *testing.T, what string, got TailCounts, lines uint64, events map[logmatch.Event]uint64, samples []Sample) {
	t.Helper()
	if got.Lines != lines {
		t.Errorf("%s: %d lines, want %d", what, got.Lines, lines)
	}
	if !mapsEqual(got.Events, events) {
		t.Errorf("%s: events = %v\nwant %v", what, got.Events, events)
	}
	if !slices.Equal(got.Samples, samples) {
		t.Errorf("%s: samples = %+v\nwant %+v", what, got.Samples, samples)
	}
}

func mapsEqual(a, b map[logmatch.Event]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestTailFileHead: the head of a host log gives the peer API port and the
// version, so a relay's drop to that port in the tail is peerapi, learned.
func TestTailFileHead(t *testing.T) {
	const self6, port = "fd7a:115c:a1e0::5501:7c39", 45678
	var b strings.Builder
	b.WriteString("2026/11/24 09:32:15 Program starting: v1.102.1-t36550d57f, Go 1.26.5: []string{\"tailscaled\"}\n")
	fmt.Fprintf(&b, "2026/11/24 09:32:16 peerapi: serving on http://[%s]:%d\n", self6, port)
	for range 50 {
		b.WriteString(tailOther + "\n")
	}
	relay := fmt.Sprintf("2026/11/24 09:40:00 Drop: TCP{[fd7a:115c:a1e0:ab12:4843:cd96:625a:9516]:46650 > [%s]:%d} 80 no rules matched", self6, port)
	b.WriteString(relay + "\n")
	path := filepath.Join(t.TempDir(), "tailscaled.log")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Tail{Lines: 10, Samples: 5, RelaySamples: 5}.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	checkHeadFacts(t, got, port, relay)
}

// checkHeadFacts checks that a tail learned the head's port and version
// and classified the relay's drop with it.
func checkHeadFacts(t *testing.T, got TailCounts, port uint16, relay string) {
	t.Helper()
	if !got.HeadRead || got.Facts.Ports.IPv6 != port || got.Facts.Version != (logmatch.Version{Major: 1, Minor: 102, Patch: 1}) {
		t.Errorf("head read %v, facts %+v; want port %d and version 1.102.1", got.HeadRead, got.Facts, port)
	}
	want := Classified{Event: parsed(relay).Key(), Class: logmatch.DropClassPeerAPI, Source: logmatch.PortSourceLearned}
	if got.Classified[want] != 1 || len(got.Classified) != 1 {
		t.Errorf("classified = %v, want one %+v", got.Classified, want)
	}
	if len(got.Relay) != 1 || got.Relay[0].Class != logmatch.DropClassPeerAPI || got.Relay[0].Source != logmatch.PortSourceLearned {
		t.Errorf("relay samples = %+v, want the relay's drop, peerapi, learned", got.Relay)
	}
}

// TestTailFileLastLines: of a file larger than the part read, the last
// Lines lines count, also behind a line longer than that part.
func TestTailFileLastLines(t *testing.T) {
	var b strings.Builder
	b.WriteString(strings.Repeat("x", fileTailBytes+100) + "\n")
	for range 30 {
		b.WriteString(tailDrop6 + "\n")
	}
	for range 20 {
		b.WriteString(tailOther + "\n")
	}
	path := filepath.Join(t.TempDir(), "tailscaled.log")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Tail{Lines: 40, Samples: 5}.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Lines != 40 || got.Events[tailDrop6Event] != 20 || len(got.Samples) != 5 {
		t.Errorf("read %d lines, %d drops, %d samples; want 40, 20, 5", got.Lines, got.Events[tailDrop6Event], len(got.Samples))
	}
}

// testTailPod reads the end of a pod's log through a real API server: the
// last Lines lines, none older than Since.
func testTailPod(t *testing.T, c *kubetest.Cluster) {
	e := newKubeEnv(t, c)
	tgt := e.pod(t, "ts-tail-0")
	now := time.Now()
	e.appendAt(tgt, now.Add(-time.Hour), tailDrop4) // outside Since
	e.appendAt(tgt, now.Add(-2*time.Minute), tailOther, tailDrop6, tailTLS, tailOther)
	client, _ := newClient(t, c.RESTConfig(c.AdminToken))
	ctx, cancel := context.WithTimeout(context.Background(), kubeWait)
	defer cancel()
	read := func(tail Tail) TailCounts {
		t.Helper()
		rc, err := tail.OpenPod(ctx, client, tgt.Pod)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		got, err := readKubeTail(tail, rc)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	got := read(Tail{Lines: 100, Since: 15 * time.Minute, Samples: 5})
	checkTail(t, "since 15m", got, 4, map[logmatch.Event]uint64{tailDrop6Event: 1, tailTLSEvent: 1},
		[]Sample{{Event: parsed(tailDrop6), Class: served, Line: tailDrop6}, {Event: tailTLSEvent, Line: tailTLS}})
	got = read(Tail{Lines: 2, Since: 2 * time.Hour, Samples: 5})
	checkTail(t, "last 2 lines", got, 2, map[logmatch.Event]uint64{tailTLSEvent: 1}, []Sample{{Event: tailTLSEvent, Line: tailTLS}})
	got = read(Tail{Lines: 100, Since: 2 * time.Hour, Samples: 5})
	checkTail(t, "since 2h", got, 5, map[logmatch.Event]uint64{tailDrop4Event: 1, tailDrop6Event: 1, tailTLSEvent: 1},
		[]Sample{{Event: parsed(tailDrop4), Class: served, Line: tailDrop4}, {Event: parsed(tailDrop6), Class: served, Line: tailDrop6}, {Event: tailTLSEvent, Line: tailTLS}})
	if got.HeadRead {
		t.Errorf("readKubeTail read the head")
	}
}

// testTailPodHead: ReadPod reads the head of the pod's log (one bounded
// read, as a follower's) before its end, so the peer API port logged at
// the start, outside the tail's window, classifies a relay's drop in it.
func testTailPodHead(t *testing.T, c *kubetest.Cluster) {
	e := newKubeEnv(t, c)
	var heads atomic.Int32
	cfg := c.RESTConfig(c.AdminToken)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return headCounter{n: &heads, next: rt} }
	client, _ := newClient(t, cfg)
	tgt := e.pod(t, "ts-tail-head-0")
	const self6, port = "fd7a:115c:a1e0::5501:7c39", 45678
	now := time.Now()
	e.appendAt(tgt, now.Add(-time.Hour),
		"2026/11/24 09:32:15 Program starting: v1.102.1-t36550d57f, Go 1.26.5: []string{\"tailscaled\"}",
		fmt.Sprintf("2026/11/24 09:32:16 peerapi: serving on http://[%s]:%d", self6, port))
	relay := fmt.Sprintf("2026/11/24 10:32:16 Drop: TCP{[fd7a:115c:a1e0:ab12:4843:cd96:625a:9516]:46650 > [%s]:%d} 80 no rules matched", self6, port)
	e.appendAt(tgt, now.Add(-time.Minute), tailOther, relay)
	ctx, cancel := context.WithTimeout(context.Background(), kubeWait)
	defer cancel()
	got, headErr, err := Tail{Lines: 100, Since: 15 * time.Minute, Samples: 5, RelaySamples: 5}.ReadPod(ctx, client, tgt.Pod)
	if err != nil || headErr != nil {
		t.Fatalf("ReadPod: head %v, tail %v", headErr, err)
	}
	if got.Lines != 2 {
		t.Errorf("%d lines counted, want 2: the head read counts nothing", got.Lines)
	}
	checkHeadFacts(t, got, port, relay)
	if n := heads.Load(); n != 1 {
		t.Errorf("%d head reads, want 1", n)
	}

	// A pod whose log cannot be read at all: both fail, nothing counted.
	_, headErr, err = Tail{Lines: 100}.ReadPod(ctx, client, PodRef{Namespace: e.ns, Name: "missing-0"})
	if headErr == nil || err == nil {
		t.Errorf("missing pod: head %v, tail %v; want both to fail", headErr, err)
	}
}

// TestTailRealCapture reads the unedited log of a real tailscaled v1.98.10
// (collector/logmatch/testdata/real) as diagnose reads a host's log. Its
// peer API port is learned from its own "peerapi: serving on" lines, so an
// ordinary peer's SYN to that port is class peerapi (logged as a drop, let
// through), while its connect to 443 is a real drop at a served port.
func TestTailRealCapture(t *testing.T) {
	path := filepath.Join("..", "logmatch", "testdata", "real", "tailscaled-1.98.10.log")
	got, err := Tail{Lines: 1000, Samples: 10, RelaySamples: 10}.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Facts.Ports != (logmatch.PeerAPIPorts{IPv4: 58436, IPv6: 58436}) ||
		got.Facts.Version != (logmatch.Version{Major: 1, Minor: 98, Patch: 10}) {
		t.Errorf("facts = %+v, want peer API port 58436 for both families and version 1.98.10", got.Facts)
	}
	byClass := map[logmatch.DropClass]uint64{}
	for c, n := range got.Classified {
		if c.Event.Kind != logmatch.KindDrop || c.Event.Family != logmatch.FamilyIPv4 {
			t.Errorf("unexpected classified line %+v", c)
			continue
		}
		if c.Class == logmatch.DropClassPeerAPI && c.Source != logmatch.PortSourceLearned {
			t.Errorf("peer API drop classified with port source %v, want learned", c.Source)
		}
		byClass[c.Class] += n
	}
	want := map[logmatch.DropClass]uint64{logmatch.DropClassPeerAPI: 1, logmatch.DropClassServed: 1}
	if !maps.Equal(byClass, want) {
		t.Errorf("drops by class = %v, want %v", byClass, want)
	}
	denied := got.Events[logmatch.Event{Kind: logmatch.KindIngressDenied, Family: logmatch.FamilyIPv4}]
	var programs uint64
	for ev, n := range got.Events {
		if ev.Kind == logmatch.KindProgramStarting {
			programs += n
		}
	}
	if denied != 1 {
		t.Errorf("ingress denials = %d, want 1 (events %v)", denied, got.Events)
	}
	if programs != 2 {
		t.Errorf("Program starting counted %d times, want 2: the file holds a start and a restart", programs)
	}
}

// readKubeTail counts a stream OpenPod opened, as ReadPod does but without
// its head read, so the tail's own counting is tested alone.
func readKubeTail(t Tail, r io.Reader) (TailCounts, error) {
	m, err := t.matcher()
	if err != nil {
		return TailCounts{}, err
	}
	return t.read(m, PodFacts{}, func(rd *Reader) error { return rd.ReadKube(r, &Position{}) })
}
