package prober

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"golang.org/x/net/proxy"
)

// ProxyStep is the step of a SOCKS5 dial that failed.
type ProxyStep string

const (
	ProxyStepDial    ProxyStep = "dial"    // TCP connection to the proxy itself
	ProxyStepConnect ProxyStep = "connect" // SOCKS5 negotiation and CONNECT request
)

// SOCKS5 reply codes of RFC 1928 that ProxyError.Reply can hold.
const (
	ReplyGeneralFailure     = 0x01
	ReplyNotAllowed         = 0x02 // connection not allowed by ruleset
	ReplyNetworkUnreachable = 0x03
	ReplyHostUnreachable    = 0x04
	ReplyConnectionRefused  = 0x05
	ReplyTTLExpired         = 0x06
	ReplyCommandUnsupported = 0x07
	ReplyAddressUnsupported = 0x08
)

// ProxyError is a failed dial through a SOCKS5 proxy. It says whether the
// proxy was unreachable or answered the CONNECT with an error, which
// golang.org/x/net/proxy only tells in its error text.
type ProxyError struct {
	Proxy  string // proxy address
	Target string // address asked for in the CONNECT
	Step   ProxyStep
	Reply  int // SOCKS5 reply code, 0 if the proxy sent none
	// Waited is how long the CONNECT took to fail (ProxyStepConnect):
	// tailscaled answers every failure with reply 1, and only when it
	// answers tells a dial that got no answer from one that failed.
	Waited time.Duration
	Err    error
}

func (e *ProxyError) Error() string {
	if e.Step == ProxyStepDial {
		return fmt.Sprintf("SOCKS5 proxy %s unreachable: %v", e.Proxy, e.Err)
	}
	// x/net wraps in an OpError naming both addresses again; keep its cause.
	cause := e.Err
	var oe *net.OpError
	if errors.As(cause, &oe) && oe.Err != nil {
		cause = oe.Err
	}
	if e.Reply != 0 {
		return fmt.Sprintf("SOCKS5 proxy %s answered CONNECT with reply %d: %s", e.Proxy, e.Reply, strings.TrimPrefix(cause.Error(), "unknown error "))
	}
	return fmt.Sprintf("SOCKS5 proxy %s CONNECT: %v", e.Proxy, cause)
}

func (e *ProxyError) Unwrap() error { return e.Err }

// replyNames are the texts golang.org/x/net/internal/socks gives reply
// codes; its errors carry no code, so the text is matched.
var replyNames = map[string]int{
	"general SOCKS server failure":      ReplyGeneralFailure,
	"connection not allowed by ruleset": ReplyNotAllowed,
	"network unreachable":               ReplyNetworkUnreachable,
	"host unreachable":                  ReplyHostUnreachable,
	"connection refused":                ReplyConnectionRefused,
	"TTL expired":                       ReplyTTLExpired,
	"command not supported":             ReplyCommandUnsupported,
	"address type not supported":        ReplyAddressUnsupported,
}

func replyCode(err error) int {
	const prefix = "unknown error "
	var oe *net.OpError
	if errors.As(err, &oe) {
		err = oe.Err
	}
	if err == nil {
		return 0
	}
	msg, ok := strings.CutPrefix(err.Error(), prefix)
	if !ok {
		return 0
	}
	return replyNames[msg]
}

// withConn is the part of the x/net SOCKS dialer that runs the protocol on
// a connection we opened, so that the proxy dial and the CONNECT fail
// separately.
type withConn interface {
	DialWithConn(ctx context.Context, c net.Conn, network, address string) (net.Addr, error)
}

type socksDialer struct {
	proxy string
	base  Dialer
	socks withConn
}

// SOCKS5Dialer returns a Dialer that connects through the SOCKS5 proxy at
// address (host:port), opening the proxy connection with base (nil: a
// net.Dialer). Names are sent to the proxy unresolved. The CONNECT obeys
// the context's deadline and cancellation, so a proxy that never answers
// holds no goroutine past it. Failures are *ProxyError.
func SOCKS5Dialer(address string, base Dialer) (Dialer, error) {
	if _, _, err := net.SplitHostPort(address); err != nil {
		return nil, fmt.Errorf("SOCKS5 proxy address %q: %w", address, err)
	}
	if base == nil {
		base = defaultDialer
	}
	d, err := proxy.SOCKS5("tcp", address, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("SOCKS5 proxy %q: %w", address, err)
	}
	wc, ok := d.(withConn)
	if !ok {
		return nil, fmt.Errorf("SOCKS5 proxy %q: dialer %T cannot dial on an open connection", address, d)
	}
	return &socksDialer{proxy: address, base: base, socks: wc}, nil
}

func (d *socksDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := d.base.DialContext(ctx, "tcp", d.proxy)
	if err != nil {
		return nil, &ProxyError{Proxy: d.proxy, Target: address, Step: ProxyStepDial, Err: err}
	}
	start := time.Now()
	if _, err := d.socks.DialWithConn(ctx, c, network, address); err != nil {
		c.Close()
		return nil, &ProxyError{Proxy: d.proxy, Target: address, Step: ProxyStepConnect, Reply: replyCode(err), Waited: time.Since(start), Err: err}
	}
	return c, nil
}
