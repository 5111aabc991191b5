package proxymetrics

import (
	"cmp"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tailscaledContentType is what tailscaled's user metrics handler sends
// (tsweb/varz), and containerboot passes on.
const tailscaledContentType = "text/plain;version=0.0.4;charset=utf-8"

func serve(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL + "/metrics"
}

func page(contentType string, body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.Write(body)
	}
}

// hang waits until the client gives up, having sent the headers first
// when headers is true.
func hang(headers bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if headers {
			w.Header().Set("Content-Type", tailscaledContentType)
			w.Write([]byte(inboundFamily))
			w.(http.Flusher).Flush()
		}
		<-r.Context().Done()
	}
}

func TestRead(t *testing.T) {
	real := readFile(t, realACLDrops)
	const maxBytes = 64 << 10
	huge := []byte(inboundFamily + strings.Repeat("# filler comment line of a page that never ends\n", 2*maxBytes/48))
	closed := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return "http://" + addr + "/metrics"
	}()
	tests := []struct {
		name     string
		url      string
		timeout  time.Duration
		wantACL  float64
		wantKind ErrorKind
		wantErr  string
		// wantStatus is the HTTP status an ErrHTTPStatus error carries.
		wantStatus int
	}{
		{name: "real page", url: serve(t, page(tailscaledContentType, real)), wantACL: 3},
		{name: "no content type", url: serve(t, page("", real)), wantACL: 3},
		{name: "plain text of another version", url: serve(t, page("text/plain; version=1.0.0", real)), wantACL: 3},
		{name: "HTTP 500", url: serve(t, func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "failed to proxy request: dial unix: no such file", http.StatusInternalServerError)
		}), wantKind: ErrHTTPStatus, wantErr: `500 Internal Server Error: "failed to proxy request`, wantStatus: 500},
		{name: "not found", url: serve(t, http.NotFound), wantKind: ErrHTTPStatus, wantErr: "404", wantStatus: 404},
		{name: "forbidden", url: serve(t, func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, `{"kind":"Status","reason":"Forbidden","code":403}`, http.StatusForbidden)
		}), wantKind: ErrHTTPStatus, wantErr: "403 Forbidden", wantStatus: 403},
		{name: "a redirect is not followed", url: serve(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://127.0.0.1:1/elsewhere", http.StatusFound)
		}), wantKind: ErrHTTPStatus, wantErr: "302", wantStatus: 302},
		{name: "wrong content type", url: serve(t, page("application/json", []byte(`{"acl":3}`))), wantKind: ErrParse, wantErr: `content type "application/json"`},
		{name: "HTML", url: serve(t, page("text/html; charset=utf-8", real)), wantKind: ErrParse, wantErr: "want text/plain"},
		{name: "protobuf", url: serve(t, page("application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited", real)), wantKind: ErrParse},
		{name: "garbage", url: serve(t, page("text/plain", []byte("\x00\x01garbage{"))), wantKind: ErrParse, wantErr: "not tailscaled's user metrics"},
		{name: "another exporter's page", url: serve(t, page("text/plain", []byte("# TYPE up gauge\nup 1\n"))), wantKind: ErrParse},
		{name: "gigantic body, streamed", url: serve(t, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", tailscaledContentType)
			for i := 0; i < len(huge); i += 4096 {
				w.Write(huge[i:min(i+4096, len(huge))])
				w.(http.Flusher).Flush()
			}
		}), wantKind: ErrTooLarge, wantErr: "more than 65536 bytes"},
		{name: "gigantic body, announced", url: serve(t, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(huge)))
			w.Write(huge)
		}), wantKind: ErrTooLarge, wantErr: strconv.Itoa(len(huge)) + " bytes"},
		{name: "hanging server", url: serve(t, hang(false)), timeout: 200 * time.Millisecond, wantKind: ErrTimeout},
		{name: "hanging body", url: serve(t, hang(true)), timeout: 200 * time.Millisecond, wantKind: ErrTimeout},
		{name: "nothing listening", url: closed, wantKind: ErrUnreachable, wantErr: "connection refused"},
	}
	client := NewHTTPClient()
	t.Cleanup(client.CloseIdleConnections)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timeout := cmp.Or(tt.timeout, 5*time.Second)
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			begin := time.Now()
			d, err := Read(ctx, client, tt.url, maxBytes)
			if took := time.Since(begin); took > timeout+2*time.Second {
				t.Errorf("Read took %v with a %v bound", took, timeout)
			}
			if tt.wantKind == "" {
				if err != nil {
					t.Fatalf("Read(): %v", err)
				}
				if got := d.Count[Inbound][ReasonACL]; got != tt.wantACL {
					t.Errorf("inbound acl = %v, want %v", got, tt.wantACL)
				}
				return
			}
			var re *ReadError
			if !errors.As(err, &re) || re.Kind != tt.wantKind {
				t.Fatalf("Read() error = %v (kind %s), want kind %s", err, KindOf(err), tt.wantKind)
			}
			if re.Status != tt.wantStatus {
				t.Errorf("status = %d, want %d", re.Status, tt.wantStatus)
			}
			if !strings.Contains(err.Error(), tt.url) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not name the URL and contain %q", err, tt.wantErr)
			}
		})
	}
}

// serveLocalAPI serves body as tailscaled's LocalAPI does on a unix
// socket, to requests with the Host the tailscale CLI sends; it returns the
// socket's path.
func serveLocalAPI(t *testing.T, body []byte) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "tailscaled.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "local-tailscaled.sock" || r.URL.Path != "/localapi/v0/usermetrics" {
			http.Error(w, "wrong host or path: "+r.Host+r.URL.Path, http.StatusForbidden)
			return
		}
		page(tailscaledContentType, body)(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sock
}

// TestReadLocalAPI reads through a unix socket as from tailscaled's.
func TestReadLocalAPI(t *testing.T) {
	sock := serveLocalAPI(t, readFile(t, realACLDrops))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := NewLocalAPIClient(sock)
	defer c.CloseIdleConnections()
	d, err := Read(ctx, c, LocalAPIURL, DefaultMaxBytes)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Count[Inbound][ReasonACL]; got != 3 {
		t.Errorf("inbound acl = %v, want 3", got)
	}

	missing := NewLocalAPIClient(filepath.Join(t.TempDir(), "none.sock"))
	if _, err := Read(ctx, missing, LocalAPIURL, DefaultMaxBytes); KindOf(err) != ErrUnreachable {
		t.Errorf("read from a missing socket: %v (kind %s), want unreachable", err, KindOf(err))
	}
}
