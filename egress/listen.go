package egress

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// ParseClients parses a list of networks, as --clients takes them: CIDRs
// separated by commas.
func ParseClients(s string) ([]netip.Prefix, error) {
	var ps []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		pr, err := netip.ParsePrefix(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("%q is not a network in CIDR form (10.213.0.0/16)", strings.TrimSpace(f))
		}
		ps = append(ps, pr)
	}
	return ps, nil
}

// Listen opens the proxy's listeners on addr. With clients, an addr of no
// host (":3128") becomes one listener per address of this machine inside
// clients: the egress then does not even listen on its external network,
// where the host and other containers reach it.
func Listen(addr string, clients []netip.Prefix) ([]net.Listener, error) {
	addrs := []string{addr}
	if host, port, err := net.SplitHostPort(addr); err == nil && host == "" && len(clients) > 0 {
		own, err := net.InterfaceAddrs()
		if err != nil {
			return nil, fmt.Errorf("--clients: listing this machine's addresses: %v", err)
		}
		if addrs, err = clientAddrs(port, clients, own); err != nil {
			return nil, err
		}
	}
	var lns []net.Listener
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, err
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

// clientAddrs is host:port for each of own inside clients, or an error
// naming both when none is.
func clientAddrs(port string, clients []netip.Prefix, own []net.Addr) ([]string, error) {
	var addrs, have []string
	for _, a := range own {
		ipnet, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipnet.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		have = append(have, ip.String())
		for _, pr := range clients {
			if pr.Contains(ip) {
				addrs = append(addrs, net.JoinHostPort(ip.String(), port))
				break
			}
		}
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("--clients %s: no address of this machine is inside them (it has %s); give --listen HOST:PORT, or the network this container is on", prefixList(clients), strings.Join(have, ", "))
	}
	return addrs, nil
}
