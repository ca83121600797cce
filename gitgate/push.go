package gitgate

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"

	"github.com/bottle-sh/bottle/gitgate/policy"
)

const (
	maxCommandBytes = 1 << 20 // the update commands before the pack
	maxCommands     = 1000    // refs one push may update
	// maxDrain is how much of an oversized push the gate reads (and
	// throws away) so the agent's git is still listening for the answer.
	maxDrain = 1 << 30
)

// askHint and allowHint say how to ask for a change of policy.
const (
	askHint   = "ask the operator to add it (bottle run git_policy_apply)"
	allowHint = "ask the operator to allow it (bottle run git_policy_apply)"
)

// advertisePush answers info/refs?service=git-receive-pack with the
// upstream's refs (with fetch: false, only those the agent may push) and
// the gate's capabilities (no-thin: every delta of the agent's pack
// resolves inside it, so the gate can read it all).
func (g *Gate) advertisePush(w http.ResponseWriter, r *http.Request, remote *policy.Remote) {
	if len(remote.Push) == 0 {
		reason := fmt.Sprintf("pushes to %s are not allowed (its push list is empty)", remote.Name)
		g.record(&Record{Remote: remote.Name, Op: "push", Decision: "deny", Rule: "push", Reason: reason})
		g.refuseAdvert(w, "git-receive-pack", remote.Name, "bottle git gate: "+reason+"; "+askHint)
		return
	}
	up, err := g.dial(r.Context(), remote)
	if err != nil {
		g.upstreamFailed(w, "git-receive-pack", remote, err)
		return
	}
	sess, err := up.client.NewReceivePackSession(up.ep, up.auth)
	if err != nil {
		g.upstreamFailed(w, "git-receive-pack", remote, err)
		return
	}
	defer sess.Close()
	ar, err := sess.AdvertisedReferencesContext(r.Context())
	if err != nil {
		g.upstreamFailed(w, "git-receive-pack", remote, err)
		return
	}
	out := packp.NewAdvRefs()
	out.Prefix = [][]byte{[]byte("# service=git-receive-pack"), []byte{}}
	out.References = ar.References
	if !remote.Fetch {
		// Not allowed to read the upstream: only the refs it may push,
		// all git needs to push them, and not what the others point at.
		out.References = map[string]plumbing.Hash{}
		for name, h := range ar.References {
			if remote.MatchPush(name) {
				out.References[name] = h
			}
		}
	}
	for _, c := range []capability.Capability{capability.ReportStatus, capability.DeleteRefs, capability.Sideband64k, capability.Quiet, capability.OFSDelta, "no-thin"} {
		_ = out.Capabilities.Add(c)
	}
	_ = out.Capabilities.Add(capability.Agent, gateAgent)
	w.Header().Set("Content-Type", "application/x-git-receive-pack-advertisement")
	w.Header().Set("Cache-Control", "no-cache")
	_ = out.Encode(w)
}

// push is one push being decided.
type push struct {
	remote *policy.Remote
	req    *packp.ReferenceUpdateRequest
	pack   []byte
	rec    *Record
	// refused maps a ref to why; any entry refuses the whole push.
	refused map[plumbing.ReferenceName]*policy.Refusal
	first   *policy.Refusal
}

func (p *push) refuse(ref plumbing.ReferenceName, r *policy.Refusal) {
	if p.refused[ref] == nil {
		p.refused[ref] = r
	}
	if p.first == nil {
		p.first = r
		p.rec.Rule, p.rec.Reason = r.Rule, string(ref)+": "+r.Reason
	}
}

