package egress

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// specialBlocks are the addresses the egress does not dial unless the
// route opts in with private: loopback, private-use, link-local and the
// other special-purpose blocks of IANA's registries (RFC 6890 and its
// successors), multicast and reserved space. A name that resolves to one
// (DNS rebinding, a wildcard route over a domain the agent's author
// controls, 169.254.169.254 for cloud metadata) reaches the operator's
// machines, not the internet. More specific blocks come first: the first
// that holds an address names its class.
var specialBlocks = []struct {
	block netip.Prefix
	class string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "this-network"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private-use"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared address space"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private-use"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignments"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
	{netip.MustParsePrefix("192.88.99.0/24"), "6to4 relay anycast"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private-use"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("::/96"), "IPv4-compatible"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64"},
	{netip.MustParsePrefix("100::/64"), "discard-only"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
	{netip.MustParsePrefix("2001::/23"), "IETF protocol assignments"},
	{netip.MustParsePrefix("fc00::/7"), "unique-local"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fec0::/10"), "site-local"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

// IPv6 blocks that carry an IPv4 address: what they reach is that
// address's, so they are as special as it is. (IPv4-mapped
// ::ffff:a.b.c.d is unmapped before anything else.)
var embeddingBlocks = []struct {
	block  netip.Prefix
	class  string
	offset int // of the IPv4 address in the 16 bytes
}{
	{netip.MustParsePrefix("64:ff9b::/96"), "NAT64", 12},
	{netip.MustParsePrefix("::ffff:0:0:0/96"), "IPv4-translated", 12},
	{netip.MustParsePrefix("2002::/16"), "6to4", 2},
}

// privateAddrError is a dial refused because the address is special.
type privateAddrError struct {
	addr netip.Addr
	what string // "private-use 10.0.0.0/8"
}

func (e *privateAddrError) Error() string {
	return fmt.Sprintf("private address %s (%s)", e.addr, e.what)
}

// specialAddr reports whether a is in a special-purpose block, and which
// ("private-use 10.0.0.0/8"; "NAT64 64:ff9b::/96 of loopback 127.0.0.0/8").
func specialAddr(a netip.Addr) (what string, special bool) {
	a = a.WithZone("").Unmap()
	for _, e := range embeddingBlocks {
		if e.block.Contains(a) {
			b := a.As16()
			inner := netip.AddrFrom4([4]byte(b[e.offset : e.offset+4]))
			if w, ok := specialAddr(inner); ok {
				return fmt.Sprintf("%s %s of %s", e.class, e.block, w), true
			}
			return "", false
		}
	}
	for _, s := range specialBlocks {
		if s.block.Contains(a) {
			return s.class + " " + s.block.String(), true
		}
	}
	return "", false
}

// checkAddr returns a *privateAddrError when a is special and allow (a
// route's private: networks) does not hold it, or the IPv4 address it
// embeds.
func checkAddr(a netip.Addr, allow []netip.Prefix) error {
	a = a.WithZone("").Unmap()
	what, special := specialAddr(a)
	if !special {
		return nil
	}
	for _, pr := range allow {
		if pr.Contains(a) {
			return nil
		}
		for _, e := range embeddingBlocks {
			if b := a.As16(); e.block.Contains(a) && pr.Contains(netip.AddrFrom4([4]byte(b[e.offset:e.offset+4]))) {
				return nil
			}
		}
	}
	return &privateAddrError{addr: a, what: what}
}

// dialPolicy travels in a dial's context to the dialer's Control
// function, which sees every address the dial tries: a name that resolves
// to several is checked address by address, at the moment of connect(2),
// so there is no window between a check and the dial.
type dialPolicy struct {
	allow  []netip.Prefix // the route's private: networks
	exempt bool           // the operator's own next proxy (--upstream)
}

type dialPolicyKey struct{}

// dial connects to hostport (after Config.Resolve) for a route whose
// private: networks are allow.
func (p *Proxy) dial(ctx context.Context, hostport string, allow []netip.Prefix) (net.Conn, error) {
	return p.dialWith(ctx, hostport, &dialPolicy{allow: allow})
}

// dialNextProxy connects to Config.Upstream, which is exempt from the
// address check: the operator named it (pipelock, a sibling sidecar on a
// private network), and it resolves and dials the real hosts itself.
func (p *Proxy) dialNextProxy(ctx context.Context) (net.Conn, error) {
	return p.dialWith(ctx, p.upstreamAddr(), &dialPolicy{exempt: true})
}

func (p *Proxy) dialWith(ctx context.Context, hostport string, pol *dialPolicy) (net.Conn, error) {
	if p.cfg.Resolve != nil {
		hostport = p.cfg.Resolve(hostport)
	}
	c, err := p.dialer.DialContext(context.WithValue(ctx, dialPolicyKey{}, pol), "tcp", hostport)
	if err != nil {
		return nil, err
	}
	return wrapRaw(c), nil
}

// checkedDialer is d (a copy) with the address check in front of its own
// Control functions.
func checkedDialer(d net.Dialer) *net.Dialer {
	control, controlCtx := d.Control, d.ControlContext
	d.Control = nil
	d.ControlContext = func(ctx context.Context, network, address string, c syscall.RawConn) error {
		pol, _ := ctx.Value(dialPolicyKey{}).(*dialPolicy)
		if pol == nil || !pol.exempt {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("dialling %q: not an address", address)
			}
			var allow []netip.Prefix
			if pol != nil {
				allow = pol.allow
			}
			if err := checkAddr(ap.Addr(), allow); err != nil {
				return err
			}
		}
		if controlCtx != nil {
			return controlCtx(ctx, network, address, c)
		}
		if control != nil {
			return control(network, address, c)
		}
		return nil
	}
	return &d
}
