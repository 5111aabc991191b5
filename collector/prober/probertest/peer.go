package probertest

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// closeWait bounds how long Close waits for a peer's goroutines to end.
const closeWait = 5 * time.Second

// tracker counts the connections and goroutines a peer owns, closes the
// connections on shutdown and waits for the count to reach zero.
type tracker struct {
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	running int // goroutines and open connections
	total   int // connections ever accepted
	closed  bool
	changed chan struct{} // closed and replaced whenever running changes
}

func newTracker() *tracker {
	return &tracker{conns: map[net.Conn]struct{}{}, changed: make(chan struct{})}
}

// add counts one more goroutine or connection.
func (t *tracker) add() {
	t.mu.Lock()
	t.running++
	t.notifyLocked()
	t.mu.Unlock()
}

func (t *tracker) done() {
	t.mu.Lock()
	t.running--
	t.notifyLocked()
	t.mu.Unlock()
}

func (t *tracker) notifyLocked() {
	close(t.changed)
	t.changed = make(chan struct{})
}

// track registers c; the returned conn forgets itself on Close. A conn
// arriving after shutdown is closed at once.
func (t *tracker) track(c net.Conn) net.Conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.total++
	if t.closed {
		c.Close()
		return c
	}
	t.conns[c] = struct{}{}
	t.running++
	t.notifyLocked()
	return &trackedConn{Conn: c, t: t}
}

func (t *tracker) forget(c net.Conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.conns[c]; ok {
		delete(t.conns, c)
		t.running--
		t.notifyLocked()
	}
}

// shutdown closes every tracked connection; later ones are refused.
func (t *tracker) shutdown() {
	t.mu.Lock()
	t.closed = true
	conns := make([]net.Conn, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	for _, c := range conns {
		c.Close()
		t.forget(c)
	}
}

// stop closes every tracked connection, then waits up to closeWait for the
// serve loop to return on served (nil: there is none) and for everything
// tracked to end. what names the server in the error.
func (t *tracker) stop(served <-chan error, what string) error {
	t.shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), closeWait)
	defer cancel()
	if served != nil {
		select {
		case <-served:
		case <-ctx.Done():
			return fmt.Errorf("close %s: serve loop still running", what)
		}
	}
	if err := t.wait(ctx); err != nil {
		return fmt.Errorf("close %s: %w", what, err)
	}
	return nil
}

// wait blocks until nothing runs any more or ctx ends.
func (t *tracker) wait(ctx context.Context) error {
	for {
		t.mu.Lock()
		n, ch := t.running, t.changed
		t.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%d connections or goroutines still running: %w", n, ctx.Err())
		}
	}
}

func (t *tracker) counts() (open, total int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns), t.total
}

type trackedConn struct {
	net.Conn
	t    *tracker
	once sync.Once
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.t.forget(c.Conn) })
	return err
}

// trackingListener registers every accepted connection with a tracker.
type trackingListener struct {
	net.Listener
	t *tracker
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.t.track(c), nil
}

// Peer is a loopback TCP server that treats every connection the same way.
type Peer struct {
	Addr string // host:port it listens on
	ln   net.Listener
	t    *tracker
	once sync.Once
	err  error
}

// newPeer listens on addr and runs handle for each connection, closing the
// connection when handle returns.
func newPeer(addr string, handle func(net.Conn)) (*Peer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	p := &Peer{Addr: ln.Addr().String(), t: newTracker()}
	p.ln = &trackingListener{Listener: ln, t: p.t}
	p.t.add()
	go func() {
		defer p.t.done()
		for {
			c, err := p.ln.Accept()
			if err != nil {
				return
			}
			p.t.add()
			go func() {
				defer p.t.done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return p, nil
}

// Port is the port the peer listens on.
func (p *Peer) Port() int { return portOf(p.Addr) }

// Open is the number of connections the peer holds now.
func (p *Peer) Open() int { open, _ := p.t.counts(); return open }

// Accepted is the number of connections the peer has accepted.
func (p *Peer) Accepted() int { _, total := p.t.counts(); return total }

// WaitIdle waits until the peer holds no connection (the client side
// closed them all) or ctx ends.
func (p *Peer) WaitIdle(ctx context.Context) error {
	for {
		p.t.mu.Lock()
		n, ch := len(p.t.conns), p.t.changed
		p.t.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("peer %s still holds %d connections: %w", p.Addr, n, ctx.Err())
		}
	}
}

// Close stops listening, closes every connection and waits for the
// peer's goroutines to end.
func (p *Peer) Close() error {
	p.once.Do(func() {
		p.ln.Close()
		p.err = p.t.stop(nil, "peer "+p.Addr)
	})
	return p.err
}

// NewSilentServer accepts TCP connections and reads from them, but never
// answers: a TLS client's handshake hangs until its deadline. This is the
// incident's symptom (packets dropped behind an established connection).
func NewSilentServer() (*Peer, error) {
	return newPeer("127.0.0.1:0", func(c net.Conn) { io.Copy(io.Discard, c) })
}

// NewClosingServer closes every connection as soon as it is accepted: a
// TLS client sees EOF (or a reset) during the handshake.
func NewClosingServer() (*Peer, error) {
	return newPeer("127.0.0.1:0", func(net.Conn) {})
}

// RefusedAddr returns a loopback address with nothing listening on it, so
// a connect gets RST. The port was free a moment ago; another process could
// take it in between, which on a test machine is rare.
func RefusedAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return "", fmt.Errorf("free port %s: %w", addr, err)
	}
	return addr, nil
}

func portOf(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}

// Port is the port of a host:port address, 0 if it has none.
func Port(addr string) int { return portOf(addr) }
