package gitgate

import (
	"bytes"
	"compress/zlib"
	"crypto/sha1"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing/format/pktline"
)

// receivePack POSTs commands and a pack to the gate as a malicious agent
// would, and returns the status and body.
func (w *world) receivePack(commands []string, pack []byte) (int, string) {
	w.t.Helper()
	var body bytes.Buffer
	e := pktline.NewEncoder(&body)
	for i, c := range commands {
		if i == 0 {
			c += "\x00report-status side-band-64k"
		}
		if err := e.EncodeString(c + "\n"); err != nil {
			w.t.Fatal(err)
		}
	}
	_ = e.Flush()
	body.Write(pack)
	return w.post("/origin/git-receive-pack", "application/x-git-receive-pack-request", body.Bytes())
}

func (w *world) post(path, ctype string, body []byte) (int, string) {
	w.t.Helper()
	resp, err := http.Post(w.gateURL+path, ctype, bytes.NewReader(body))
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const zeroID = "0000000000000000000000000000000000000000"

// bombPack is a valid pack of one blob of size zeros: a few KiB that
// inflate to size bytes.
func bombPack(t *testing.T, size int) []byte {
	var pack bytes.Buffer
	pack.WriteString("PACK")
	binary.Write(&pack, binary.BigEndian, uint32(2))
	binary.Write(&pack, binary.BigEndian, uint32(1))
	// Object header: type 3 (blob) in bits 4-6, size in 4 bits then 7-bit groups.
	n := size
	b := byte(3<<4) | byte(n&0x0f)
	n >>= 4
	for n > 0 {
		pack.WriteByte(b | 0x80)
		b = byte(n & 0x7f)
		n >>= 7
	}
	pack.WriteByte(b)
	zw := zlib.NewWriter(&pack)
	zw.Write(make([]byte, size))
	zw.Close()
	sum := sha1.Sum(pack.Bytes())
	pack.Write(sum[:])
	if pack.Len() > 64<<10 {
		t.Fatalf("the bomb is %d bytes", pack.Len())
	}
	return pack.Bytes()
}

func TestMaliciousPushes(t *testing.T) {
	w := newWorld(t, originPolicy("    max_push: 64KiB\n"))
	main := w.upstreamRef("refs/heads/main")
	fake := strings.Repeat("a", 40)
	for _, tc := range []struct {
		name     string
		commands []string
		pack     []byte
		want     string
	}{
		{"pack bomb", []string{zeroID + " " + fake + " refs/heads/agent/bomb"}, bombPack(t, 8<<20), "refused as a pack bomb"},
		{"bogus pack", []string{zeroID + " " + fake + " refs/heads/agent/bogus"}, []byte("PACK\x00\x00\x00\x02\x00\x00\x00\x05garbage"), "the pushed pack is malformed"},
		{"no pack", []string{zeroID + " " + fake + " refs/heads/agent/nopack"}, nil, "the pushed pack is malformed"},
		{"dot-dot ref", []string{zeroID + " " + fake + " refs/heads/agent/../../main"}, nil, "is not a valid ref name"},
		{"escape in ref", []string{zeroID + " " + fake + " refs/heads/agent/\x1b[31mred"}, nil, "holds a character git does not allow"},
		{"update of main", []string{main + " " + fake + " refs/heads/main"}, nil, "not in push patterns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := w.receivePack(tc.commands, tc.pack)
			if code != 200 || !strings.Contains(body, "ng refs/heads/") || !strings.Contains(body, tc.want) {
				t.Errorf("status %d, body %q; want an ng naming %q", code, body, tc.want)
			}
			if strings.Contains(body, "\x1b") {
				t.Errorf("the answer carries the agent's escape: %q", body)
			}
		})
	}
	if got := w.upstreamRef("refs/heads/main"); got != main {
		t.Errorf("upstream main moved to %s", got)
	}
	out, _ := w.gitCmd(w.dir, "--git-dir", w.bare, "for-each-ref").Output()
	if strings.Count(string(out), "\n") != 1 {
		t.Errorf("the upstream gained refs:\n%s", out)
	}
}

