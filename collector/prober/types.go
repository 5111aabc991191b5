// Package prober runs one blackbox-style probe of a ts.net endpoint: resolve,
// TCP connect, TLS handshake and (optionally) an HTTP request, timing each
// phase and naming why a failed probe failed with a bounded Reason.
//
// A probe is a function of its Request; it owns no schedule, registry or
// HTTP server. The scheduler and the /probe handler (package scheduler) both
// call Probe and turn the Result into metrics.
package prober

import (
	"context"
	"crypto/x509"
	"net"
	"time"

	"github.com/tailscale-tunnel-exporter/tailscale-tunnel-exporter/internal/causes"
)

// Phase is one timed step of a probe. The values are label values of
// tailscale_tunnel_probe_phase_* metrics, so they never change.
type Phase string

const (
	PhaseResolve Phase = "resolve"
	PhaseConnect Phase = "connect"
	PhaseTLS     Phase = "tls"
	// PhaseHTTP lasts from writing the request until the first response byte.
	PhaseHTTP Phase = "http"
)

// Phases lists every phase in the order a probe runs them.
var Phases = []Phase{PhaseResolve, PhaseConnect, PhaseTLS, PhaseHTTP}

// Reason says why a probe failed. It is a label value, so it is one of a
// closed set; free error text goes to the probe's debug log only.
type Reason string

const (
	ReasonNone Reason = "" // the probe succeeded

	ReasonDNS            Reason = "dns"             // name did not resolve (or not to the preferred family without fallback)
	ReasonConnectRefused Reason = "connect_refused" // TCP RST
	ReasonConnectTimeout Reason = "connect_timeout" // no TCP answer before the deadline
	ReasonConnectError   Reason = "connect_error"   // other dial errors (unreachable network, ...)
	ReasonProxy          Reason = "proxy"           // the vantage's own SOCKS5 proxy failed: unreachable, no SOCKS5, or refused by its rules
	// ReasonTLSHandshakeTimeout is the incident's symptom: TCP connected, the
	// handshake never finished.
	ReasonTLSHandshakeTimeout Reason = "tls_handshake_timeout"
	ReasonTLSHandshakeEOF     Reason = "tls_handshake_eof" // peer closed/reset during the handshake
	ReasonTLSCertInvalid      Reason = "tls_certificate_invalid"
	ReasonTLSHandshakeError   Reason = "tls_handshake_error" // alerts, protocol or version mismatch
	ReasonHTTPStatus          Reason = "http_status"         // a status code that is not expected
	ReasonHTTPError           Reason = "http_error"          // malformed response, reset after the handshake, ...
	ReasonHTTPTimeout         Reason = "http_timeout"        // request sent, no response before the deadline
	ReasonTimeout             Reason = "timeout"             // the overall deadline passed in no more specific phase
	ReasonConfig              Reason = "config"              // the probe could not be built (bad CA file, unknown vantage)
)

// Reasons lists every failure reason, for documentation and for tests that
// check the set is closed.
var Reasons = []Reason{
	ReasonDNS, ReasonConnectRefused, ReasonConnectTimeout, ReasonConnectError, ReasonProxy,
	ReasonTLSHandshakeTimeout, ReasonTLSHandshakeEOF, ReasonTLSCertInvalid, ReasonTLSHandshakeError,
	ReasonHTTPStatus, ReasonHTTPError, ReasonHTTPTimeout, ReasonTimeout, ReasonConfig,
}

// reasonCauses names the catalog cause of each failure reason
// (internal/causes): the debug log's hint and diagnose's finding quote it.
var reasonCauses = map[Reason]causes.ID{
	ReasonDNS:                 causes.NameNotResolving,
	ReasonConnectRefused:      causes.ConnectionFailing,
	ReasonConnectTimeout:      causes.ConnectionFailing,
	ReasonConnectError:        causes.ConnectionFailing,
	ReasonProxy:               causes.TailnetVantageFailing,
	ReasonTLSHandshakeTimeout: causes.TLSHandshakeStalling,
	ReasonTLSHandshakeEOF:     causes.TLSHandshakeFailing,
	ReasonTLSCertInvalid:      causes.CertificateInvalid,
	ReasonTLSHandshakeError:   causes.TLSHandshakeFailing,
	ReasonHTTPStatus:          causes.BackendFailing,
	ReasonHTTPError:           causes.BackendFailing,
	ReasonHTTPTimeout:         causes.BackendFailing,
	ReasonTimeout:             causes.EndpointDown, // no phase to blame: the generic cause
	ReasonConfig:              causes.ProbeConfigInvalid,
}

