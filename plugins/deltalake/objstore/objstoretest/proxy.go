package objstoretest

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy is a loopback TCP forwarder placed between a client and a storage
// server, used to simulate outages: Cut drops every connection and refuses
// new ones (a crashed server), Stall accepts connections but never answers
// (a hung server), Restore goes back to forwarding.
type Proxy struct {
	ln     net.Listener
	mu     sync.Mutex
	target string
	mode   proxyMode
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
	closed bool
}

type proxyMode int

const (
	proxyForward proxyMode = iota
	proxyCut
	proxyStall
)

// NewProxy listens on a free loopback port and forwards to target
// ("host:port"), which may be set later with SetTarget. It is closed when
// the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("starting proxy: %v", err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's "host:port".
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL is "http://" + Addr().
func (p *Proxy) URL() string { return "http://" + p.Addr() }

// SetTarget changes where new connections are forwarded.
func (p *Proxy) SetTarget(target string) {
	p.mu.Lock()
	p.target = target
	p.mu.Unlock()
}

// Cut closes every open connection and resets new ones until Restore.
func (p *Proxy) Cut() { p.setMode(proxyCut) }

// Stall closes every open connection and then holds new ones open without
// forwarding a byte until Restore.
func (p *Proxy) Stall() { p.setMode(proxyStall) }

// Restore resumes forwarding for new connections.
func (p *Proxy) Restore() { p.setMode(proxyForward) }

func (p *Proxy) setMode(m proxyMode) {
	p.mu.Lock()
	p.mode = m
	var open []net.Conn
	if m != proxyForward {
		for c := range p.conns {
			open = append(open, c)
		}
	}
	p.mu.Unlock()
	for _, c := range open {
		_ = c.Close()
	}
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	var open []net.Conn
	for c := range p.conns {
		open = append(open, c)
	}
	p.mu.Unlock()
	_ = p.ln.Close()
	for _, c := range open {
		_ = c.Close()
	}
	p.wg.Wait()
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		mode, target := p.mode, p.target
		p.mu.Unlock()
		switch mode {
		case proxyCut:
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // reset, like a refused connection
			}
			_ = c.Close()
			continue
		case proxyStall:
			if !p.track(c) {
				_ = c.Close()
				continue
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				defer p.untrack(c)
				_, _ = io.Copy(io.Discard, c) // until the client gives up or Restore/Close
			}()
			continue
		}
		p.wg.Add(1)
		go p.forward(c, target)
	}
}

func (p *Proxy) forward(c net.Conn, target string) {
	defer p.wg.Done()
	if !p.track(c) {
		_ = c.Close()
		return
	}
	defer p.untrack(c)
	up, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	if !p.track(up) {
		_ = up.Close()
		return
	}
	defer p.untrack(up)
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done // either side ending ends both (the deferred untracks close them)
}
