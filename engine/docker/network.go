package docker

import (
	"context"
	"fmt"
	"hash/fnv"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/bottle-sh/bottle/engine"
)

// DefaultSubnetPool is where NetworkCreate finds a /28 for a network given
// no subnet; $BOTTLE_SUBNET_POOL overrides it.
const DefaultSubnetPool = "10.213.0.0/16"

// SubnetBits is the size of the subnets NetworkCreate takes from the pool:
// a /28 holds 13 containers beside its gateway, and a bottle's networks
// hold two to four, so a /16 pool holds 4096 networks (2048 bottles).
const SubnetBits = 28

// probes is how many subnets NetworkCreate tries, from the one its name
// hashes to, before it lists every network to find a free one.
const probes = 8

// NetworkCreate creates a bridge network (internal when asked). With no
// subnet it takes a /28 of the pool: it tries the one the network's name
// hashes to and the next few, leaving it to the daemon to refuse one that
// overlaps a network, so a start lists no networks however many there are;
// only when those are all taken does it list the networks and take the
// first free /28.
func (e *Engine) NetworkCreate(ctx context.Context, spec engine.NetworkSpec) (engine.Network, error) {
	if err := e.ready(ctx); err != nil {
		return engine.Network{}, err
	}
	const step = "network_create"
	same, err := e.networksNamed(ctx, spec.Name)
	if err != nil {
		return engine.Network{}, fail(step, spec.Name, err)
	}
	if len(same) > 0 {
		return engine.Network{}, fmt.Errorf("%s %s: a network with this name already exists (id %.12s); "+
			"remove it (network_remove or `docker network rm %s`) or choose another name", step, spec.Name, same[0].ID, spec.Name)
	}

	if spec.Subnet != "" {
		p, err := netip.ParsePrefix(spec.Subnet)
		if err != nil {
			return engine.Network{}, fmt.Errorf("%s %s: subnet %q is not a CIDR: %v", step, spec.Name, spec.Subnet, err)
		}
		id, took, err := e.createNetwork(ctx, spec, p)
		if err != nil {
			return engine.Network{}, fail(step, spec.Name, err)
		}
		return e.claimName(ctx, step, spec.Name, id, took)
	}

	pool, err := subnetPool()
	if err != nil {
		return engine.Network{}, fmt.Errorf("%s %s: %v", step, spec.Name, err)
	}
	try := func(p netip.Prefix) (engine.Network, bool, error) {
		id, took, err := e.createNetwork(ctx, spec, p)
		if err == nil {
			n, err := e.claimName(ctx, step, spec.Name, id, took)
			return n, true, err
		}
		if !isOverlap(err) {
			return engine.Network{}, true, fail(step, spec.Name, err)
		}
		return engine.Network{}, false, nil // taken: try the next
	}
	for p := range probeSubnets(pool, spec.Name, probes) {
		if n, done, err := try(p); done {
			return n, err
		}
	}
	// The pool is crowded where this name hashes: find a free /28 from a
	// list of every network, retrying past one made since the list.
	used, err := e.usedSubnets(ctx)
	if err != nil {
		return engine.Network{}, fail(step, spec.Name, err)
	}
	found := false
	for p := range freeSubnets(pool, used) {
		found = true
		if n, done, err := try(p); done {
			return n, err
		}
	}
	if found {
		return engine.Network{}, fmt.Errorf("%s %s: no free /%d left in %s (the daemon refused each as overlapping); "+
			"remove unused networks or set BOTTLE_SUBNET_POOL to a larger private range", step, spec.Name, SubnetBits, pool)
	}
	return engine.Network{}, fmt.Errorf("%s %s: every /%d in %s overlaps an existing network; "+
		"remove unused networks or set BOTTLE_SUBNET_POOL to another private range", step, spec.Name, SubnetBits, pool)
}

// networksNamed lists the networks named exactly name. The daemon's name
// filter matches more than the exact name (a substring, on 20.10), never
// less.
func (e *Engine) networksNamed(ctx context.Context, name string) ([]network.Summary, error) {
	res, err := e.api.NetworkList(ctx, client.NetworkListOptions{Filters: make(client.Filters).Add("name", name)})
	if err != nil {
		return nil, err
	}
	var out []network.Summary
	for _, n := range res.Items {
		if n.Name == name {
			out = append(out, n)
		}
	}
	return out, nil
}

// usedSubnets lists every network's subnets.
func (e *Engine) usedSubnets(ctx context.Context) ([]netip.Prefix, error) {
	res, err := e.api.NetworkList(ctx, client.NetworkListOptions{})
	if err != nil {
		return nil, err
	}
	var used []netip.Prefix
	for _, n := range res.Items {
		for _, c := range n.IPAM.Config {
			if c.Subnet.IsValid() {
				used = append(used, c.Subnet)
			}
		}
	}
	return used, nil
}

// inhibitIPv4 is the bridge driver option that leaves the bridge without an
// IPv4 address (its IPAM gateway is then nobody's).
const inhibitIPv4 = "com.docker.network.bridge.inhibit_ipv4"

