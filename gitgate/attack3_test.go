package gitgate

import (
	"bytes"
	"compress/zlib"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// Attacks on the git gate (attack3): a crafted pack that slips past the
// pack-bomb bound, and pushed credentials the secret scan did not see.

// packObject is one object of a hand-made pack: its type (1-4 base, 6
// ofs-delta), the distance back to its base (ofs-delta) and its data
// before compression.
type packObject struct {
	typ  byte
	back uint64
	data []byte
}

// makePack writes a version 2 pack of objs, with its trailing checksum.
// An ofs-delta's back is a distance in bytes, which the caller knows from
// the objects before it; small ones (< 128) are one byte.
func makePack(t *testing.T, objs ...packObject) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("PACK")
	binary.Write(&b, binary.BigEndian, uint32(2))
	binary.Write(&b, binary.BigEndian, uint32(len(objs)))
	for _, o := range objs {
		size := uint64(len(o.data))
		c := o.typ<<4 | byte(size&0x0f)
		size >>= 4
		for size > 0 {
			b.WriteByte(c | 0x80)
			c = byte(size & 0x7f)
			size >>= 7
		}
		b.WriteByte(c)
		if o.typ == 6 {
			if o.back >= 128 {
				t.Fatal("makePack writes one-byte offsets only")
			}
			b.WriteByte(byte(o.back))
		}
		zw := zlib.NewWriter(&b)
		zw.Write(o.data)
		zw.Close()
	}
	sum := sha1.Sum(b.Bytes())
	b.Write(sum[:])
	return b.Bytes()
}

// varint is git's little-endian base-128 number of a delta's header.
func varint(n uint64) []byte {
	var out []byte
	for {
		c := byte(n & 0x7f)
		n >>= 7
		if n == 0 {
			return append(out, c)
		}
		out = append(out, c|0x80)
	}
}

// A delta that claims a result of nearly 2^63 bytes made the running total
// of checkInflated wrap negative, and every object after it (here a megabyte
// of zeros that compresses to a kilobyte, a pack bomb) then passed the bound:
// go-git inflates base objects into memory before it resolves (and refuses)
// the lying delta.
func TestPackBombPastOverflow(t *testing.T) {
	base := packObject{typ: 3, data: []byte("a")}
	first := makePack(t, base)
	liar := packObject{typ: 6, back: uint64(len(first) - 12 - 20), // from the liar back to the base
		data: append(append(varint(1), varint(1<<63-1-12)...), 0x01, 'b')}
	bomb := packObject{typ: 3, data: make([]byte, 1<<20)}
	pack := makePack(t, base, liar, bomb)
	if len(pack) > 4096 {
		t.Fatalf("the bomb pack is %d bytes; it should be small", len(pack))
	}
	_, err := checkInflated(pack, 64<<10)
	if err == nil || !strings.Contains(err.Error(), "pack bomb") {
		t.Fatalf("checkInflated(%d-byte pack that inflates past 1 MiB, limit 64 KiB) = %v, want a pack bomb refusal", len(pack), err)
	}
	// And the honest bound still holds without the liar.
	if _, err := checkInflated(makePack(t, base, bomb), 64<<10); err == nil {
		t.Fatal("the bomb alone passed")
	}
	if _, err := checkInflated(makePack(t, base), 64<<10); err != nil {
		t.Fatalf("a one-byte blob: %v", err)
	}
}

// The agent wrote the credential and the agent chose how it looks: gitleaks'
// inline "gitleaks:allow" marker (meant for a person vouching for a test
// fixture) let it through, and so did a commit message, which the scan never
// read.
func TestScanEvasions(t *testing.T) {
	secret := "ghp_" + "R4nd0mL00k1ngT0k3nF0rT3st1ngGate0123"
	for _, tc := range []struct {
		name, file, content, message, want string
	}{
		{"inline allow", "config/deploy.env", "REGION=eu-west-1\nGITHUB_TOKEN=" + secret + " # gitleaks:allow\n", "add config",
			"config/deploy.env:2"},
		{"commit message", "notes.txt", "nothing here\n", "use the token\n\nGITHUB_TOKEN=" + secret + "\n",
			"message of commit "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, originPolicy(""))
			clone := w.clone("agent", 2)
			w.commit(clone, tc.file, tc.content, tc.message)
			out := w.gitFails(clone, "push", "origin", "HEAD:refs/heads/agent/leak")
			refused(t, w, out, tc.want, map[string]string{"refs/heads/agent/leak": ""})
			if strings.Contains(out, secret) || strings.Contains(w.records.String(), secret) {
				t.Errorf("the secret was echoed:\n%s\n%s", out, w.records)
			}
		})
	}
}

