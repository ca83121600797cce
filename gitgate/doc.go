// Package gitgate is the git gate: the service (`bottle git-gate`) through
// which an agent fetches from and pushes to its git remotes without ever
// holding their key or token, and may push only where the operator allows.
//
// The agent speaks git's smart HTTP protocol to the gate
// (http://git-gate:8418/<remote name>, which git's url.<base>.insteadOf
// rewrites the remote's real URL to): protocol v0 and v2 for fetch,
// receive-pack for push. The gate speaks protocol v0 to the upstream, over
// SSH with its key (host keys checked strictly against known_hosts) or
// over HTTPS with a token from its environment, through go-git's client.
//
// Fetch: the gate lists the upstream's refs and answers the agent's
// negotiation itself: the first round of haves is acknowledged and
// declared ready, and the upstream is asked once for the wants with those
// haves (it uses the ones it holds and ignores the rest), so a fetch costs
// one request upstream and the pack streams through unread.
//
// Push: the push advertisement lists the upstream's refs (with fetch: false
// only those the push patterns allow, so the agent learns nothing else and
// its git sends the whole history of what it pushes). The gate reads the
// agent's ref updates and its whole pack (at most
// the remote's max_push; a bigger push is refused without keeping what
// follows), and decides every ref before anything reaches the upstream:
// the name (git's ref-name rules), the push patterns, tags, deletion, and
// force (non-fast-forward). A fast-forward is proven by walking the
// parents of the new commit through the pushed pack until the old one is
// reached; if the walk leaves the pack first, the update is treated as a
// force push. With scan on, every blob the pack adds (named by its path in
// the pushed trees, or by its id when no tree names it) and the messages of
// the commits and tags it adds are scanned for credentials with gitleaks'
// default rules (an inline "gitleaks:allow" is not honoured: the agent
// wrote it); a hit names the file (or "message of commit ID"), line and
// rule, never the secret. If any ref is refused, nothing is sent upstream
// and the agent's git prints the reason (`remote: bottle git gate: ...`
// and ` ! [remote rejected] ... (reason)`). Otherwise the same updates and
// pack go to the upstream's receive-pack and its report comes back.
//
// Every fetch and push decision is one JSON line (Record) on the records
// writer (stdout and the rotated decisions.jsonl), and each push decision
// also an audit.jsonl line when an audit file is given. SIGHUP re-reads the
// policy file: a good file replaces the policy and prints a policy_reload
// line with the SHA-256 of the bytes read; a bad or partly written one is
// refused with a policy_refused line and the old policy stays.
//
// What the gate cannot see: what the agent does with the key-less clone
// (it may copy the code anywhere the egress lets it); commits it cannot
// prove fast-forward from the pack alone (an update to a commit the
// upstream already has, such as moving a branch to another branch's
// tip, is refused as a force push unless force is allowed); secrets in
// blobs the upstream already has, or spread over several files, or in
// forms gitleaks' rules do not know, or in blobs the scan skips: over 10
// MiB, binary (a NUL in the first 8000 bytes), or at a path gitleaks'
// global allowlist leaves out (images, fonts, .pdf, .bin, .exe, go.sum,
// lockfiles, node_modules/, vendor/...); and anything outside git (the egress
// governs that).
package gitgate
