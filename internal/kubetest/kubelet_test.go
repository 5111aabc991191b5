package kubetest

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The fake kubelet's query handling, spoken to directly (no apiserver).
func TestKubeletLogQuery(t *testing.T) {
	k := NewKubelet(t)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	k.AppendAt("ns", "pod", "tailscale", t0, "one", "two")
	k.AppendAt("ns", "pod", "tailscale", t0.Add(time.Minute), "three")
	ts := func(d time.Duration) string { return t0.Add(d).Format(TimestampFormat) + " " }

	tests := []struct {
		name       string
		container  string
		query      url.Values
		failWith   int
		wantStatus int
		want       string
	}{
		{name: "all", query: url.Values{}, want: "one\ntwo\nthree\n"},
		{name: "timestamps", query: url.Values{"timestamps": {"true"}},
			want: ts(0) + "one\n" + ts(1) + "two\n" + ts(time.Minute) + "three\n"},
		{name: "tailLines", query: url.Values{"tailLines": {"2"}}, want: "two\nthree\n"},
		{name: "tailLines zero", query: url.Values{"tailLines": {"0"}}, want: ""},
		{name: "sinceTime at a line includes it", query: url.Values{"sinceTime": {t0.Add(time.Minute).Format(time.RFC3339)}}, want: "three\n"},
		{name: "sinceSeconds", query: url.Values{"sinceSeconds": {"3590"}}, want: "three\n"},
		{name: "limitBytes cuts mid-line", query: url.Values{"limitBytes": {"6"}}, want: "one\ntw"},
		{name: "unknown container is empty", container: "other", query: url.Values{}, want: ""},
		{name: "bad tailLines", query: url.Values{"tailLines": {"x"}}, wantStatus: http.StatusBadRequest},
		{name: "bad sinceTime", query: url.Values{"sinceTime": {"yesterday"}}, wantStatus: http.StatusBadRequest},
		{name: "injected failure", query: url.Values{}, failWith: http.StatusServiceUnavailable, wantStatus: http.StatusServiceUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k.FailWith(tc.failWith)
			t.Cleanup(func() { k.FailWith(0) })
			container := tc.container
			if container == "" {
				container = "tailscale"
			}
			before := k.Requests()
			status, body := kubeletGet(t, k, "ns/pod/"+container, tc.query)
			wantStatus := tc.wantStatus
			if wantStatus == 0 {
				wantStatus = http.StatusOK
			}
			if status != wantStatus {
				t.Fatalf("status = %d (%q), want %d", status, body, wantStatus)
			}
			if wantStatus == http.StatusOK && body != tc.want {
				t.Fatalf("body = %q, want %q", body, tc.want)
			}
			if got := k.Requests(); got != before+1 {
				t.Fatalf("Requests() = %d, want %d", got, before+1)
			}
		})
	}
}

func kubeletGet(t *testing.T, k *Kubelet, path string, q url.Values) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := "https://127.0.0.1:" + strconv.Itoa(k.Port) + "/containerLogs/" + path + "?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := k.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", u, err)
	}
	return resp.StatusCode, string(body)
}

// followTailscale opens a follow stream of ns/pod/tailscale, waits until
// the kubelet holds it, and returns the lines it delivers.
func followTailscale(t *testing.T, k *Kubelet) (*http.Response, <-chan string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	u := "https://127.0.0.1:" + strconv.Itoa(k.Port) + "/containerLogs/ns/pod/tailscale?follow=true"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := k.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	k.WaitOpenStreams(t, 1, 5*time.Second)
	return resp, readLines(resp.Body)
}

