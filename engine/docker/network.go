package docker

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/bottle-sh/bottle/engine"
)

// DefaultSubnetPool is where NetworkCreate finds /24s for networks given no
// subnet; $BOTTLE_SUBNET_POOL overrides it.
const DefaultSubnetPool = "10.213.0.0/16"

// NetworkCreate creates a bridge network (internal when asked). With no subnet
// it takes the first /24 of the pool that no existing network overlaps, and
// moves on to the next one when the daemon still reports an overlap.
func (e *Engine) NetworkCreate(ctx context.Context, spec engine.NetworkSpec) (engine.Network, error) {
	if err := e.ready(ctx); err != nil {
		return engine.Network{}, err
	}
	const step = "network_create"
	existing, err := e.api.NetworkList(ctx, client.NetworkListOptions{})
	if err != nil {
		return engine.Network{}, fail(step, spec.Name, err)
	}
	var used []netip.Prefix
	for _, n := range existing.Items {
		if n.Name == spec.Name {
			return engine.Network{}, fmt.Errorf("%s %s: a network with this name already exists (id %.12s); "+
				"remove it (network_remove or `docker network rm %s`) or choose another name", step, spec.Name, n.ID, spec.Name)
		}
		for _, c := range n.IPAM.Config {
			if c.Subnet.IsValid() {
				used = append(used, c.Subnet)
			}
		}
	}

	if spec.Subnet != "" {
		p, err := netip.ParsePrefix(spec.Subnet)
		if err != nil {
			return engine.Network{}, fmt.Errorf("%s %s: subnet %q is not a CIDR: %v", step, spec.Name, spec.Subnet, err)
		}
		id, err := e.createNetwork(ctx, spec, p)
		if err != nil {
			return engine.Network{}, fail(step, spec.Name, err)
		}
		return e.claimName(ctx, step, spec.Name, id)
	}

	pool, err := subnetPool()
	if err != nil {
		return engine.Network{}, fmt.Errorf("%s %s: %v", step, spec.Name, err)
	}
	var lastErr error
	for p := range freeSubnets(pool, used) {
		id, err := e.createNetwork(ctx, spec, p)
		if err == nil {
			return e.claimName(ctx, step, spec.Name, id)
		}
		if !isOverlap(err) {
			return engine.Network{}, fail(step, spec.Name, err)
		}
		lastErr = err // a network made since we listed took it: try the next
	}
	if lastErr != nil {
		return engine.Network{}, fmt.Errorf("%s %s: no free /24 left in %s (last try: %v); "+
			"remove unused networks or set BOTTLE_SUBNET_POOL to a larger private range", step, spec.Name, pool, trimAPIError(lastErr))
	}
	return engine.Network{}, fmt.Errorf("%s %s: every /24 in %s overlaps an existing network; "+
		"remove unused networks or set BOTTLE_SUBNET_POOL to another private range", step, spec.Name, pool)
}

// inhibitIPv4 is the bridge driver option that leaves the bridge without an
// IPv4 address (its IPAM gateway is then nobody's).
const inhibitIPv4 = "com.docker.network.bridge.inhibit_ipv4"

func (e *Engine) createNetwork(ctx context.Context, spec engine.NetworkSpec, subnet netip.Prefix) (string, error) {
	opts := client.NetworkCreateOptions{
		Driver:   "bridge",
		Internal: spec.Internal,
		Labels:   copyLabels(spec.Labels),
	}
	if spec.Internal {
		// No address of the host on an internal bridge: Docker's isolation
		// rules filter forwarded traffic only, so a host address there
		// would let the containers reach every service on the host.
		opts.Options = map[string]string{inhibitIPv4: "true"}
	}
	if subnet.IsValid() {
		// The gateway is given too: a 20.10 daemon reports none it picked itself.
		subnet = subnet.Masked()
		opts.IPAM = &network.IPAM{Driver: "default", Config: []network.IPAMConfig{{Subnet: subnet, Gateway: subnet.Addr().Next()}}}
	}
	res, err := e.api.NetworkCreate(ctx, spec.Name, opts)
	if err != nil {
		return "", err
	}
	return res.ID, nil
}