// createNetwork creates the network and returns its id and how long the
// daemon took.
func (e *Engine) createNetwork(ctx context.Context, spec engine.NetworkSpec, subnet netip.Prefix) (string, time.Duration, error) {
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
	start := time.Now()
	res, err := e.api.NetworkCreate(ctx, spec.Name, opts)
	if err != nil {
		return "", 0, err
	}
	return res.ID, time.Since(start), nil
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

// claimName makes sure the network just created as id (the daemon took
// took) is the only one of its name. The name check before the create is
// a list, and a 20.10 daemon accepts two networks of one name, so two runs
// racing for a name can both create one: the older network (by creation
// time, then id) wins, and the other run removes its own and fails naming
// the winner. The daemon lists a network once its create is done, and a
// create that began before ours (an older network) can end after our
// list: so a run that found no older one looks again after half the time
// its own create took (50 ms to 1 s), by when a create begun earlier has
// most likely ended.
func (e *Engine) claimName(ctx context.Context, step, name, id string, took time.Duration) (engine.Network, error) {
	settle := min(max(took/2, 50*time.Millisecond), time.Second)
	if err := e.yieldToOlder(ctx, step, name, id, settle); err != nil {
		return engine.Network{}, err
	}
	sleep(ctx, settle)
	if err := e.yieldToOlder(ctx, step, name, id, settle); err != nil {
		return engine.Network{}, err
	}
	return e.networkByID(ctx, step, name, id)
}

// sleep waits for d, or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// yieldToOlder removes the network id and fails when another network of
// its name is older. The error names the oldest of the name, listed again
// after settle: an older one still may show up, and that is the winner.
func (e *Engine) yieldToOlder(ctx context.Context, step, name, id string, settle time.Duration) error {
	same, err := e.networksNamed(ctx, name)
	if err != nil {
		return fail(step, name, fmt.Errorf("list after create: %w", err))
	}
	var ours *network.Summary
	for i, n := range same {
		if n.ID == id {
			ours = &same[i]
		}
	}
	if ours == nil {
		return nil
	}
	before := func(a, b *network.Summary) bool {
		return a.Created.Before(b.Created) || (a.Created.Equal(b.Created) && a.ID < b.ID)
	}
	var oldest *network.Summary // the winner, as far as this list shows
	for i := range same {
		if before(&same[i], ours) && (oldest == nil || before(&same[i], oldest)) {
			oldest = &same[i]
		}
	}
	if n := oldest; n != nil {
		if _, rmErr := e.api.NetworkRemove(ctx, id, client.NetworkRemoveOptions{}); rmErr != nil && !isNotFound(rmErr) {
			return fmt.Errorf("%s %s: another network of this name (id %.12s) was made at the same time, and removing ours (id %.12s) failed: %v; remove it with `docker network rm %.12s`",
				step, name, n.ID, id, trimAPIError(rmErr), id)
		}
		sleep(ctx, settle)
		if again, err := e.networksNamed(ctx, name); err == nil {
			for i := range again {
				if before(&again[i], n) {
					n = &again[i]
				}
			}
		}
		return fmt.Errorf("%s %s: another run made a network of this name at the same time (id %.12s%s) and won; this run's was removed. "+
			"Let that run finish (or stop it), or choose another name", step, name, n.ID, ownerOf(n.Labels))
	}
	return nil
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
	matches, err := e.networksByID(ctx, ref)
	if err == nil && len(matches) == 0 {
		matches, err = e.networksNamed(ctx, ref)
	}
	if err != nil {
		return false, fail(step, ref, err)
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

// networksByID lists the networks whose id is ref or starts with it (12
// characters or more). The daemon's id filter matches more, never less.
func (e *Engine) networksByID(ctx context.Context, ref string) ([]network.Summary, error) {
	if len(ref) < 12 {
		return nil, nil
	}
	res, err := e.api.NetworkList(ctx, client.NetworkListOptions{Filters: make(client.Filters).Add("id", ref)})
	if err != nil {
		return nil, err
	}
	var out []network.Summary
	for _, n := range res.Items {
		if strings.HasPrefix(n.ID, ref) {
			out = append(out, n)
		}
	}
	return out, nil
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
	if err != nil || !p.Addr().Is4() || p.Bits() > SubnetBits {
		return netip.Prefix{}, fmt.Errorf("BOTTLE_SUBNET_POOL=%q must be an IPv4 CIDR of /%d or larger, like %s", s, SubnetBits, DefaultSubnetPool)
	}
	return p.Masked(), nil
}

// subnetCount is how many /SubnetBits the pool holds.
func subnetCount(pool netip.Prefix) int { return 1 << (SubnetBits - pool.Bits()) }

// subnetAt is the i-th /SubnetBits of pool.
func subnetAt(pool netip.Prefix, i int) netip.Prefix {
	a := pool.Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v += uint32(i) << (32 - SubnetBits)
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), SubnetBits)
}

// probeSubnets yields n subnets of pool (fewer when it holds fewer): the one
// name hashes to, then the ones after it, wrapping round. Names spread
// evenly, so with the pool a tenth full the first is free nine times in ten.
func probeSubnets(pool netip.Prefix, name string, n int) func(yield func(netip.Prefix) bool) {
	return func(yield func(netip.Prefix) bool) {
		h := fnv.New32a()
		h.Write([]byte(name))
		count := subnetCount(pool)
		start := int(h.Sum32() % uint32(count))
		for i := range min(n, count) {
			if !yield(subnetAt(pool, (start+i)%count)) {
				return
			}
		}
	}
}

// freeSubnets yields the subnets of pool that overlap none of used, in order.
func freeSubnets(pool netip.Prefix, used []netip.Prefix) func(yield func(netip.Prefix) bool) {
	return func(yield func(netip.Prefix) bool) {
		for i := range subnetCount(pool) {
			p := subnetAt(pool, i)
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
