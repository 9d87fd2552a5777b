// Package ingress is a hardened net/http ingress for webhooks on the open
// internet: shared listeners keyed by address, exact-path routing, request
// limits (body size, content types, timeouts, header size), trusted-proxy
// aware client addresses and a delivery-id de-duplication store. It has no
// Benthos dependency; the webhook_server input builds on it.
package ingress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// ServerConfig holds the listener-level settings. Every endpoint sharing an
// address must agree on them, because one http.Server serves them all.
type ServerConfig struct {
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	CertFile          string
	KeyFile           string
}

// DefaultServerConfig returns conservative limits for an internet-facing
// listener.
func DefaultServerConfig() ServerConfig {
	return ServerConfig{
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      20 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    32 << 10,
	}
}

// Server is one listener shared by every endpoint registered on its address.
// It is reference counted: the listener closes when the last user releases it.
type Server struct {
	key  string
	conf ServerConfig
	ln   net.Listener
	http *http.Server

	routesMu sync.Mutex                              // serialises writers of routes
	routes   atomic.Pointer[map[string]http.Handler] // read lock-free per request

	refs     int // guarded by registry.mu
	serveErr chan error
}

var registry = struct {
	mu      sync.Mutex
	servers map[string]*Server
}{servers: map[string]*Server{}}

// Acquire returns the server listening on address, starting it if needed.
// Every successful Acquire must be paired with one Release. Acquiring an
// address that is already served with different ServerConfig fails, so that
// two configurations cannot silently disagree about limits.
func Acquire(address string, conf ServerConfig) (*Server, error) {
	registry.mu.Lock()
	defer registry.mu.Unlock()

	if s, ok := registry.servers[address]; ok {
		if s.conf != conf {
			return nil, fmt.Errorf("address %v is already served with different server settings (timeouts, max_header_bytes or tls): every endpoint on one address must use the same ones", address)
		}
		s.refs++
		return s, nil
	}

	s, err := startServer(address, conf)
	if err != nil {
		return nil, err
	}
	s.refs = 1
	registry.servers[address] = s
	return s, nil
}

func startServer(address string, conf ServerConfig) (*Server, error) {
	var tlsConf *tls.Config
	if conf.CertFile != "" || conf.KeyFile != "" {
		if conf.CertFile == "" || conf.KeyFile == "" {
			return nil, errors.New("both cert_file and key_file must be set to serve TLS")
		}
		cert, err := tls.LoadX509KeyPair(conf.CertFile, conf.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("loading TLS key pair: %w", err)
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}

	ln, err := net.Listen("tcp", address)
	if err != nil {
		return nil, fmt.Errorf("listening on %v: %w", address, err)
	}
	if tlsConf != nil {
		ln = tls.NewListener(ln, tlsConf)
	}

	s := &Server{key: address, conf: conf, ln: ln, serveErr: make(chan error, 1)}
	empty := map[string]http.Handler{}
	s.routes.Store(&empty)
	s.http = &http.Server{
		Handler:           http.HandlerFunc(s.route),
		ReadHeaderTimeout: conf.ReadHeaderTimeout,
		ReadTimeout:       conf.ReadTimeout,
		WriteTimeout:      conf.WriteTimeout,
		IdleTimeout:       conf.IdleTimeout,
		MaxHeaderBytes:    conf.MaxHeaderBytes,
		// Connection-level errors (TLS handshakes, malformed requests) are
		// noise from the internet, not operator-relevant failures.
		ErrorLog: discardLogger,
	}
	go func() { s.serveErr <- s.http.Serve(ln) }()
	return s, nil
}

// Addr is the address the listener is bound to (useful with port 0).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Handle routes requests whose URL path equals path to h. A path can be
// registered once per server.
func (s *Server) Handle(path string, h http.Handler) error {
	if path == "" || path[0] != '/' {
		return fmt.Errorf("path %q must start with /", path)
	}
	s.routesMu.Lock()
	defer s.routesMu.Unlock()
	cur := *s.routes.Load()
	if _, exists := cur[path]; exists {
		return fmt.Errorf("path %v is already served on %v", path, s.key)
	}
	next := make(map[string]http.Handler, len(cur)+1)
	for k, v := range cur {
		next[k] = v
	}
	next[path] = h
	s.routes.Store(&next)
	return nil
}

// Remove stops routing path; later requests for it get 404.
func (s *Server) Remove(path string) {
	s.routesMu.Lock()
	defer s.routesMu.Unlock()
	cur := *s.routes.Load()
	if _, exists := cur[path]; !exists {
		return
	}
	next := make(map[string]http.Handler, len(cur))
	for k, v := range cur {
		if k != path {
			next[k] = v
		}
	}
	s.routes.Store(&next)
}

// Release drops one reference; the last one shuts the listener down, waiting
// for in-flight requests until ctx is done.
func (s *Server) Release(ctx context.Context) error {
	registry.mu.Lock()
	s.refs--
	last := s.refs == 0
	if last {
		delete(registry.servers, s.key)
	}
	registry.mu.Unlock()
	if !last {
		return nil
	}
	err := s.http.Shutdown(ctx)
	if err != nil {
		_ = s.http.Close()
	}
	if serr := <-s.serveErr; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	if h, ok := (*s.routes.Load())[r.URL.Path]; ok {
		h.ServeHTTP(w, r)
		return
	}
	WriteError(w, http.StatusNotFound, 0)
}

// Lookup reports the bound address of the server registered under address,
// if any. It lets callers that asked for port 0 learn the real port.
func Lookup(address string) (net.Addr, bool) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	s, ok := registry.servers[address]
	if !ok {
		return nil, false
	}
	return s.Addr(), true
}
