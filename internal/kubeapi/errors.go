// Package kubeapi holds what every reader of the Kubernetes API in this
// module shares: how an API error is classified, so that discovery, the
// pod-log follower and diagnose tell a user the same thing about the same
// failure.
package kubeapi

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// ErrorKind is a bounded label value for why a call to the API failed.
type ErrorKind string

const (
	// Forbidden: the API refused the caller, by RBAC (403) or its
	// credentials (401). Nothing heals by itself: a person must fix it.
	Forbidden ErrorKind = "forbidden"
	// NotFound: the object (a pod, a container's log) is gone.
	NotFound ErrorKind = "not_found"
	// Gone: 410, a watch fell too far behind and relists (usually harmless).
	Gone ErrorKind = "gone"
	// Unreachable: the API server could not be reached or did not answer
	// in time, or said it is unavailable (503, 504).
	Unreachable ErrorKind = "unreachable"
	// Other: the API answered with some other error.
	Other ErrorKind = "other"
)

// Classify says what kind of failure err is.
func Classify(err error) ErrorKind {
	var (
		netErr net.Error
		status apierrors.APIStatus
	)
	switch {
	case err == nil:
		return ""
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err):
		return Forbidden
	case apierrors.IsNotFound(err):
		return NotFound
	case apierrors.IsGone(err), apierrors.IsResourceExpired(err):
		return Gone
	case apierrors.IsServiceUnavailable(err), apierrors.IsTimeout(err), apierrors.IsServerTimeout(err):
		return Unreachable
	case errors.As(err, &status):
		return Other // the API answered: container not started, bad request, ...
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr):
		return Unreachable
	default:
		return Other
	}
}

// Unusable reports whether err says the API cannot be used at all with
// these credentials: it did not answer, or it does not accept them. A
// reader that meets it stops, where a 403 on one resource only means that
// one piece of evidence is missing.
func Unusable(err error) bool {
	if apierrors.IsUnauthorized(err) {
		return true
	}
	var status apierrors.APIStatus
	return err != nil && !errors.As(err, &status)
}