func (e *Engine) networkByID(ctx context.Context, step, name, id string) (engine.Network, error) {
	res, err := e.api.NetworkInspect(ctx, id, client.NetworkInspectOptions{})
	if err != nil {
		return engine.Network{}, fail(step, name, fmt.Errorf("inspect after create: %w", err))
	}
	return toNetwork(res.Network.Network), nil
}

func toNetwork(n network.Network) engine.Network {
	out := engine.Network{Name: n.Name, ID: n.ID, Internal: n.Internal, Labels: copyLabels(n.Labels)}
	for _, c := range n.IPAM.Config {
		if c.Subnet.IsValid() && c.Subnet.Addr().Is4() {
			out.Subnet = c.Subnet.String()
			if c.Gateway.IsValid() {
				out.Gateway = c.Gateway.String()
			}
			break
		}
	}
	return out
}

// claimName makes sure the network just created as id is the only one of
// its name. The name check before the create is a list, and a 20.10 daemon
// accepts two networks of one name, so two runs racing for a name can both
// create one: the older network (by creation time, then id) wins, and the
// other run removes its own and fails naming the winner. Every run that
// lost sees the winner, which existed before it listed.
func (e *Engine) claimName(ctx context.Context, step, name, id string) (engine.Network, error) {
	res, err := e.api.NetworkList(ctx, client.NetworkListOptions{})
	if err != nil {
		return engine.Network{}, fail(step, name, fmt.Errorf("list after create: %w", err))
	}
	var ours *network.Summary
	for i, n := range res.Items {
		if n.ID == id {
			ours = &res.Items[i]
		}
	}
	for _, n := range res.Items {
		if n.Name != name || n.ID == id || ours == nil {
			continue
		}
		older := n.Created.Before(ours.Created) || (n.Created.Equal(ours.Created) && n.ID < id)
		if !older {
			continue
		}
		if _, rmErr := e.api.NetworkRemove(ctx, id, client.NetworkRemoveOptions{}); rmErr != nil && !isNotFound(rmErr) {
			return engine.Network{}, fmt.Errorf("%s %s: another network of this name (id %.12s) was made at the same time, and removing ours (id %.12s) failed: %v; remove it with `docker network rm %.12s`",
				step, name, n.ID, id, trimAPIError(rmErr), id)
		}
		return engine.Network{}, fmt.Errorf("%s %s: another run made a network of this name at the same time (id %.12s%s) and won; this run's was removed. "+
			"Let that run finish (or stop it), or choose another name", step, name, n.ID, ownerOf(n.Labels))
	}
	return e.networkByID(ctx, step, name, id)
}

// ownerOf says which bottle a network belongs to, from its labels.
func ownerOf(labels map[string]string) string {
	if dir := labels[engine.StateLabel]; dir != "" {
		return ", bottle state " + dir
	}
	if slug := labels[engine.InstanceLabel]; slug != "" {
		return ", bottle " + slug
	}
	return ""
}

