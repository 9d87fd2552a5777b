// Package testnet hands tests and benches the loopback addresses they
// configure servers with.
package testnet

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"testing"
)

// Ports are drawn below Linux's ephemeral range (32768-60999 by default),
// which the kernel hands to outgoing connections and to Listen(":0"): a port
// picked there and released can be taken, before the server under test
// binds it, by any parallel test's outgoing connection.
const lowPort, highPort = 20000, 32767

// Port returns a loopback port that was free a moment ago, for a server that
// must be configured by port (Benthos http_server, emulators, brokers).
func Port() (int, error) {
	for range 100 {
		port := lowPort + rand.IntN(highPort-lowPort+1)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		l.Close()
		return port, nil
	}
	return 0, fmt.Errorf("testnet: no free port in %d-%d", lowPort, highPort)
}

// Addr is Port as "127.0.0.1:port".
func Addr() (string, error) {
	port, err := Port()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), err
}

// FreePort is Port for a test, which it fails when no port is free.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := Port()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// FreeAddr is FreePort as "127.0.0.1:port".
func FreeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
}
