package prober

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// configError marks a Request that cannot be probed at all (bad override,
// unknown IP protocol, invalid method or path).
type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

// certError is returned by the probe's own certificate verification, so the
// classification does not depend on how crypto/tls wraps it.
type certError struct {
	problem CertProblem
	err     error
}

func (e *certError) Error() string { return "certificate " + string(e.problem) + ": " + e.err.Error() }
func (e *certError) Unwrap() error { return e.err }

// statusError is an HTTP response whose status code is not expected.
type statusError struct{ code int }

func (e *statusError) Error() string { return "unexpected HTTP status " + strconv.Itoa(e.code) }

// classify names why a probe failed in phase with err. ctxErr is the probe
// context's error when the phase ended: a deadline that passed while the
// phase was waiting shows up as whatever the interrupted call returned
// (i/o timeout, use of closed connection), so the context decides.
//
// Phase "" means the probe failed before any phase ran.
// Proxy errors (see ProxyError) are split by what the proxy told us (see
// classifyProxy): a proxy that is unreachable, speaks no SOCKS5 or refuses
// the CONNECT by its own rules is ReasonProxy; a CONNECT the proxy could
// not complete is the target's connect_* reason, because the proxy worked.
func classify(phase Phase, err error, ctxErr error) Reason {
	if err == nil {
		return ReasonNone
	}
	var ce *configError
	if errors.As(err, &ce) {
		return ReasonConfig
	}
	timedOut := isTimeout(err) || ctxErr != nil
	switch phase {
	case PhaseResolve:
		// There is no dns_timeout: a lookup cut off by the deadline is
		// the generic timeout, a lookup that answered "no" is dns.
		if timedOut {
			return ReasonTimeout
		}
		return ReasonDNS
	case PhaseConnect:
		return classifyConnect(err, timedOut)
	case PhaseTLS:
		var cert *certError
		switch {
		case errors.As(err, &cert):
			return ReasonTLSCertInvalid
		case timedOut:
			return ReasonTLSHandshakeTimeout
		case isPeerClosed(err):
			return ReasonTLSHandshakeEOF
		}
		return ReasonTLSHandshakeError
	case PhaseHTTP:
		var se *statusError
		switch {
		case errors.As(err, &se):
			return ReasonHTTPStatus
		case timedOut:
			return ReasonHTTPTimeout
		}
		return ReasonHTTPError
	}
	if timedOut {
		return ReasonTimeout
	}
	return ReasonConfig
}

func classifyConnect(err error, timedOut bool) Reason {
	var pe *ProxyError
	if errors.As(err, &pe) {
		return classifyProxy(pe, timedOut)
	}
	// A SOCKS dialer other than ours: net.OpError with Op "socks connect".
	var oe *net.OpError
	if errors.As(err, &oe) && strings.HasPrefix(oe.Op, "socks") && !timedOut {
		return ReasonProxy
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return ReasonConnectRefused
	case timedOut:
		return ReasonConnectTimeout
	}
	return ReasonConnectError
}

// replyReasons is the reason of each SOCKS5 reply code (RFC 1928) a
// CONNECT can fail with. tailscaled's SOCKS5 server (v1.98, net/socks5)
// sends only reply 1, for every dial it could not complete: a connect the
// tailnet policy drops, an offline peer, a name MagicDNS does not know,
// a port nothing listens on behind the peer (internal/tailnettest's
// TestSOCKS5Replies). The other codes come from other SOCKS5 servers.
var replyReasons = map[int]Reason{
	ReplyGeneralFailure:     ReasonConnectError, // unless it came after tailscaled's dial timeout
	ReplyNotAllowed:         ReasonProxy,        // the proxy's own rules
	ReplyNetworkUnreachable: ReasonConnectError,
	ReplyHostUnreachable:    ReasonConnectError,
	ReplyConnectionRefused:  ReasonConnectRefused,
	ReplyTTLExpired:         ReasonConnectTimeout,
	ReplyCommandUnsupported: ReasonProxy,
	ReplyAddressUnsupported: ReasonProxy,
}

// TailscaledDialTimeout is how long tailscaled's SOCKS5 server lets the
// dial of a CONNECT run before it answers reply 1 (net/socks5, handleTCP).
// A reply 1 that took this long says the target never answered: the
// tailnet policy dropped the SYN or the peer is offline. A probe whose
// own deadline comes first ends as connect_timeout as well.
const TailscaledDialTimeout = 5 * time.Second

// classifyProxy names the failure of a dial through a SOCKS5 proxy.
func classifyProxy(pe *ProxyError, timedOut bool) Reason {
	if pe.Step == ProxyStepDial {
		return ReasonProxy
	}
	if pe.Reply == 0 {
		// No reply: the deadline passed waiting for one, or the proxy
		// broke the protocol.
		if timedOut {
			return ReasonConnectTimeout
		}
		return ReasonProxy
	}
	if pe.Reply == ReplyGeneralFailure && pe.Waited >= TailscaledDialTimeout {
		return ReasonConnectTimeout
	}
	if r, ok := replyReasons[pe.Reply]; ok {
		return r
	}
	return ReasonProxy // a code RFC 1928 does not define
}

// isTimeout reports whether err says a deadline passed.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isPeerClosed reports whether the peer closed or reset the connection.
func isPeerClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNABORTED)
}

// certProblem maps an x509 verification error to its CertProblem. now is
// the verification time, to tell expired from not yet valid.
func certProblem(err error, now time.Time) CertProblem {
	var (
		invalid  x509.CertificateInvalidError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
	)
	switch {
	case err == nil:
		return CertOK
	case errors.As(err, &invalid):
		if invalid.Reason != x509.Expired {
			return CertOther
		}
		// x509 reports both ends of the validity window as Expired.
		if invalid.Cert != nil && now.Before(invalid.Cert.NotBefore) {
			return CertNotYetValid
		}
		return CertExpired
	case errors.As(err, &unknown):
		return CertUnknownAuthority
	case errors.As(err, &hostname):
		return CertNameMismatch
	}
	return CertOther
}