// NetworkRemove removes the network named by ref, an id (or a unique
// prefix of one) or a name, always by its id: a name alone would be
// ambiguous on a daemon that holds two networks of that name, and then
// NetworkRemove refuses, naming their ids. false, nil when none exists.
func (e *Engine) NetworkRemove(ctx context.Context, ref string) (bool, error) {
	if err := e.ready(ctx); err != nil {
		return false, err
	}
	const step = "network_remove"
	res, err := e.api.NetworkList(ctx, client.NetworkListOptions{})
	if err != nil {
		return false, fail(step, ref, err)
	}
	var byID, byName []network.Summary
	for _, n := range res.Items {
		switch {
		case n.ID == ref || (len(ref) >= 12 && strings.HasPrefix(n.ID, ref)):
			byID = append(byID, n)
		case n.Name == ref:
			byName = append(byName, n)
		}
	}
	matches := byID
	if len(matches) == 0 {
		matches = byName
	}
	switch len(matches) {
	case 0:
		return false, nil
	case 1:
	default:
		ids := make([]string, len(matches))
		for i, n := range matches {
			ids[i] = fmt.Sprintf("%.12s%s", n.ID, ownerOf(n.Labels))
		}
		return false, fmt.Errorf("%s %s: %d networks have this name (ids %s); remove each by its id (network_remove(ID); networks(labels=...) lists them with their ids)",
			step, ref, len(matches), strings.Join(ids, "; "))
	}
	id, name := matches[0].ID, matches[0].Name
	if _, err := e.api.NetworkRemove(ctx, id, client.NetworkRemoveOptions{}); err != nil {
		if isNotFound(err) {
			return false, nil
		}
		if users := e.attached(ctx, id); len(users) > 0 {
			return false, fmt.Errorf("%s %s: still in use by container(s) %s; disconnect them (docker network disconnect %s %s) or stop them, then run this again",
				step, name, strings.Join(users, ", "), name, users[0])
		}
		return false, fail(step, name, err)
	}
	return true, nil
}

// attached names the containers on network id (sorted); nil when it cannot
// tell.
func (e *Engine) attached(ctx context.Context, id string) []string {
	res, err := e.api.NetworkInspect(ctx, id, client.NetworkInspectOptions{})
	if err != nil {
		return nil
	}
	var names []string
	for _, c := range res.Network.Containers {
		names = append(names, c.Name)
	}
	slices.Sort(names)
	return names
}

// Networks lists networks carrying all of labels.
func (e *Engine) Networks(ctx context.Context, labels map[string]string) ([]engine.Network, error) {
	if err := e.ready(ctx); err != nil {
		return nil, err
	}
	res, err := e.api.NetworkList(ctx, client.NetworkListOptions{Filters: labelFilters(labels)})
	if err != nil {
		return nil, fail("networks", fmt.Sprint(labels), err)
	}
	out := make([]engine.Network, 0, len(res.Items))
	for _, n := range res.Items {
		net := toNetwork(n.Network)
		// The list leaves out who is attached; an inspect each says it
		// (a bottle has two networks).
		net.Containers = e.attached(ctx, n.ID)
		out = append(out, net)
	}
	return out, nil
}

func subnetPool() (netip.Prefix, error) {
	s := DefaultSubnetPool
	if v := strings.TrimSpace(os.Getenv("BOTTLE_SUBNET_POOL")); v != "" {
		s = v
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() || p.Bits() > 24 {
		return netip.Prefix{}, fmt.Errorf("BOTTLE_SUBNET_POOL=%q must be an IPv4 CIDR of /24 or larger, like %s", s, DefaultSubnetPool)
	}
	return p.Masked(), nil
}

// freeSubnets yields the /24s of pool that overlap none of used, in order.
func freeSubnets(pool netip.Prefix, used []netip.Prefix) func(yield func(netip.Prefix) bool) {
	return func(yield func(netip.Prefix) bool) {
		base := pool.Addr().As4()
		n := 1 << (24 - pool.Bits())
		for i := range n {
			a := base
			v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8
			v += uint32(i) << 8
			a = [4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), 0}
			p := netip.PrefixFrom(netip.AddrFrom4(a), 24)
			free := true
			for _, u := range used {
				if u.Overlaps(p) {
					free = false
					break
				}
			}
			if free && !yield(p) {
				return
			}
		}
	}
}

// isOverlap reports whether the daemon refused a subnet because another
// network (or a host route) already uses it.
func isOverlap(err error) bool {
	return err != nil && strings.Contains(strings.ToLower(err.Error()), "overlap")
}
