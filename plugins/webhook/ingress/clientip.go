package ingress

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// ProxyList is a set of trusted proxy networks. A nil list trusts nobody.
type ProxyList struct {
	prefixes []netip.Prefix
}

// ParseProxyList parses CIDRs or single addresses.
func ParseProxyList(entries []string) (*ProxyList, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	l := &ProxyList{}
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if p, err := netip.ParsePrefix(e); err == nil {
			l.prefixes = append(l.prefixes, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(e)
		if err != nil {
			return nil, fmt.Errorf("parsing trusted proxy %q: not a CIDR or IP address", e)
		}
		a = a.Unmap()
		l.prefixes = append(l.prefixes, netip.PrefixFrom(a, a.BitLen()))
	}
	return l, nil
}

// Contains reports whether addr belongs to a trusted network.
func (l *ProxyList) Contains(addr netip.Addr) bool {
	if l == nil {
		return false
	}
	addr = addr.Unmap()
	for _, p := range l.prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// ClientIP returns the client address of r and whether the socket peer is a
// trusted proxy. X-Forwarded-For is read only when the peer is trusted, from
// the right, skipping trusted hops: the first untrusted address is the
// client (anything further left was written by the client and can be
// forged).
func (l *ProxyList) ClientIP(r *http.Request) (string, bool) {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		// Not an IP:port (unusual listeners); report it verbatim.
		return r.RemoteAddr, false
	}
	peerAddr := peer.Addr().Unmap()
	if !l.Contains(peerAddr) {
		return peerAddr.String(), false
	}
	hops := r.Header.Values("X-Forwarded-For")
	client := peerAddr
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				// A malformed hop ends the trustworthy chain.
				return client.String(), true
			}
			client = a.Unmap()
			if !l.Contains(client) {
				return client.String(), true
			}
		}
	}
	return client.String(), true
}
