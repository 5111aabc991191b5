// Package source fetches the tailnet policy file (HuJSON) from where the user
// keeps it: a file on disk (GitOps users keep it in git, and a ConfigMap or a
// checkout puts it there) or the Tailscale API with a read-only credential.
//
// A Source returns the raw bytes; parsing and checking them is the job of the
// policy package. Every failure is an *Error whose Kind is one of a closed set,
// so the exporter can count failures by kind, and whose text names the source
// and says what to do. Credentials come only from files or the environment and
// never appear in errors, in String(), or in request URLs.
package source

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// DefaultMaxBytes bounds a policy file read from disk or the API. Real policies
// are tens of kilobytes; this only stops a wrong file or a broken server from
// filling memory.
const DefaultMaxBytes = 4 << 20

// Source is where the tailnet policy comes from.
type Source interface {
	// String describes the source for logs and reports, e.g. "file /etc/policy.hujson"
	// or "Tailscale API, tailnet example.com, API key from file /run/secrets/key".
	// It never contains a secret.
	String() string
	// Read returns the policy's HuJSON exactly as stored. Every error is an *Error.
	Read(ctx context.Context) ([]byte, error)
}

// Kind classifies a failed Read. The set is closed so it can be a metric label.
type Kind string

// The kinds of failure. KindRead is for files; the others, apart from
// KindTooLarge, are for the API.
const (
	KindRead         Kind = "read"         // the policy file could not be read
	KindUnauthorized Kind = "unauthorized" // 401: the credential is not valid
	KindForbidden    Kind = "forbidden"    // 403: valid, but may not read the policy
	KindNotFound     Kind = "not_found"    // 404: no such tailnet for this credential
	KindRateLimited  Kind = "rate_limited" // 429
	KindServerError  Kind = "server_error" // 5xx
	KindTimeout      Kind = "timeout"      // no complete answer within the timeout
	KindUnreachable  Kind = "unreachable"  // could not connect (DNS, refused, no route)
	KindTooLarge     Kind = "too_large"    // the policy is larger than the limit
	KindCredential   Kind = "credential"   // credential file missing, unreadable or empty
	KindOther        Kind = "other"        // anything else
)

// Kinds lists every Kind, so a collector can expose all label values from the start.
func Kinds() []Kind {
	return []Kind{KindRead, KindUnauthorized, KindForbidden, KindNotFound, KindRateLimited,
		KindServerError, KindTimeout, KindUnreachable, KindTooLarge, KindCredential, KindOther}
}

// Error is a failed Read.
type Error struct {
	Source string // the Source's String()
	Kind   Kind
	Err    error // what happened and what to do; never contains a secret
}

func (e *Error) Error() string { return e.Source + ": " + e.Err.Error() }

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the Kind of err if it is (or wraps) an *Error, KindOther for
// any other error, and "" for nil.
func KindOf(err error) Kind {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindOther
}

// redact replaces any secret inside err's text. Errors that come from outside
// (a server's answer, a library) could in principle echo a credential back;
// when one does, the error is replaced by its cleaned text.
func redact(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	text := err.Error()
	clean := text
	for _, s := range secrets {
		if s != "" {
			clean = strings.ReplaceAll(clean, s, "[redacted]")
		}
	}
	if clean == text {
		return err
	}
	return errors.New(clean)
}

// sizeString prints a byte limit the way a user wrote it, e.g. "4 MiB".
func sizeString(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
