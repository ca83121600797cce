package docker

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/moby/moby/client"

	"github.com/bottle-sh/bottle/engine"
)

func TestNetworks(t *testing.T) {
	e := needDocker(t)
	ctx := ctxT(t)
	pool := netip.MustParsePrefix(DefaultSubnetPool)

	onHost := map[bool]bool{} // internal -> the host has an address in its subnet
	for _, internal := range []bool{true, false} {
		name := testRun + "-net-bridge"
		if internal {
			name = testRun + "-net-int"
		}
		n, err := e.NetworkCreate(ctx, engine.NetworkSpec{Name: name, Internal: internal, Labels: testLabels()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.NetworkRemove(ctx, name) })
		sub, err := netip.ParsePrefix(n.Subnet)
		if err != nil || sub.Bits() != SubnetBits || !pool.Overlaps(sub) {
			t.Errorf("%s: subnet %q, want a /%d in %s", name, n.Subnet, SubnetBits, pool)
		}
		gw, err := netip.ParseAddr(n.Gateway)
		if err != nil || !sub.Contains(gw) {
			t.Errorf("%s: gateway %q not in subnet %s", name, n.Gateway, n.Subnet)
		}
		if n.Internal != internal || n.Labels[engine.InstanceLabel] != testRun || n.ID == "" {
			t.Errorf("%s: got %+v", name, n)
		}
		// The daemon agrees.
		ins, err := e.api.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if ins.Network.Internal != internal || ins.Network.IPAM.Config[0].Subnet.String() != n.Subnet {
			t.Errorf("%s: daemon says internal=%v subnet=%v", name, ins.Network.Internal, ins.Network.IPAM.Config)
		}
		if got := ins.Network.Options[inhibitIPv4] == "true"; got != internal {
			t.Errorf("%s: %s=%q; want it set on internal networks only", name, inhibitIPv4, ins.Network.Options[inhibitIPv4])
		}
		onHost[internal] = hostHasAddrIn(t, sub)
	}
	// The host sits on the bridge network (its gateway) but has no address
	// on the internal one: the agent cannot reach the host through it. (On
	// a remote daemon neither shows here, and this says nothing.)
	if onHost[false] && onHost[true] {
		t.Errorf("the host has an address in the internal network's subnet: containers there can reach its services")
	}

	// Two networks never share a subnet, and the label finds both.
	nets, err := e.Networks(ctx, testLabels())
	if err != nil || len(nets) != 2 {
		t.Fatalf("Networks(label) = %v, %v; want 2", nets, err)
	}
	if nets[0].Subnet == nets[1].Subnet {
		t.Errorf("both networks got subnet %s", nets[0].Subnet)
	}

	// A name in use is a clear error, and makes no second network.
	_, err = e.NetworkCreate(ctx, engine.NetworkSpec{Name: testRun + "-net-int", Labels: testLabels()})
	if err == nil || !strings.Contains(err.Error(), "already exists") || !strings.Contains(err.Error(), testRun+"-net-int") {
		t.Errorf("duplicate name: err = %v", err)
	}
	if nets, _ := e.Networks(ctx, testLabels()); len(nets) != 2 {
		t.Errorf("after the refused duplicate there are %d networks", len(nets))
	}

	// An explicit subnet is used as given: one no network has (another
	// run on the daemon may be at this test too).
	fixed := freeSubnet(t, e)
	n, err := e.NetworkCreate(ctx, engine.NetworkSpec{Name: testRun + "-net-fixed", Subnet: fixed.String(), Labels: testLabels()})
	if err != nil {
		t.Fatal(err)
	}
	if gw := fixed.Addr().Next(); n.Subnet != fixed.String() || n.Gateway != gw.String() {
		t.Errorf("fixed subnet %s: got %s gw %s", fixed, n.Subnet, n.Gateway)
	}

	// A subnet in use is refused by the daemon, with the name in the error.
	_, err = e.NetworkCreate(ctx, engine.NetworkSpec{Name: testRun + "-net-clash", Subnet: fixed.String(), Labels: testLabels()})
	if err == nil || !strings.Contains(err.Error(), "network_create "+testRun+"-net-clash") {
		t.Errorf("overlapping subnet: err = %v", err)
	}

	for _, name := range []string{testRun + "-net-fixed", testRun + "-net-int", testRun + "-net-bridge"} {
		if ok, err := e.NetworkRemove(ctx, name); !ok || err != nil {
			t.Errorf("NetworkRemove(%s) = %v, %v", name, ok, err)
		}
		if ok, err := e.NetworkRemove(ctx, name); ok || err != nil {
			t.Errorf("NetworkRemove(%s) again = %v, %v; want false, nil", name, ok, err)
		}
	}
}

