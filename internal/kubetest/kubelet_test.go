package kubetest

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
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

// A follower of a container with no lines yet gets them once appended, and
// CutStreams drops its connection instead of ending the body cleanly.
func TestKubeletFollow(t *testing.T) {
	k := NewKubelet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	u := "https://127.0.0.1:" + strconv.Itoa(k.Port) + "/containerLogs/ns/pod/tailscale?follow=true"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := k.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	k.WaitOpenStreams(t, 1, 5*time.Second)
	lines := readLines(resp.Body)
	k.Append("ns", "pod", "tailscale", "first", "second")
	wantLine(t, lines, "first")
	wantLine(t, lines, "second")
	k.Append("ns", "pod", "other", "not for this stream")
	k.Append("ns", "pod", "tailscale", "third")
	wantLine(t, lines, "third")

	k.CutStreams()
	select {
	case l, ok := <-lines:
		if ok {
			t.Fatalf("after CutStreams got %q, want the end of the stream", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("stream still open 10s after CutStreams")
	}
	if _, err := resp.Body.Read(make([]byte, 1)); err == nil || err == io.EOF {
		t.Fatalf("read after cut: err = %v, want a broken-connection error, not a clean EOF", err)
	}
	if err := poll(5*time.Second, 10*time.Millisecond, func() (bool, error) { return k.OpenStreams() == 0, nil }); err != nil {
		t.Fatalf("open streams after cut = %d, want 0: %v", k.OpenStreams(), err)
	}
}
