package gitgate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/bottle-sh/bottle/gitgate/policy"
)

const gateAgent = "bottle-git-gate"

// maxFetchRequest bounds an agent's upload-pack request (wants and haves,
// about 50 bytes each).
const maxFetchRequest = 8 << 20

func protocolV2(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Git-Protocol"), "version=2")
}

// refuseAdvert answers an info/refs request with git's ERR line, which the
// agent's git prints as "fatal: remote error: MSG".
func (g *Gate) refuseAdvert(w http.ResponseWriter, service, name, msg string) {
	w.Header().Set("Content-Type", "application/x-"+service+"-advertisement")
	w.Header().Set("Cache-Control", "no-cache")
	e := pktline.NewEncoder(w)
	_ = e.EncodeString("# service=" + service + "\n")
	_ = e.Flush()
	_ = e.EncodeString("ERR " + oneLine(msg) + "\n")
}

// oneLine keeps a message on one line and free of terminal controls.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

func (g *Gate) denyFetch(w http.ResponseWriter, remote *policy.Remote) {
	reason := fmt.Sprintf("fetch is not allowed from %s (fetch: false)", remote.Name)
	g.record(&Record{Remote: remote.Name, Op: "fetch", Decision: "deny", Rule: "fetch", Reason: reason})
	g.refuseAdvert(w, "git-upload-pack", remote.Name, "bottle git gate: "+reason+"; ask the operator to allow it (bottle run git_policy_apply)")
}

// advertiseFetch answers info/refs?service=git-upload-pack: v2's
// capabilities, or v0's ref advertisement from the upstream with the
// gate's own capabilities.
func (g *Gate) advertiseFetch(w http.ResponseWriter, r *http.Request, remote *policy.Remote) {
	if !remote.Fetch {
		g.denyFetch(w, remote)
		return
	}
	if protocolV2(r) {
		w.Header().Set("Content-Type", "application/x-git-upload-pack-advertisement")
		w.Header().Set("Cache-Control", "no-cache")
		e := pktline.NewEncoder(w)
		_ = e.EncodeString("version 2\n", "agent="+gateAgent+"\n", "ls-refs\n", "fetch\n", "object-format=sha1\n")
		_ = e.Flush()
		return
	}
	ar, upCaps, err := g.upstreamRefs(r.Context(), remote)
	if err != nil {
		g.upstreamFailed(w, "git-upload-pack", remote, err)
		return
	}
	out := packp.NewAdvRefs()
	out.Prefix = [][]byte{[]byte("# service=git-upload-pack"), pktline.Flush}
	out.Head, out.References, out.Peeled = ar.Head, ar.References, ar.Peeled
	for _, c := range []capability.Capability{capability.MultiACKDetailed, capability.NoDone, capability.Sideband64k, capability.OFSDelta} {
		_ = out.Capabilities.Add(c)
	}
	for _, c := range []capability.Capability{capability.ThinPack, capability.IncludeTag, capability.NoProgress} {
		if upCaps.Supports(c) {
			_ = out.Capabilities.Add(c)
		}
	}
	for _, s := range upCaps.Get(capability.SymRef) {
		_ = out.Capabilities.Add(capability.SymRef, s)
	}
	_ = out.Capabilities.Add(capability.Agent, gateAgent)
	w.Header().Set("Content-Type", "application/x-git-upload-pack-advertisement")
	w.Header().Set("Cache-Control", "no-cache")
	_ = out.Encode(w)
}

// upstreamFailed tells the agent the upstream could not be reached, in
// words that name the remote and never a credential.
func (g *Gate) upstreamFailed(w http.ResponseWriter, service string, remote *policy.Remote, err error) {
	fmt.Fprintf(g.cfg.Log, "git-gate: %s: upstream: %v\n", remote.Name, err)
	g.refuseAdvert(w, service, remote.Name, fmt.Sprintf("bottle git gate: the upstream of %s: %v", remote.Name, err))
}

// upstreamRefs lists the upstream's refs for fetching. An empty upstream
// is an advertisement with no refs, not an error.
func (g *Gate) upstreamRefs(ctx context.Context, remote *policy.Remote) (*packp.AdvRefs, *capability.List, error) {
	up, err := g.dial(ctx, remote)
	if err != nil {
		return nil, nil, err
	}
	sess, err := up.client.NewUploadPackSession(up.ep, up.auth)
	if err != nil {
		return nil, nil, err
	}
	defer sess.Close()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return packp.NewAdvRefs(), capability.NewList(), nil
	}
	if err != nil {
		return nil, nil, err
	}
	return ar, ar.Capabilities, nil
}