// With fetch: false the agent may not read the upstream, yet the push
// advertisement (info/refs?service=git-receive-pack) listed every ref of it
// and the commit each points at. It now lists only the refs the agent may
// push, which is all git needs to push them.
func TestNoFetchHidesRefs(t *testing.T) {
	w := newWorld(t, originPolicy("    fetch: false\n"))
	main := w.upstreamRef("refs/heads/main")
	advert := func() string {
		resp, err := http.Get(w.gateURL + "/origin/info/refs?service=git-receive-pack")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if a := advert(); strings.Contains(a, "refs/heads/main") || strings.Contains(a, main) {
		t.Errorf("with fetch: false the push advertisement shows the upstream's main:\n%q", a)
	}
	// The agent still pushes its own branch, and fast-forwards it.
	work := filepath.Join(w.dir, "work")
	w.git(w.dir, "init", "-q", "-b", "agent/x", work)
	one := w.commit(work, "a.txt", "one\n", "one")
	w.git(work, "push", "-q", w.gateURL+"/origin", "agent/x")
	two := w.commit(work, "b.txt", "two\n", "two")
	w.git(work, "push", "-q", w.gateURL+"/origin", "agent/x")
	if got := w.upstreamRef("refs/heads/agent/x"); got != two || one == two {
		t.Fatalf("upstream agent/x = %q, want %s", got, two)
	}
	if a := advert(); !strings.Contains(a, two+" refs/heads/agent/x") {
		t.Errorf("the advertisement lacks the agent's own branch:\n%q", a)
	}
}

// A pack may carry objects no pushed tree names: git's receive-pack keeps
// them, and a host that serves objects by id (GitHub's git data API) hands
// them out. The scan looked only at blobs named by the pack's trees, so a
// credential in a loose blob went upstream unread. Here the push is made
// by hand: a clean commit for agent/x plus a blob nothing points at.
func TestScanLooseBlob(t *testing.T) {
	w := newWorld(t, originPolicy(""))
	clone := w.clone("agent", 2)
	head := w.commit(clone, "clean.txt", "nothing to see\n", "clean")
	secret := "ghp_" + "R4nd0mL00k1ngT0k3nF0rT3st1ngGate0123"
	w.write(filepath.Join(clone, "loose"), "GITHUB_TOKEN="+secret+"\n")
	loose := strings.TrimSpace(w.git(clone, "hash-object", "-w", "loose"))
	objects := w.git(clone, "rev-list", "--objects", "HEAD", "^origin/main")
	var ids []string
	for _, l := range strings.Split(strings.TrimSpace(objects), "\n") {
		ids = append(ids, strings.Fields(l)[0])
	}
	cmd := w.gitCmd(clone, "pack-objects", "--stdout", "-q")
	cmd.Stdin = strings.NewReader(strings.Join(append(ids, loose), "\n") + "\n")
	pack, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Repeat("0", 40) + " " + head + " refs/heads/agent/x\x00report-status side-band-64k\n"
	body := fmt.Sprintf("%04x%s0000%s", len(line)+4, line, pack)
	resp, err := http.Post(w.gateURL+"/origin/git-receive-pack", "application/x-git-receive-pack-request", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(answer), "looks like a credential: blob "+loose[:12]) {
		t.Errorf("the gate answered:\n%q\nwant the loose blob refused", answer)
	}
	if got := w.upstreamRef("refs/heads/agent/x"); got != "" {
		t.Errorf("upstream agent/x = %s: the push went through", got)
	}
	if strings.Contains(string(answer), secret) {
		t.Error("the answer echoes the secret")
	}
	if out, err := w.gitCmd(w.dir, "--git-dir", w.bare, "cat-file", "-p", loose).CombinedOutput(); err == nil {
		t.Errorf("the upstream holds the loose blob: %s", out)
	}
}
