package source

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
)

// errTooLarge ends a response body that goes past the limit.
var errTooLarge = errors.New("response too large")

// recorder is the HTTP transport under the Tailscale client. The client's
// errors do not reliably carry the status (a non-JSON error page becomes a
// JSON syntax error), so the status is recorded here; and the client reads
// whole bodies, so the size limit is enforced here too.
type recorder struct {
	base     http.RoundTripper
	maxBytes int64
	status   atomic.Int32 // of the last response; 0 before any
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	r.status.Store(int32(resp.StatusCode))
	if resp.ContentLength > r.maxBytes {
		resp.Body.Close()
		return nil, errTooLarge
	}
	resp.Body = &limitedBody{rc: resp.Body, left: r.maxBytes}
	return resp, nil
}

// limitedBody returns errTooLarge once more than left bytes arrive.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
	over bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.over {
		return 0, errTooLarge
	}
	// Ask for one byte more than allowed, to tell "exactly at the limit" from "over".
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	if int64(n) > b.left {
		b.over = true
		return int(b.left), errTooLarge
	}
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// refuseRedirect stops at the first redirect: the API does not redirect this
// endpoint, and following one could carry the credential to another host.
func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// isTimeout says whether err (or ctx, the Read's own deadline) is a timeout.
func isTimeout(ctx context.Context, err error) bool {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isUnreachable says whether err happened before any connection was made.
func isUnreachable(err error) bool {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && (op.Op == "dial" || op.Op == "proxyconnect")
}