func TestMalformedRequests(t *testing.T) {
	w := newWorld(t, originPolicy(""))
	for _, tc := range []struct {
		name, path string
		body       []byte
		want       int
	}{
		{"oversized pkt-line", "/origin/git-upload-pack", []byte("ffff" + strings.Repeat("x", 70000)), 400},
		{"bad pkt length", "/origin/git-upload-pack", []byte("zzzzwant"), 400},
		{"want that is no id", "/origin/git-upload-pack", []byte("0012want nothing\n0000"), 400},
		{"shallow", "/origin/git-upload-pack", []byte("0032want " + strings.Repeat("a", 40) + "\n000ddeepen 1\n0000"), 400},
		{"endless body", "/origin/git-upload-pack", bytes.Repeat([]byte("0032have "+strings.Repeat("b", 40)+"\n"), 200000), 400},
		{"traversal", "/..%2f..%2fetc/git-upload-pack", nil, 404},
		{"unknown remote", "/other/git-receive-pack", nil, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := w.post(tc.path, "application/x-git-upload-pack-request", tc.body)
			if code != tc.want {
				t.Errorf("status %d (%q), want %d", code, body, tc.want)
			}
		})
	}
}

// A peer outside --clients is closed before it can send anything.
func TestClientsOnly(t *testing.T) {
	w := newWorld(t, originPolicy(""))
	log := &syncBuffer{}
	g, err := New(Config{PolicyFile: w.policy, KeyFile: w.keyFile, KnownHostsFile: w.known, Log: log,
		Clients: []netip.Prefix{netip.MustParsePrefix("10.213.0.0/16")}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go g.Serve(ln)
	client := &http.Client{Timeout: 5 * time.Second}
	if resp, err := client.Get("http://" + ln.Addr().String() + "/origin/info/refs?service=git-upload-pack"); err == nil {
		resp.Body.Close()
		t.Fatalf("a peer outside --clients got an answer: %s", resp.Status)
	}
	if !strings.Contains(log.String(), "outside --clients") {
		t.Errorf("the refusal is not logged: %q", log)
	}
}

// The gate's key never reaches the agent, not even when the upstream
// refuses it or its host key is unknown.
func TestNoCredentialEchoed(t *testing.T) {
	w := newWorld(t, originPolicy(""))
	key, _ := os.ReadFile(w.keyFile)
	keyBody := strings.Split(string(key), "\n")[1] // a line of the base64 body
	w.write(w.known, "[127.0.0.1]:1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")
	out := w.gitFails(w.dir, "clone", w.gateURL+"/origin", w.dir+"/c")
	if !strings.Contains(out, "is not in the gate's known_hosts") {
		t.Errorf("git said:\n%s", out)
	}
	w.write(w.keyFile, "-----BEGIN OPENSSH PRIVATE KEY-----\n"+keyBody+"\n-----END OPENSSH PRIVATE KEY-----\n")
	out2 := w.gitFails(w.dir, "clone", w.gateURL+"/origin", w.dir+"/d")
	if !strings.Contains(out2, "is not an unencrypted private key") {
		t.Errorf("git said:\n%s", out2)
	}
	for _, s := range []string{out, out2, w.records.String()} {
		if strings.Contains(s, keyBody[:20]) {
			t.Errorf("the key's bytes were echoed: %s", s)
		}
	}
}

// A client that sends a request's head and then trickles nothing more is
// cut off after the idle time, and the gate goes on serving others.
func TestSlowBodyCut(t *testing.T) {
	w := newWorld(t, originPolicy(""))
	w.gate.cfg.IdleBody = 300 * time.Millisecond
	c, err := net.Dial("tcp", strings.TrimPrefix(w.gateURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST /origin/git-receive-pack HTTP/1.1\r\nHost: g\r\nContent-Length: 100000\r\n\r\n0094")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	io.ReadAll(c) // ends when the gate gives up on the body and closes
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the gate waited %v for a stalled body", took)
	}
	clone := w.clone("after", 2)
	if _, err := os.Stat(clone + "/README"); err != nil {
		t.Errorf("the gate stopped serving: %v", err)
	}
}