func (g *Gate) receivePack(w http.ResponseWriter, r *http.Request, remote *policy.Remote) {
	select {
	case g.pushes <- struct{}{}:
		defer func() { <-g.pushes }()
	case <-r.Context().Done():
		return
	}
	body, err := g.requestBody(w, r, maxCommandBytes+remote.MaxPush+maxDrain)
	if err != nil {
		http.Error(w, "bottle git gate: "+err.Error(), http.StatusBadRequest)
		return
	}
	buffered := bufio.NewReader(body)
	if head, _ := buffered.Peek(4); len(head) == 0 || string(head) == "0000" {
		// git's probe before a large push (a flush alone), or nothing.
		w.Header().Set("Content-Type", "application/x-git-receive-pack-result")
		return
	}
	body = buffered
	req := packp.NewReferenceUpdateRequest()
	if err := req.Decode(&limitedReader{r: body, n: maxCommandBytes}); err != nil {
		http.Error(w, "bottle git gate: bad receive-pack request: "+oneLine(err.Error()), http.StatusBadRequest)
		return
	}
	p := &push{remote: remote, req: req, rec: &Record{Remote: remote.Name, Op: "push", Decision: "deny"},
		refused: map[plumbing.ReferenceName]*policy.Refusal{}}
	if len(req.Commands) > maxCommands {
		http.Error(w, fmt.Sprintf("bottle git gate: a push updates at most %d refs", maxCommands), http.StatusBadRequest)
		return
	}
	for _, c := range req.Commands {
		p.rec.Refs = append(p.rec.Refs, RefRecord{Ref: string(c.Name), Old: c.Old.String(), New: c.New.String()})
	}
	// The rest of the body is the pack; the decoder hands it on.
	pack, err := io.ReadAll(io.LimitReader(body, remote.MaxPush+1))
	p.pack = pack
	p.rec.Bytes = int64(len(pack))
	switch {
	case errors.Is(err, errTooLarge) || err == nil && int64(len(pack)) > remote.MaxPush:
		_, _ = io.Copy(io.Discard, body) // bounded by requestBody's limit
		p.rec.Bytes = int64(len(pack))
		p.refuseAll("max_push", fmt.Sprintf("the push is more than max_push of %s (%d bytes); push fewer or smaller commits, or ask the operator to raise max_push", remote.Name, remote.MaxPush))
	case err != nil:
		http.Error(w, "bottle git gate: reading the push: "+oneLine(err.Error()), http.StatusBadRequest)
		return
	default:
		g.decide(p)
	}
	if p.first != nil {
		g.record(p.rec)
		g.reportRefusal(w, p)
		return
	}
	g.forward(w, r, p)
}

func (p *push) refuseAll(rule, reason string) {
	for _, c := range p.req.Commands {
		p.refuse(c.Name, &policy.Refusal{Rule: rule, Reason: reason})
	}
	if p.first == nil {
		p.first = &policy.Refusal{Rule: rule, Reason: reason}
		p.rec.Rule, p.rec.Reason = rule, reason
	}
}

// decide checks every ref of the push: names and patterns first, then the
// pack (size once inflated, fast-forwards), then the secret scan.
func (g *Gate) decide(p *push) {
	needPack, updates := false, false
	for _, c := range p.req.Commands {
		change := policy.Create
		switch {
		case c.New.IsZero():
			change = policy.Deletion
		case !c.Old.IsZero():
			change = policy.FastForward // proven below, from the pack
			needPack, updates = true, true
		default:
			needPack = true
		}
		if r := p.remote.CheckRef(string(c.Name), change); r != nil {
			p.refuse(c.Name, r)
		}
	}
	if p.first != nil || !needPack {
		return
	}
	if !updates && !p.remote.Scan {
		// Only new refs and no scan: nothing to prove or read, so the pack
		// is walked (sizes, structure) but not parsed into objects.
		commits, err := checkInflated(p.pack, inflateLimit(p.remote.MaxPush))
		if err != nil {
			p.refuseAll("pack", err.Error())
		}
		p.rec.Commits = commits
		return
	}
	pack, err := parsePack(p.pack, inflateLimit(p.remote.MaxPush))
	if err != nil {
		p.refuseAll("pack", err.Error())
		return
	}
	p.rec.Commits = pack.commits
	for _, c := range p.req.Commands {
		if c.Old.IsZero() || c.New.IsZero() || pack.fastForward(c.Old, c.New) {
			continue
		}
		if r := p.remote.CheckRef(string(c.Name), policy.Rewrite); r != nil {
			p.refuse(c.Name, r)
		}
	}
	if p.first != nil || !p.remote.Scan {
		return
	}
	hits, err := g.scan.scan(pack)
	if err != nil {
		p.refuseAll("scan", err.Error())
		return
	}
	if len(hits) > 0 {
		var where []string
		for _, h := range hits[:min(len(hits), 5)] {
			where = append(where, h.String())
		}
		more := ""
		if len(hits) > 5 {
			more = fmt.Sprintf(" and %d more", len(hits)-5)
		}
		p.refuseAll("scan", fmt.Sprintf("the pushed commits hold what looks like a credential: %s%s; remove it from the commits (rewrite them) and push again, or if it is not one, ask the operator (scan: false on %s)", strings.Join(where, ", "), more, p.remote.Name))
	}
}

// inflateLimit is how big a push's objects may get once inflated: source
// compresses about 4:1, so 8x leaves room without letting a pack bomb
// take the gate's memory.
func inflateLimit(maxPush int64) int64 {
	return 8 * maxPush
}