// Cause is the catalog's cause of a failure with reason r; EndpointDown,
// the generic one, for a reason without a more specific cause.
func (r Reason) Cause() causes.ID {
	if c, ok := reasonCauses[r]; ok {
		return c
	}
	return causes.EndpointDown
}

// CertProblem is the sub-kind of ReasonTLSCertInvalid.
type CertProblem string

const (
	CertOK               CertProblem = ""
	CertExpired          CertProblem = "expired"
	CertNotYetValid      CertProblem = "not_yet_valid"
	CertUnknownAuthority CertProblem = "unknown_authority"
	CertNameMismatch     CertProblem = "name_mismatch"
	CertOther            CertProblem = "other"
)

// CertProblems lists every certificate problem.
var CertProblems = []CertProblem{CertExpired, CertNotYetValid, CertUnknownAuthority, CertNameMismatch, CertOther}

// Dialer opens TCP connections. Tests pass one that records or blocks dials;
// the tailnet vantage passes a SOCKS5 dialer.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// Resolver looks up IP addresses. *net.Resolver satisfies it.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// Request is everything one probe needs. It is built from the typed config by
// the caller, so the prober never reads files or flags.
type Request struct {
	Hostname string // the ts.net name, also the TLS server name unless ServerName is set
	Port     int    // default 443

	// Override, when set, replaces name resolution: "IP" or "IP:port"
	// (curl --resolve style). Used to probe one Funnel relay or a local test server.
	Override string

	// ResolveRemotely leaves name resolution to the Dialer (SOCKS5 vantage:
	// tailscaled resolves MagicDNS names). The resolve phase is then zero.
	ResolveRemotely bool

	IPProtocol         string // "ip4" or "ip6": preferred family
	IPProtocolFallback bool   // try the other family if the preferred one has no address

	Timeout time.Duration // overall; phases share it

	// TLS
	ServerName         string         // SNI and verification name; default Hostname
	InsecureSkipVerify bool           // do not fail on certificate problems (still reported in Result)
	RootCAs            *x509.CertPool // nil: system roots

	// HTTP; HTTP false makes a TLS-only probe.
	HTTP              bool
	Method            string // default GET
	Path              string // default "/"
	ValidStatusCodes  []int  // empty: any 2xx
	NoFollowRedirects bool   // redirects are not followed by default either; a 3xx counts per ValidStatusCodes

	Dialer   Dialer   // default: net.Dialer
	Resolver Resolver // default: net.DefaultResolver
}

// Result is what one probe observed. Zero durations mean the phase did not run.
type Result struct {
	Success  bool
	Reason   Reason      // ReasonNone when Success
	CertProb CertProblem // set when Reason is ReasonTLSCertInvalid, or when InsecureSkipVerify hid a problem
	Start    time.Time
	Duration time.Duration
	Phases   map[Phase]time.Duration // only the phases that ran (completed or failed in)
	// FailedPhase is the phase the probe was in when it failed ("" on success).
	FailedPhase Phase

	HTTPStatus int    // 0 if no response
	TLSVersion string // "TLS 1.3", "" if no handshake
	// CertExpiry is the earliest NotAfter of the peer's chain, zero if none
	// was seen. It is recorded even when verification fails (an expired
	// certificate is exactly when it matters).
	CertExpiry time.Time
	IP         net.IP // the address dialled, for the debug log only (never a label)

	// Log is the probe's debug log, one event per line, shown on the
	// landing page and in /probe?debug=true.
	Log []string
	Err error // the underlying error, for logs only
}
