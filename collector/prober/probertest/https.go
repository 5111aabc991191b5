package probertest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
)

// HTTPSOptions configures an HTTPSServer.
type HTTPSOptions struct {
	Addr string          // listen address; default 127.0.0.1:0 ("[::1]:0" for IPv6)
	Cert tls.Certificate // required

	// Status is the status code of every response (default 200), unless
	// Handler is set.
	Status  int
	Handler http.Handler

	// MinVersion and MaxVersion limit the TLS versions served (0: Go's
	// defaults); MaxVersion below TLS 1.2 makes Go clients fail the
	// handshake with a protocol_version alert.
	MinVersion, MaxVersion uint16
}

// Request is what an HTTPSServer saw of one request.
type Request struct {
	Method, Host, Path string
}

// HTTPSServer is an HTTPS server on loopback that records the requests it
// answers.
type HTTPSServer struct {
	Addr string // host:port it listens on
	Cert tls.Certificate

	srv    *http.Server
	t      *tracker
	served chan error

	mu   sync.Mutex
	reqs []Request

	once sync.Once
	err  error
}

// NewHTTPSServer starts an HTTPS server (HTTP/1.1).
func NewHTTPSServer(opts HTTPSOptions) (*HTTPSServer, error) {
	if len(opts.Cert.Certificate) == 0 {
		return nil, errors.New("HTTPS server: no certificate")
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("HTTPS server: listen on %s: %w", addr, err)
	}
	s := &HTTPSServer{Addr: ln.Addr().String(), Cert: opts.Cert, t: newTracker(), served: make(chan error, 1)}
	h := opts.Handler
	if h == nil {
		h = statusHandler(opts.Status)
	}
	s.srv = &http.Server{
		Handler: s.record(h),
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{opts.Cert},
			MinVersion:   opts.MinVersion,
			MaxVersion:   opts.MaxVersion,
			NextProtos:   []string{"http/1.1"},
		},
		// Handshake errors are the point of several tests; keep them
		// off stderr.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	tl := tls.NewListener(&trackingListener{Listener: ln, t: s.t}, s.srv.TLSConfig)
	go func() { s.served <- s.srv.Serve(tl) }()
	return s, nil
}

func statusHandler(code int) http.Handler {
	if code == 0 {
		code = http.StatusOK
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(code)
		fmt.Fprintf(w, "%d %s\n", code, http.StatusText(code))
	})
}

// record notes each request and counts the handler as running, so that
// Close can wait for it.
func (s *HTTPSServer) record(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.t.add()
		defer s.t.done()
		s.mu.Lock()
		s.reqs = append(s.reqs, Request{Method: r.Method, Host: r.Host, Path: r.URL.Path})
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

// Port is the port the server listens on.
func (s *HTTPSServer) Port() int { return portOf(s.Addr) }

// Requests returns the requests answered so far.
func (s *HTTPSServer) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Close stops the server, closes every connection (hijacked ones too) and
// waits for its handlers to return.
func (s *HTTPSServer) Close() error {
	s.once.Do(func() {
		s.srv.Close()
		s.err = s.t.stop(s.served, "HTTPS server "+s.Addr)
	})
	return s.err
}

// HangHandler never answers: it returns only when the client goes away or
// the server closes. A prober sees an HTTP timeout.
func HangHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
}

// CloseHandler closes the connection without answering: the TLS handshake
// worked, the HTTP exchange fails.
func CloseHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hj, ok := w.(http.Hijacker)
		if !ok {
			panic("probertest: CloseHandler needs an HTTP/1 connection")
		}
		c, _, err := hj.Hijack()
		if err != nil {
			return
		}
		c.Close()
	})
}

// RedirectHandler answers every request with a 302 to location.
func RedirectHandler(location string) http.Handler {
	return http.RedirectHandler(location, http.StatusFound)
}