func TestFreeSubnets(t *testing.T) {
	pool := netip.MustParsePrefix("10.213.0.0/26")
	used := []netip.Prefix{netip.MustParsePrefix("10.213.0.0/28"), netip.MustParsePrefix("10.213.0.32/27")}
	var got []string
	for p := range freeSubnets(pool, used) {
		got = append(got, p.String())
	}
	if strings.Join(got, " ") != "10.213.0.16/28" {
		t.Errorf("free = %v", got)
	}
	t.Setenv("BOTTLE_SUBNET_POOL", "10.0.0.0/29")
	if _, err := subnetPool(); err == nil || !strings.Contains(err.Error(), "/28 or larger") {
		t.Errorf("a /29 pool: err = %v", err)
	}
}

// The probes start where the name hashes, stay in the pool, wrap round,
// and spread names over it: 200 bottles' names land on about as many
// subnets as 400 random draws from 4096 would.
func TestProbeSubnets(t *testing.T) {
	pool := netip.MustParsePrefix(DefaultSubnetPool)
	var first []netip.Prefix
	for p := range probeSubnets(pool, "bottle-x-int", 3) {
		if !pool.Contains(p.Addr()) || p.Bits() != SubnetBits || p != p.Masked() {
			t.Errorf("probe %s: not a /%d of %s", p, SubnetBits, pool)
		}
		first = append(first, p)
	}
	if len(first) != 3 {
		t.Fatalf("probes = %v, want three", first)
	}
	for i := 1; i < 3; i++ {
		a := first[i-1].Addr()
		for range 16 { // the /28 after it, or the pool's first
			a = a.Next()
		}
		next := netip.PrefixFrom(a, SubnetBits)
		if !pool.Contains(a) {
			next = subnetAt(pool, 0)
		}
		if first[i] != next {
			t.Errorf("probes = %v, want consecutive /28s", first)
		}
	}
	small := netip.MustParsePrefix("10.213.0.0/27") // two /28s
	var all []string
	for p := range probeSubnets(small, "x", 8) {
		all = append(all, p.String())
	}
	slices.Sort(all)
	if strings.Join(all, " ") != "10.213.0.0/28 10.213.0.16/28" {
		t.Errorf("probes of a two-subnet pool = %v, want each once", all)
	}
	hit := map[netip.Prefix]bool{}
	for i := range 200 {
		for _, side := range []string{"int", "ext"} {
			for p := range probeSubnets(pool, fmt.Sprintf("bottle-agent%d-%s", i, side), 1) {
				hit[p] = true
			}
		}
	}
	if len(hit) < 370 { // 400 draws from 4096: ~381 distinct
		t.Errorf("400 network names hash to %d distinct subnets; want them spread", len(hit))
	}
}

// A network a container still uses: Networks says who, and NetworkRemove's
// error names the container and how to free the network.
func TestNetworkInUse(t *testing.T) {
	e := needDocker(t)
	ctx := ctxT(t)
	name := testRun + "-net-used"
	if _, err := e.NetworkCreate(ctx, engine.NetworkSpec{Name: name, Labels: testLabels()}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.NetworkRemove(context.Background(), name) })
	ctr := runContainer(t, e, "on-net", []string{"serve"})
	if _, err := e.api.NetworkConnect(ctx, name, client.NetworkConnectOptions{Container: ctr}); err != nil {
		t.Fatal(err)
	}
	nets, err := e.Networks(ctx, testLabels())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, n := range nets {
		if n.Name == name {
			found = true
			if !slices.Equal(n.Containers, []string{ctr}) {
				t.Errorf("Networks: %s containers %v, want [%s]", name, n.Containers, ctr)
			}
		}
	}
	if !found {
		t.Fatalf("Networks did not list %s", name)
	}
	_, err = e.NetworkRemove(ctx, name)
	want := "network_remove " + name + ": still in use by container(s) " + ctr + "; disconnect them (docker network disconnect " + name + " " + ctr + ") or stop them"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("NetworkRemove of a network in use: %v\nwant %q", err, want)
	}
}

// freeSubnet is a /24 of 10.214.0.0/16 that no network on the daemon has,
// starting from one this process's pid picks.
func freeSubnet(t *testing.T, e *Engine) netip.Prefix {
	t.Helper()
	nets, err := e.Networks(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, n := range nets {
		used[n.Subnet] = true
	}
	for i := range 254 {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 214, byte((os.Getpid()+i)%254 + 1), 0}), 24)
		if !used[p.String()] {
			return p
		}
	}
	t.Fatal("no free /24 in 10.214.0.0/16")
	return netip.Prefix{}
}

// A 20.10 daemon accepts two networks of one name. Removing by that name is
// refused, naming both ids; each goes by its id.
func TestNetworkRemoveSharedName(t *testing.T) {
	e := needDocker(t)
	ctx := ctxT(t)
	name := testRun + "-net-twin"
	var ids []string
	for range 2 {
		res, err := e.api.NetworkCreate(ctx, name, client.NetworkCreateOptions{Driver: "bridge", Labels: testLabels()})
		if err != nil {
			t.Skipf("this daemon refuses a second network of one name (%v): nothing to test", err)
		}
		ids = append(ids, res.ID)
		t.Cleanup(func() { e.api.NetworkRemove(context.Background(), res.ID, client.NetworkRemoveOptions{}) })
	}
	_, err := e.NetworkRemove(ctx, name)
	if err == nil || !strings.Contains(err.Error(), "2 networks have this name") ||
		!strings.Contains(err.Error(), ids[0][:12]) || !strings.Contains(err.Error(), ids[1][:12]) {
		t.Fatalf("remove by a shared name: %v; want a refusal naming both ids", err)
	}
	for _, id := range ids {
		if ok, err := e.NetworkRemove(ctx, id); !ok || err != nil {
			t.Errorf("remove %s: %v %v", id, ok, err)
		}
	}
	if ok, err := e.NetworkRemove(ctx, name); ok || err != nil {
		t.Errorf("remove after both went: %v %v; want false, nil", ok, err)
	}
}

