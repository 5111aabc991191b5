package proxymetrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"
)

// ErrorKind is a bounded label value for why a read of user metrics failed.
type ErrorKind string

const (
	ErrUnreachable ErrorKind = "unreachable" // no connection: refused, no route, no socket
	ErrHTTPStatus  ErrorKind = "http_status" // an answer other than 200 OK
	ErrParse       ErrorKind = "parse"       // not tailscaled's user metrics in the text format
	ErrTooLarge    ErrorKind = "too_large"   // a body over the size bound
	ErrTimeout     ErrorKind = "timeout"     // no whole answer within the time bound
)

// ErrorKinds are every ErrorKind, in the order their series are written.
var ErrorKinds = []ErrorKind{ErrUnreachable, ErrHTTPStatus, ErrParse, ErrTooLarge, ErrTimeout}

// ReadError is a failed read: its kind, and what happened.
type ReadError struct {
	Kind ErrorKind
	Err  error
	// Status is the HTTP status of an ErrHTTPStatus answer, 0 otherwise:
	// through the API server's pod proxy, 403 is the caller's missing
	// permission, not the proxy's answer.
	Status int
}

func (e *ReadError) Error() string { return e.Err.Error() }
func (e *ReadError) Unwrap() error { return e.Err }

// KindOf returns the kind of an error Read returned.
func KindOf(err error) ErrorKind {
	var re *ReadError
	if errors.As(err, &re) {
		return re.Kind
	}
	return ErrUnreachable
}

// LocalAPIURL is tailscaled's user metrics on its LocalAPI socket. The
// host is not resolved: tailscaled accepts only this Host header on its
// socket, as the tailscale CLI sends it (client/local).
const LocalAPIURL = "http://local-tailscaled.sock/localapi/v0/usermetrics"

// NewHTTPClient returns the client that reads proxies' metrics ports. Pod
// IPs are dialed directly, never through a proxy from the environment,
// and a redirect is an answer, not followed: it can only lead elsewhere.
func NewHTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 1,
			IdleConnTimeout:     90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// NewLocalAPIClient returns a client whose every request goes to
// tailscaled's LocalAPI unix socket; request LocalAPIURL with it.
func NewLocalAPIClient(socket string) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", socket)
			},
			MaxIdleConnsPerHost: 1,
			IdleConnTimeout:     90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Read GETs a user metrics page with client (ctx bounds the whole read,
// body included), takes at most maxBytes of it, and parses its drop
// counters. Its errors are *ReadError naming url.
func Read(ctx context.Context, client *http.Client, url string, maxBytes int64) (Drops, error) {
	body, err := get(ctx, client, url, maxBytes)
	if err != nil {
		return Drops{}, err
	}
	d, err := ParseDrops(body)
	if err != nil {
		return Drops{}, &ReadError{Kind: ErrParse, Err: fmt.Errorf("user metrics from %s: %w", url, err)}
	}
	return d, nil
}

func get(ctx context.Context, client *http.Client, url string, maxBytes int64) ([]byte, error) {
	fail := func(kind ErrorKind, err error) *ReadError {
		return &ReadError{Kind: kind, Err: fmt.Errorf("user metrics from %s: %w", url, err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fail(ErrUnreachable, err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fail(transportKind(err), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		re := fail(ErrHTTPStatus, fmt.Errorf("%s: %q", resp.Status, strings.TrimSpace(string(snippet))))
		re.Status = resp.StatusCode
		return nil, re
	}
	// A wrong port can serve anything; only the text format is parsed.
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "text/plain" {
			return nil, fail(ErrParse, fmt.Errorf("content type %q, want text/plain", ct))
		}
	}
	if resp.ContentLength > maxBytes {
		return nil, fail(ErrTooLarge, fmt.Errorf("%d bytes, more than %d", resp.ContentLength, maxBytes))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBytes+1))
	if err != nil {
		return nil, fail(transportKind(err), err)
	}
	if int64(len(body)) > maxBytes {
		return nil, fail(ErrTooLarge, fmt.Errorf("more than %d bytes", maxBytes))
	}
	return body, nil
}

// transportKind tells a read that ran out of time from one that never
// reached the server or broke.
func transportKind(err error) ErrorKind {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return ErrTimeout
	}
	return ErrUnreachable
}