// fetchRequest is an agent's upload-pack request, v0 or v2.
type fetchRequest struct {
	v2      bool
	command string // v2: ls-refs or fetch; v0: fetch
	wants   []plumbing.Hash
	haves   []plumbing.Hash
	done    bool
	caps    map[string]bool // v0 capabilities of the first want; v2 fetch arguments
	prefix  []string        // v2 ls-refs ref-prefix
}

func (g *Gate) uploadPack(w http.ResponseWriter, r *http.Request, remote *policy.Remote) {
	if !remote.Fetch {
		g.record(&Record{Remote: remote.Name, Op: "fetch", Decision: "deny", Rule: "fetch", Reason: "fetch: false"})
		http.Error(w, "bottle git gate: fetch is not allowed from "+remote.Name, http.StatusForbidden)
		return
	}
	body, err := g.requestBody(w, r, maxFetchRequest)
	if err != nil {
		http.Error(w, "bottle git gate: "+err.Error(), http.StatusBadRequest)
		return
	}
	req, err := readFetchRequest(body, protocolV2(r))
	if err != nil {
		http.Error(w, "bottle git gate: bad upload-pack request: "+err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/x-git-upload-pack-result")
	w.Header().Set("Cache-Control", "no-cache")
	if req.command == "ls-refs" {
		g.lsRefs(w, r.Context(), remote, req)
		return
	}
	g.fetch(w, r.Context(), remote, req)
}

// readFetchRequest parses a v0 request (wants, flush, haves, done or
// flush) or a v2 command (command=, capabilities, delim, arguments, flush).
func readFetchRequest(body io.Reader, v2 bool) (*fetchRequest, error) {
	p := &pktReader{r: body}
	req := &fetchRequest{v2: v2, command: "fetch", caps: map[string]bool{}}
	if v2 {
		req.command = ""
		if err := req.readV2(p); err != nil {
			return nil, err
		}
		if req.command == "" {
			return nil, errors.New("no command= line")
		}
		return req, nil
	}
	if err := req.readV0(p); err != nil {
		return nil, err
	}
	return req, nil
}

func (req *fetchRequest) readV0(p *pktReader) error {
	for {
		kind, line, err := p.next()
		if err == io.EOF && len(req.wants) > 0 {
			return nil
		}
		if err != nil {
			return err
		}
		if kind != pktData {
			continue // the flush after the wants, or the end of a round
		}
		if err := req.line(strings.TrimSuffix(string(line), "\n"), true); err != nil {
			return err
		}
		if req.done {
			return nil
		}
	}
}

func (req *fetchRequest) readV2(p *pktReader) error {
	section := "command"
	for {
		kind, line, err := p.next()
		if err != nil {
			return err
		}
		switch kind {
		case pktFlush:
			return nil
		case pktDelim:
			section = "args"
			continue
		case pktEnd:
			return nil
		}
		s := strings.TrimSuffix(string(line), "\n")
		if section == "command" {
			if cmd, ok := strings.CutPrefix(s, "command="); ok {
				if cmd != "ls-refs" && cmd != "fetch" {
					return fmt.Errorf("command %q is not served (ls-refs and fetch are)", oneLine(cmd))
				}
				req.command = cmd
			}
			continue // agent=, object-format=, server-option=
		}
		if req.command == "ls-refs" {
			if pre, ok := strings.CutPrefix(s, "ref-prefix "); ok {
				req.prefix = append(req.prefix, pre)
			} else {
				req.caps[s] = true // symrefs, peel, unborn
			}
			continue
		}
		if err := req.line(s, false); err != nil {
			return err
		}
	}
}

// maxWantsHaves bounds the object ids one request may name.
const maxWantsHaves = 100000

// line reads one want, have or done line; v0's first want carries the
// capabilities after a space, v2's arguments come as lines of their own.
func (req *fetchRequest) line(s string, v0 bool) error {
	word, rest, _ := strings.Cut(s, " ")
	switch word {
	case "want", "have":
		hex, caps, _ := strings.Cut(rest, " ")
		if !plumbing.IsHash(hex) {
			return fmt.Errorf("%s %q is not an object id", word, oneLine(hex))
		}
		if len(req.wants)+len(req.haves) >= maxWantsHaves {
			return fmt.Errorf("more than %d wants and haves", maxWantsHaves)
		}
		if word == "want" {
			req.wants = append(req.wants, plumbing.NewHash(hex))
			if v0 && len(req.wants) == 1 {
				for _, c := range strings.Fields(caps) {
					req.caps[c] = true
				}
			}
		} else {
			req.haves = append(req.haves, plumbing.NewHash(hex))
		}
	case "done":
		req.done = true
	case "shallow", "deepen", "deepen-since", "deepen-not", "filter", "want-ref":
		return fmt.Errorf("%s is not served by the gate (no shallow or partial clones)", word)
	default:
		req.caps[s] = true // v2: thin-pack, ofs-delta, no-progress, include-tag
	}
	return nil
}

// lsRefs answers v2's ls-refs from the upstream's advertisement.
func (g *Gate) lsRefs(w http.ResponseWriter, ctx context.Context, remote *policy.Remote, req *fetchRequest) {
	ar, caps, err := g.upstreamRefs(ctx, remote)
	e := pktline.NewEncoder(w)
	if err != nil {
		fmt.Fprintf(g.cfg.Log, "git-gate: %s: upstream: %v\n", remote.Name, err)
		_ = e.EncodeString("ERR " + oneLine(fmt.Sprintf("bottle git gate: the upstream of %s: %v", remote.Name, err)) + "\n")
		return
	}
	wanted := func(name string) bool {
		if len(req.prefix) == 0 {
			return true
		}
		for _, p := range req.prefix {
			if strings.HasPrefix(name, p) {
				return true
			}
		}
		return false
	}
	if ar.Head != nil && wanted("HEAD") {
		line := ar.Head.String() + " HEAD"
		for _, s := range caps.Get(capability.SymRef) {
			if target, ok := strings.CutPrefix(s, "HEAD:"); ok && req.caps["symrefs"] {
				line += " symref-target:" + target
			}
		}
		_ = e.EncodeString(line + "\n")
	}
	names := make([]string, 0, len(ar.References))
	for name := range ar.References {
		if name != "HEAD" && wanted(name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		line := ar.References[name].String() + " " + name
		if peeled, ok := ar.Peeled[name]; ok && req.caps["peel"] {
			line += " peeled:" + peeled.String()
		}
		_ = e.EncodeString(line + "\n")
	}
	_ = e.Flush()
}

// fetch asks the upstream once for the wants with the haves the agent
// sent and streams the pack back. A round of haves without done is
// acknowledged and declared ready at once, so the agent makes no second
// round (see the package comment).
func (g *Gate) fetch(w http.ResponseWriter, ctx context.Context, remote *policy.Remote, req *fetchRequest) {
	rec := &Record{Remote: remote.Name, Op: "fetch", Decision: "allow"}
	e := pktline.NewEncoder(w)
	fail := func(err error) {
		fmt.Fprintf(g.cfg.Log, "git-gate: %s: upstream: %v\n", remote.Name, err)
		rec.Reason = "upstream: " + err.Error()
		g.record(rec)
		_ = e.EncodeString("ERR " + oneLine(fmt.Sprintf("bottle git gate: the upstream of %s: %v", remote.Name, err)) + "\n")
	}
	if len(req.wants) == 0 {
		_ = e.Flush()
		return
	}
	agentBand := req.v2 || req.caps["side-band-64k"]
	up, err := g.askUpstream(ctx, remote, req, agentBand)
	if errors.Is(err, errClosedEarly) {
		up, err = g.askUpstream(ctx, remote, req, agentBand) // nothing reached the agent yet
	}
	if err != nil {
		fail(err)
		return
	}
	defer up.close()
	rec.Refs = wantedRefs(up.ar, req.wants)
	upReq, resp := up.req, up.resp
	g.negotiated(w, req)
	var n int64
	switch {
	case upReq.Capabilities.Supports(capability.Sideband64k):
		n, err = io.Copy(w, resp) // already side-band framed, with its closing flush
	case agentBand:
		mux := sideband.NewMuxer(sideband.Sideband64k, w)
		n, err = io.Copy(mux, resp)
		if err == nil {
			err = e.Flush()
		} else {
			_, _ = mux.WriteChannel(sideband.ErrorMessage, []byte("bottle git gate: the upstream's pack broke off\n"))
		}
	default:
		n, err = io.Copy(w, resp)
	}
	rec.Bytes = n
	if err != nil {
		rec.Reason = "the pack broke off: " + err.Error()
	}
	g.record(rec)
}

// errClosedEarly is go-git's client failing to write the rest of its
// request (or to close it) because the upstream already answered and
// closed the channel: "closing input: EOF" (go-git issue 1685, fixed after
// v5.19.3). Asking again in a new session is safe before the agent is sent
// anything.
var errClosedEarly = errors.New("the upstream closed the connection before the request was written")

// upstreamFetch is an upload-pack request in flight upstream.
type upstreamFetch struct {
	sess transport.UploadPackSession
	ar   *packp.AdvRefs
	req  *packp.UploadPackRequest
	resp *packp.UploadPackResponse
}

func (u *upstreamFetch) close() {
	u.resp.Close()
	u.sess.Close()
}

// askUpstream opens a session to the upstream and asks it for the
// agent's wants with its haves, with the capabilities both sides have.
func (g *Gate) askUpstream(ctx context.Context, remote *policy.Remote, req *fetchRequest, agentBand bool) (*upstreamFetch, error) {
	up, err := g.dial(ctx, remote)
	if err != nil {
		return nil, err
	}
	sess, err := up.client.NewUploadPackSession(up.ep, up.auth)
	if err != nil {
		return nil, err
	}
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		sess.Close()
		return nil, err
	}
	upReq := packp.NewUploadPackRequest()
	upReq.Wants, upReq.Haves = req.wants, req.haves
	for _, c := range []capability.Capability{capability.OFSDelta, capability.ThinPack, capability.IncludeTag, capability.NoProgress, capability.Sideband64k} {
		asked := req.caps[string(c)] || c == capability.OFSDelta || c == capability.Sideband64k && agentBand
		if asked && ar.Capabilities.Supports(c) {
			_ = upReq.Capabilities.Add(c)
		}
	}
	if ar.Capabilities.Supports(capability.Agent) {
		_ = upReq.Capabilities.Add(capability.Agent, gateAgent)
	}
	resp, err := sess.UploadPack(ctx, upReq)
	if err != nil {
		sess.Close()
		msg := err.Error()
		if strings.HasSuffix(msg, ": EOF") && (strings.HasPrefix(msg, "closing input:") || strings.HasPrefix(msg, "sending ")) {
			return nil, fmt.Errorf("%w (%s)", errClosedEarly, msg)
		}
		return nil, err
	}
	return &upstreamFetch{sess: sess, ar: ar, req: upReq, resp: resp}, nil
}

// negotiated writes what precedes the pack: v0's ACK/NAK lines, v2's
// acknowledgments section and the packfile header.
func (g *Gate) negotiated(w io.Writer, req *fetchRequest) {
	e := pktline.NewEncoder(w)
	round := len(req.haves) > 0 && !req.done
	if req.v2 {
		if round {
			_ = e.EncodeString("acknowledgments\n")
			for _, h := range req.haves {
				_ = e.EncodeString("ACK " + h.String() + "\n")
			}
			_ = e.EncodeString("ready\n")
			_, _ = io.WriteString(w, "0001") // delim-pkt, which go-git v5's encoder cannot write
		}
		_ = e.EncodeString("packfile\n")
		return
	}
	if len(req.haves) == 0 {
		_ = e.EncodeString("NAK\n")
		return
	}
	last := req.haves[len(req.haves)-1].String()
	if round {
		for _, h := range req.haves {
			_ = e.EncodeString("ACK " + h.String() + " common\n")
		}
		_ = e.EncodeString("ACK "+last+" ready\n", "NAK\n")
	}
	_ = e.EncodeString("ACK " + last + "\n")
}

// wantedRefs names the wanted objects by the refs pointing at them.
func wantedRefs(ar *packp.AdvRefs, wants []plumbing.Hash) []RefRecord {
	byHash := map[plumbing.Hash][]string{}
	for name, h := range ar.References {
		byHash[h] = append(byHash[h], name)
	}
	var out []RefRecord
	for _, h := range wants {
		names := byHash[h]
		sort.Strings(names)
		ref := strings.Join(names, ",")
		out = append(out, RefRecord{Ref: ref, New: h.String()})
	}
	return out
}