// Runs racing to create one name: exactly one gets it, the others fail
// naming the winner's id, and one network of that name is left.
func TestNetworkCreateRace(t *testing.T) {
	e := needDocker(t)
	ctx := ctxT(t)
	for round := range 5 {
		name := fmt.Sprintf("%s-net-race%d", testRun, round)
		t.Cleanup(func() {
			nets, _ := e.Networks(context.Background(), testLabels())
			for _, n := range nets {
				if n.Name == name {
					e.NetworkRemove(context.Background(), n.ID)
				}
			}
		})
		const runs = 4
		type result struct {
			n   engine.Network
			err error
		}
		results := make(chan result, runs)
		for range runs {
			go func() {
				n, err := e.NetworkCreate(ctx, engine.NetworkSpec{Name: name, Labels: testLabels()})
				results <- result{n, err}
			}()
		}
		var won []engine.Network
		var lost []error
		for range runs {
			r := <-results
			if r.err == nil {
				won = append(won, r.n)
			} else {
				lost = append(lost, r.err)
			}
		}
		nets, err := e.api.NetworkList(ctx, client.NetworkListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var named []string
		for _, n := range nets.Items {
			if n.Name == name {
				named = append(named, n.ID)
			}
		}
		if len(won) != 1 || len(named) != 1 || won[0].ID != named[0] {
			t.Fatalf("round %d: %d run(s) won, %d network(s) named %s left (%v); want one of each; errors: %v", round, len(won), len(named), name, named, lost)
		}
		for _, err := range lost {
			if !strings.Contains(err.Error(), won[0].ID[:12]) {
				t.Errorf("round %d: a losing run's error does not name the winner %.12s: %v", round, won[0].ID, err)
			}
		}
	}
}

// hostHasAddrIn reports whether an interface of this host has an address in p.
func hostHasAddrIn(t *testing.T, p netip.Prefix) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(ipn.IP); ok && p.Contains(ip.Unmap()) {
				return true
			}
		}
	}
	return false
}

// Making and removing a network asks the daemon a fixed few questions, none
// of them a list of every network: the calls of a start do not grow with
// the bottles on the daemon. A proxy on a socket of the test's counts them.
func TestNetworkCallsDoNotGrow(t *testing.T) {
	e := needDocker(t)
	ctx := ctxT(t)
	sock, ok := strings.CutPrefix(e.api.DaemonHost(), "unix://")
	if !ok {
		t.Skipf("the daemon is at %s, not a unix socket", e.api.DaemonHost())
	}
	calls := countingProxy(t, sock)
	counted, err := New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer counted.Close()
	calls()

	name := testRun + "-net-count"
	n, err := counted.NetworkCreate(ctx, engine.NetworkSpec{Name: name, Internal: true, Labels: testLabels()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.NetworkRemove(context.Background(), n.ID) })
	create := calls()
	if ok, err := counted.NetworkRemove(ctx, n.ID); !ok || err != nil {
		t.Fatalf("NetworkRemove = %v, %v", ok, err)
	}
	remove := calls()
	for _, c := range append(create, remove...) {
		if c == "GET /networks" {
			t.Errorf("a list of every network: %q among %q and %q", c, create, remove)
		}
	}
	// list by name, create, list by name, inspect (one more create per
	// subnet another network took); list by id, remove.
	if len(create) > 6 || len(remove) > 2 {
		t.Errorf("create made %d calls %q, remove %d %q; want at most 6 and 2", len(create), create, len(remove), remove)
	}
}

// countingProxy serves the daemon at sock on a socket of its own, names
// that socket in DOCKER_HOST for the test, and returns a function that
// says which calls came ("GET /networks?filters" for one with filters)
// since it was last called.
func countingProxy(t *testing.T, sock string) func() []string {
	dir, err := os.MkdirTemp("", "scale")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	l, err := net.Listen("unix", filepath.Join(dir, "d.sock"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme, r.Out.URL.Host = "http", "docker"
			call := r.In.Method + " " + regexp.MustCompile(`^/v[0-9.]+`).ReplaceAllString(r.In.URL.Path, "")
			if r.In.URL.Query().Has("filters") {
				call += "?filters"
			}
			mu.Lock()
			seen = append(seen, call)
			mu.Unlock()
		},
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}},
	}
	srv := &http.Server{Handler: proxy}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	t.Setenv("DOCKER_HOST", "unix://"+l.Addr().String())
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := seen
		seen = nil
		return out
	}
}