// A follower of a container with no lines yet gets them once appended, and
// CutStreams drops its connection instead of ending the body cleanly.
func TestKubeletFollow(t *testing.T) {
	k := NewKubelet(t)
	resp, lines := followTailscale(t, k)
	k.Append("ns", "pod", "tailscale", "first", "second")
	wantLine(t, lines, "first")
	wantLine(t, lines, "second")
	k.Append("ns", "pod", "other", "not for this stream")
	k.Append("ns", "pod", "tailscale", "third")
	wantLine(t, lines, "third")

	k.CutStreams()
	wantEnd(t, lines, "CutStreams")
	if _, err := resp.Body.Read(make([]byte, 1)); err == nil || err == io.EOF {
		t.Fatalf("read after cut: err = %v, want a broken-connection error, not a clean EOF", err)
	}
	if err := poll(5*time.Second, 10*time.Millisecond, func() (bool, error) { return k.OpenStreams() == 0, nil }); err != nil {
		t.Fatalf("open streams after cut = %d, want 0: %v", k.OpenStreams(), err)
	}
}

// RestartContainer ends the follow streams of the old instance cleanly,
// after its last line, and keeps exactly one previous instance, served
// with previous=true under the same query rules and never followed.
func TestKubeletRestartContainer(t *testing.T) {
	k := NewKubelet(t)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	ts := func(d time.Duration) string { return t0.Add(d).Format(TimestampFormat) + " " }
	notFound := `previous terminated container "tailscale" in pod "pod_ns" not found`

	if status, body := kubeletGet(t, k, "ns/pod/tailscale", url.Values{"previous": {"true"}}); status != http.StatusBadRequest || !strings.Contains(body, notFound) {
		t.Fatalf("previous before any restart: %d %q, want 400 saying %q", status, body, notFound)
	}

	// A follower of the first instance gets its lines, including one
	// written just before the restart, then a clean end.
	resp, lines := followTailscale(t, k)
	k.AppendAt("ns", "pod", "tailscale", t0, "one", "two")
	wantLine(t, lines, "one")
	wantLine(t, lines, "two")
	k.AppendAt("ns", "pod", "tailscale", t0.Add(time.Minute), "three")
	k.RestartContainer("ns", "pod", "tailscale")
	k.AppendAt("ns", "pod", "tailscale", t0.Add(2*time.Minute), "four") // the new instance's
	wantLine(t, lines, "three")
	wantEnd(t, lines, "the restart")
	if _, err := resp.Body.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read after the restart: err = %v, want a clean EOF", err)
	}

	tests := []struct {
		name  string
		query url.Values
		want  string
	}{
		{name: "current is the new instance", query: url.Values{}, want: "four\n"},
		{name: "previous", query: url.Values{"previous": {"true"}}, want: "one\ntwo\nthree\n"},
		{name: "previous is never followed", query: url.Values{"previous": {"true"}, "follow": {"true"}}, want: "one\ntwo\nthree\n"},
		{name: "previous with timestamps and sinceTime",
			query: url.Values{"previous": {"true"}, "timestamps": {"true"}, "sinceTime": {t0.Add(time.Minute).Format(time.RFC3339)}},
			want:  ts(time.Minute) + "three\n"},
		{name: "previous with tailLines", query: url.Values{"previous": {"true"}, "tailLines": {"2"}}, want: "two\nthree\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := kubeletGet(t, k, "ns/pod/tailscale", tc.query)
			if status != http.StatusOK || body != tc.want {
				t.Fatalf("got %d %q, want 200 %q", status, body, tc.want)
			}
		})
	}

	// A second restart replaces the previous instance: the first is gone.
	k.RestartContainer("ns", "pod", "tailscale")
	if status, body := kubeletGet(t, k, "ns/pod/tailscale", url.Values{"previous": {"true"}}); status != http.StatusOK || body != "four\n" {
		t.Fatalf("previous after a second restart: %d %q, want 200 %q", status, body, "four\n")
	}
	if status, body := kubeletGet(t, k, "ns/pod/other", url.Values{"previous": {"true"}}); status != http.StatusBadRequest {
		t.Fatalf("previous of a container never restarted: %d %q, want 400", status, body)
	}
}
