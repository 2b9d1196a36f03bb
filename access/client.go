package access

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies are the reverse proxies whose X-Forwarded-For and Forwarded
// headers are believed. The zero value trusts none: every request's
// address is its connection's peer.
type Proxies struct {
	nets []netip.Prefix
}

// ParseProxies parses CIDRs ("10.0.0.0/8") or single addresses
// ("127.0.0.1", "::1").
func ParseProxies(cidrs []string) (Proxies, error) {
	var p Proxies
	for _, c := range cidrs {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		pre, err := netip.ParsePrefix(c)
		if err != nil {
			a, aerr := netip.ParseAddr(c)
			if aerr != nil {
				return Proxies{}, fmt.Errorf("trusted proxy %q: not an address or CIDR", c)
			}
			pre = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		p.nets = append(p.nets, pre.Masked())
	}
	return p, nil
}

// Len returns the number of trusted networks.
func (p Proxies) Len() int { return len(p.nets) }

func (p Proxies) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, n := range p.nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// maxHops bounds how many forwarded addresses are looked at.
const maxHops = 32

// ClientAddr returns the address of the client that sent r: the
// connection's peer, or, when the peer is a trusted proxy, the last
// address before it that is not a trusted proxy in the Forwarded header
// (RFC 7239), or else in X-Forwarded-For. An address from a header is
// returned without a port ("192.0.2.7"); the peer as Go gives it
// ("192.0.2.7:50123"). This is the one place that derives it: the server
// puts it in r.RemoteAddr for check-ins, logs and limits.
func (p Proxies) ClientAddr(r *http.Request) string {
	if len(p.nets) == 0 {
		return r.RemoteAddr
	}
	peer, ok := RemoteIP(r.RemoteAddr)
	if !ok || !p.trusted(peer) {
		return r.RemoteAddr
	}
	var hops []netip.Addr
	if f := r.Header.Values("Forwarded"); len(f) > 0 {
		hops = forwardedFor(f)
	} else {
		hops = xForwardedFor(r.Header.Values("X-Forwarded-For"))
	}
	// Right to left: the proxies nearest to the server come last; the
	// first untrusted address is the client. Everything left of it can be
	// made up by the client.
	for i := len(hops) - 1; i >= 0; i-- {
		if !p.trusted(hops[i]) || i == 0 {
			return hops[i].Unmap().String()
		}
	}
	return r.RemoteAddr
}

// RemoteIP parses an address as r.RemoteAddr holds it: "ip:port",
// "[v6]:port" or a bare IP.
func RemoteIP(addr string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return ap.Addr().Unmap(), true
	}
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	a, err := netip.ParseAddr(strings.Trim(addr, "[]"))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// xForwardedFor returns the addresses of X-Forwarded-For headers, the
// last maxHops of them; an entry that is not an address ends the list
// there (what follows it is all that can be trusted to be in order).
func xForwardedFor(values []string) []netip.Addr {
	var out []netip.Addr
	for _, v := range values {
		for _, e := range strings.Split(v, ",") {
			a, ok := RemoteIP(strings.TrimSpace(e))
			if !ok {
				out = out[:0]
				continue
			}
			out = append(out, a)
		}
	}
	if len(out) > maxHops {
		out = out[len(out)-maxHops:]
	}
	return out
}

// forwardedFor returns the for= addresses of Forwarded headers
// (RFC 7239: `for=192.0.2.60;proto=http, for="[2001:db8::1]:4711"`).
// Obfuscated or unknown identifiers reset the list, as in xForwardedFor.
func forwardedFor(values []string) []netip.Addr {
	var out []netip.Addr
	for _, v := range values {
		for _, elem := range strings.Split(v, ",") {
			var found bool
			for _, pair := range strings.Split(elem, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(k), "for") {
					continue
				}
				found = true
				a, ok := RemoteIP(strings.Trim(strings.TrimSpace(val), `"`))
				if !ok {
					out = out[:0]
					break
				}
				out = append(out, a)
				break
			}
			if !found {
				out = out[:0]
			}
		}
	}
	if len(out) > maxHops {
		out = out[len(out)-maxHops:]
	}
	return out
}
