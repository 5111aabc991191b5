package probertest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"
)

// Blackhole is a loopback address where a TCP connect hangs: a listening
// socket whose accept queue is full and never drained. Linux drops the SYNs
// of further connects, so the client retransmits until its deadline, as
// it would against a host that drops packets.
type Blackhole struct {
	Addr string

	fd     int
	fills  []net.Conn
	once   sync.Once
	closed error
}

// fillTimeout is how long one filling connect may take before the queue
// counts as full. Loopback connects that are accepted by the kernel take
// microseconds.
const fillTimeout = 200 * time.Millisecond

// NewBlackhole creates the listener with a backlog of zero and fills its
// accept queue; it returns once a connect has been seen to hang.
func NewBlackhole() (*Blackhole, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("blackhole socket: %w", err)
	}
	b := &Blackhole{fd: fd}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		b.Close()
		return nil, fmt.Errorf("blackhole bind: %w", err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		b.Close()
		return nil, fmt.Errorf("blackhole listen: %w", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("blackhole address: %w", err)
	}
	in4, ok := sa.(*syscall.SockaddrInet4)
	if !ok {
		b.Close()
		return nil, fmt.Errorf("blackhole address: unexpected %T", sa)
	}
	b.Addr = fmt.Sprintf("127.0.0.1:%d", in4.Port)

	// The kernel's idea of "full" depends on its version; connect until
	// one hangs rather than assume a count.
	const maxFill = 16
	for range maxFill {
		ctx, cancel := context.WithTimeout(context.Background(), fillTimeout)
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", b.Addr)
		cancel()
		if err == nil {
			b.fills = append(b.fills, c)
			continue
		}
		if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			return b, nil
		}
		b.Close()
		return nil, fmt.Errorf("blackhole %s: filling the accept queue: %w", b.Addr, err)
	}
	b.Close()
	return nil, fmt.Errorf("blackhole %s: still accepting after %d connects", b.Addr, maxFill)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Port is the port of the blackhole.
func (b *Blackhole) Port() int { return portOf(b.Addr) }

// Close releases the listening socket and the connections that fill it.
func (b *Blackhole) Close() error {
	b.once.Do(func() {
		for _, c := range b.fills {
			c.Close()
		}
		b.closed = syscall.Close(b.fd)
	})
	return b.closed
}