// reportRefusal answers a refused push: a `remote:` line per refused ref
// (side band 2) and an ng status for every ref, so nothing looks pushed.
func (g *Gate) reportRefusal(w http.ResponseWriter, p *push) {
	rs := packp.NewReportStatus()
	rs.UnpackStatus = "ok"
	var messages []string
	for _, c := range p.req.Commands {
		why := p.refused[c.Name]
		status := "refused with the rest of this push"
		if why != nil {
			status = oneLine(why.Reason)
			messages = append(messages, fmt.Sprintf("bottle git gate: %s: %s; %s", printableRef(c.Name), oneLine(why.Reason), hintFor(why.Rule)))
		}
		// A name with control characters (only a hostile client sends one)
		// goes back with them replaced, as everything the gate writes.
		rs.CommandStatuses = append(rs.CommandStatuses, &packp.CommandStatus{ReferenceName: plumbing.ReferenceName(printableRef(c.Name)), Status: status})
	}
	g.report(w, p.req.Capabilities, rs, messages)
}

func printableRef(n plumbing.ReferenceName) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, string(n))
}

func hintFor(rule string) string {
	switch rule {
	case "push":
		return askHint
	case "tags", "delete", "force":
		return allowHint
	case "refname":
		return "use a ref name git accepts"
	case "max_push", "scan", "pack":
		return "nothing was sent upstream"
	}
	return askHint
}

// report writes a receive-pack result: messages on side band 2 (the
// agent's git prints them as "remote: ..."), the report-status on band 1,
// or bare when the agent asked for no side band.
func (g *Gate) report(w http.ResponseWriter, caps *capability.List, rs *packp.ReportStatus, messages []string) {
	w.Header().Set("Content-Type", "application/x-git-receive-pack-result")
	w.Header().Set("Cache-Control", "no-cache")
	if !caps.Supports(capability.ReportStatus) {
		return
	}
	var status bytes.Buffer
	_ = rs.Encode(&status)
	if !caps.Supports(capability.Sideband64k) {
		_, _ = w.Write(status.Bytes())
		return
	}
	mux := sideband.NewMuxer(sideband.Sideband64k, w)
	for _, m := range messages {
		_, _ = mux.WriteChannel(sideband.ProgressMessage, []byte(m+"\n"))
	}
	_, _ = mux.Write(status.Bytes())
	_, _ = io.WriteString(w, "0000")
}

// forward sends an allowed push to the upstream and its report back.
func (g *Gate) forward(w http.ResponseWriter, r *http.Request, p *push) {
	p.rec.Decision = "allow"
	rs, err := g.sendUpstream(r, p)
	if rs == nil {
		rs = packp.NewReportStatus()
		rs.UnpackStatus = "ok"
		for _, c := range p.req.Commands {
			rs.CommandStatuses = append(rs.CommandStatuses, &packp.CommandStatus{ReferenceName: c.Name, Status: "ok"})
		}
	}
	var messages []string
	if err != nil {
		fmt.Fprintf(g.cfg.Log, "git-gate: %s: upstream push: %v\n", p.remote.Name, err)
		p.rec.Reason = "upstream: " + oneLine(err.Error())
		messages = append(messages, "bottle git gate: the upstream of "+p.remote.Name+" refused or failed: "+oneLine(err.Error()))
		if rs.Error() == nil {
			for _, s := range rs.CommandStatuses {
				s.Status = "upstream: " + oneLine(err.Error())
			}
		}
	}
	g.record(p.rec)
	g.report(w, p.req.Capabilities, rs, messages)
}

func (g *Gate) sendUpstream(r *http.Request, p *push) (*packp.ReportStatus, error) {
	up, err := g.dial(r.Context(), p.remote)
	if err != nil {
		return nil, err
	}
	sess, err := up.client.NewReceivePackSession(up.ep, up.auth)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	ar, err := sess.AdvertisedReferencesContext(r.Context())
	if err != nil {
		return nil, err
	}
	upReq := packp.NewReferenceUpdateRequest()
	upReq.Commands = p.req.Commands
	for _, c := range []capability.Capability{capability.ReportStatus, capability.OFSDelta, capability.DeleteRefs} {
		if ar.Capabilities.Supports(c) {
			_ = upReq.Capabilities.Add(c)
		}
	}
	if ar.Capabilities.Supports(capability.Agent) {
		_ = upReq.Capabilities.Add(capability.Agent, gateAgent)
	}
	if len(p.pack) > 0 {
		upReq.Packfile = io.NopCloser(bytes.NewReader(p.pack))
	}
	return sess.ReceivePack(r.Context(), upReq)
}
