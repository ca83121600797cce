package egress

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/bottle-sh/bottle/egress/routes"
	"github.com/bottle-sh/bottle/internal/sidecarfile"
)

// Grants that end on their own: a route with expires: is denied from that
// time on (reason "expired"), one with uses: after that many requests
// (reason "used up"). The egress enforces both itself, with nothing of
// bottle running on the host; the next routes change, or the prune recipe,
// removes the dead routes from routes.yaml with an audit line.
//
// Uses are counted in the egress, per grant: the key is the host, the
// expiry and the number of uses, so that a new grant for the same host
// (another expiry or count) starts from zero while a reload of the same
// file keeps the count. With a state directory (--state) the counts are
// written to uses.json in it after every counted request (a temporary file
// renamed over the old one), and read back on start: a restart does not
// give a grant its uses back.

// UsesFile is the name of the use counts' file in the egress's state
// directory.
const UsesFile = "uses.json"

// GrantKey names a route's grant in the use counts (uses.json).
func GrantKey(r *routes.Route) string {
	exp := "never"
	if !r.Expires.IsZero() {
		exp = r.Expires.UTC().Format(time.RFC3339)
	}
	k := r.Host + " " + exp + " " + strconv.Itoa(r.Uses)
	if r.Grant != "" {
		k += " " + r.Grant // a fresh approval, a fresh count
	}
	return k
}

// useCounts are the requests counted against routes with uses:.
type useCounts struct {
	mu   sync.Mutex
	n    map[string]int // GrantKey -> requests allowed so far
	file string         // "" keeps the counts in memory only
}

// maxUsesBytes bounds a uses.json read: a count per route with uses:.
const maxUsesBytes = 16 << 20

// ReadUseCounts reads a uses.json; a missing file is no counts. The egress
// writes it, so a FIFO or a symlink there is refused (sidecarfile).
func ReadUseCounts(file string) (map[string]int, error) {
	n := map[string]int{}
	data, err := sidecarfile.ReadFile(file, maxUsesBytes)
	if errors.Is(err, os.ErrNotExist) {
		return n, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &n); err != nil {
		return nil, fmt.Errorf("%s: %v (delete it to start every count from zero)", file, err)
	}
	return n, nil
}

func newUseCounts(dir string) (*useCounts, error) {
	u := &useCounts{n: map[string]int{}}
	if dir == "" {
		return u, nil
	}
	u.file = filepath.Join(dir, UsesFile)
	n, err := ReadUseCounts(u.file)
	if err != nil {
		return nil, err
	}
	u.n = n
	return u, nil
}

// used is how many requests r's grant has had.
func (u *useCounts) used(r *routes.Route) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.n[GrantKey(r)]
}

// take counts one request against r and reports whether r had a use left.
// A count that cannot be saved is not a use: the request is refused rather
// than risk giving the grant its uses back on a restart.
func (u *useCounts) take(r *routes.Route) (bool, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	k := GrantKey(r)
	if u.n[k] >= r.Uses {
		return false, nil
	}
	u.n[k]++
	if err := u.saveLocked(); err != nil {
		u.n[k]--
		return false, err
	}
	return true, nil
}

// keep drops the counts of grants rs no longer has, so uses.json holds
// the live grants only.
func (u *useCounts) keep(rs *routes.Routes) {
	u.mu.Lock()
	defer u.mu.Unlock()
	live := map[string]bool{}
	for i := range rs.Routes {
		if rs.Routes[i].Uses > 0 {
			live[GrantKey(&rs.Routes[i])] = true
		}
	}
	changed := false
	for k := range u.n {
		if !live[k] {
			delete(u.n, k)
			changed = true
		}
	}
	if changed {
		u.saveLocked()
	}
}

func (u *useCounts) saveLocked() error {
	if u.file == "" {
		return nil
	}
	data, _ := json.Marshal(u.n)
	return writeState(u.file, append(data, '\n'))
}

// grantRefusal says why route r's grant refuses a request now ("" when it
// does not), taking one of its uses when it has a count and a plain tunnel
// or a request is about to go out (take). Messages are for the client.
func (p *Proxy) grantRefusal(r *routes.Route, take bool) (reason, msg string) {
	if r.Expired(time.Now()) {
		return ReasonExpired, fmt.Sprintf("the route for %s on line %d of %s expired at %s; ask the operator for a new grant",
			r.Host, r.Line, p.cfg.RoutesFile, r.Expires.UTC().Format(time.RFC3339))
	}
	if r.Uses == 0 || !take {
		return "", ""
	}
	ok, err := p.uses.take(r)
	if err != nil {
		fmt.Fprintf(p.cfg.Log, "egress: saving use counts: %v\n", err)
		return ReasonUsedUp, fmt.Sprintf("the route for %s on line %d of %s has a use count the egress could not save; refused", r.Host, r.Line, p.cfg.RoutesFile)
	}
	if !ok {
		return ReasonUsedUp, fmt.Sprintf("the route for %s on line %d of %s allowed %d request(s), all used; ask the operator for a new grant",
			r.Host, r.Line, p.cfg.RoutesFile, r.Uses)
	}
	return "", ""
}

// Used is how many requests route r's grant has had in this egress.
func (p *Proxy) Used(r *routes.Route) int { return p.uses.used(r) }

// grantsLoaded follows a load of rs: counts of grants that went are
// dropped, and plain tunnels are cut when the first of rs's expiries
// comes (a tunnel opened before it must not outlive it).
func (p *Proxy) grantsLoaded(rs *routes.Routes) {
	p.uses.keep(rs)
	p.expiryMu.Lock()
	defer p.expiryMu.Unlock()
	if p.expiry != nil {
		p.expiry.Stop()
		p.expiry = nil
	}
	now := time.Now()
	var next time.Time
	for i := range rs.Routes {
		if e := rs.Routes[i].Expires; !e.IsZero() && e.After(now) && (next.IsZero() || e.Before(next)) {
			next = e
		}
	}
	if next.IsZero() {
		return
	}
	p.expiry = time.AfterFunc(next.Sub(now), func() {
		if p.shutting.Load() {
			return
		}
		cur := p.routes.Load()
		if cut := p.cutTunnels(cur); len(cut) > 0 {
			fmt.Fprintf(p.cfg.Log, "egress: closed %d tunnel(s) whose route expired: %v\n", len(cut), cut)
		}
		p.grantsLoaded(cur) // the next expiry
	})
}
