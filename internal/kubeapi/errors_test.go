package kubeapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestClassify(t *testing.T) {
	pods := schema.GroupResource{Resource: "pods"}
	tests := []struct {
		name     string
		err      error
		want     ErrorKind
		unusable bool
	}{
		{"nil", nil, "", false},
		{"403", apierrors.NewForbidden(pods, "p", errors.New("RBAC: denied")), Forbidden, false},
		{"403 wrapped", fmt.Errorf("list pods: %w", apierrors.NewForbidden(pods, "", errors.New("denied"))), Forbidden, false},
		{"401", apierrors.NewUnauthorized("token expired"), Forbidden, true},
		{"404", apierrors.NewNotFound(pods, "p"), NotFound, false},
		{"410", apierrors.NewGone("too old resource version"), Gone, false},
		{"resource expired", apierrors.NewResourceExpired("too old resource version: 1 (5)"), Gone, false},
		{"503", apierrors.NewServiceUnavailable("apiserver is shutting down"), Unreachable, false},
		{"504", apierrors.NewTimeoutError("request timed out", 1), Unreachable, false},
		{"400", apierrors.NewBadRequest("container is waiting to start"), Other, false},
		{"500", apierrors.NewInternalError(errors.New("kubelet said no")), Other, false},
		{"dial refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, Unreachable, true},
		{"bare ECONNREFUSED", syscall.ECONNREFUSED, Unreachable, true},
		{"connection reset", fmt.Errorf("read: %w", syscall.ECONNRESET), Unreachable, true},
		{"unexpected EOF", io.ErrUnexpectedEOF, Unreachable, true},
		{"deadline", context.DeadlineExceeded, Unreachable, true},
		{"plain error", errors.New("unable to decode an event from the watch stream"), Other, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.err); got != tt.want {
				t.Errorf("Classify(%v) = %q, want %q", tt.err, got, tt.want)
			}
			if got := Unusable(tt.err); got != tt.unusable {
				t.Errorf("Unusable(%v) = %v, want %v", tt.err, got, tt.unusable)
			}
		})
	}
}
