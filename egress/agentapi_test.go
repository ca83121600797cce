package egress

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// agentDo sends a request to the agent API through the proxy, as an agent
// with HTTP_PROXY set does.
func agentDo(t *testing.T, tp *testProxy, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+AgentHost+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := tp.client(t).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func answer(t *testing.T, dir string, a Answer) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, AnswersFile), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	json.NewEncoder(f).Encode(a)
	f.Close()
}

// The plain JSON API: ask, see the status, wait for the answer the host
// writes; a denial becomes a pending request; requests survive a reload
// and a restart; nothing the agent sends approves.
func TestAgentAPIJSON(t *testing.T) {
	dir := t.TempDir()
	w := newWorld(t)
	tweak := func(c *Config) { c.StateDir = dir }
	tp := startProxyWith(t, testRoutes, w, "127.0.0.1:0", tweak)

	status, body := agentDo(t, tp, "POST", "/v1/requests", `{"host":"docs.example.org","paths":["/api/"],"methods":["get"],"reason":"read the API docs"}`)
	if status != 201 || !strings.Contains(body, `"status":"pending"`) || !strings.Contains(body, `"methods":["GET"]`) {
		t.Fatalf("ask: %d %s", status, body)
	}
	var asked AccessRequest
	json.Unmarshal([]byte(body), &asked)

	// A denied request is a pending request too, counted by host, method
	// and path prefix.
	get(t, tp.client(t), "GET", "http://evil.test/a/1?token=sekrit")
	get(t, tp.client(t), "GET", "http://evil.test/a/2")
	_, body = agentDo(t, tp, "GET", "/v1/requests", "")
	if !strings.Contains(body, `"kind":"denied","host":"evil.test","methods":["GET"],"paths":["/a/"],"reason":"no route","count":2`) || strings.Contains(body, "sekrit") {
		t.Fatalf("requests: %s", body)
	}

	// Every way to approve from inside is refused.
	for _, try := range [][3]string{
		{"POST", "/v1/requests/" + asked.ID + "/approve", ""},
		{"POST", "/v1/approve", `{"id":"` + asked.ID + `"}`},
		{"PUT", "/v1/requests/" + asked.ID, `{"status":"approved"}`},
		{"POST", "/v1/requests", `{"host":"docs.example.org","reason":"x","status":"approved"}`},
		{"POST", "/v1/answers", `{"id":"` + asked.ID + `","decision":"approved"}`},
	} {
		if s, b := agentDo(t, tp, try[0], try[1], try[2]); s < 400 {
			t.Errorf("%s %s: %d %s", try[0], try[1], s, b)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, AnswersFile)); err == nil {
		t.Fatal("the agent API wrote answers.jsonl")
	}

	// Waiting: the host answers while the agent waits.
	go func() {
		time.Sleep(300 * time.Millisecond)
		answer(t, dir, Answer{ID: asked.ID, Decision: "approved", Expires: "2999-01-01T00:00:00Z", Time: time.Now().UTC().Format(time.RFC3339)})
		tp.Reload()
	}()
	start := time.Now()
	_, body = agentDo(t, tp, "GET", "/v1/requests/"+asked.ID+"?wait=10", "")
	if !strings.Contains(body, `"status":"approved"`) || time.Since(start) > 5*time.Second {
		t.Fatalf("wait: %s after %v", body, time.Since(start))
	}

	// A restart keeps the requests and their answers.
	tp.book.flush()
	tp2 := startProxyWith(t, testRoutes, w, "127.0.0.1:0", tweak)
	_, body = agentDo(t, tp2, "GET", "/v1/requests/"+asked.ID, "")
	if !strings.Contains(body, `"status":"approved"`) {
		t.Fatalf("after a restart: %s", body)
	}
	_, body = agentDo(t, tp2, "GET", "/v1/allowed", "")
	if !strings.Contains(body, `"host":"api.example.test","paths":["/v1/"],"methods":["GET","POST"],"injects":"X-Api-Key"`) || strings.Contains(body, "TEST_API_KEY") {
		t.Errorf("allowed: %s", body)
	}
	_, body = agentDo(t, tp2, "GET", "/v1/denials", "")
	if !strings.Contains(body, `"denials":[]`) {
		t.Logf("denials after restart (kept in memory only): %s", body)
	}
}

// Bad input gets a clear error, and bounded: oversized bodies, malformed
// JSON, bad fields, too many open requests.
func TestAgentAPIBadInput(t *testing.T) {
	tp := startProxyWith(t, testRoutes, newWorld(t), "127.0.0.1:0", func(c *Config) { c.StateDir = t.TempDir() })
	for _, c := range []struct {
		body, want string
		status     int
	}{
		{`{"host":`, "malformed JSON", 400},
		{`[1,2]`, "wrong type", 400},
		{`{"host":"a.example.com","reason":"x","extra":1}`, "unknown field", 400},
		{`{"host":"https://a.example.com/x","reason":"x"}`, "host:", 400},
		{`{"host":"a.example.com"}`, "reason: say why", 400},
		{`{"host":"a.example.com","reason":"` + strings.Repeat("r", 501) + `"}`, "at most 500", 400},
		{`{"host":"a.example.com","reason":"x","paths":["nope"]}`, "not a path prefix", 400},
		{`{"host":"bottle.internal","reason":"x"}`, "the egress itself", 400},
		{`{"host":"a.example.com","reason":"` + strings.Repeat("r", maxAgentBody) + `"}`, "at most 65536 bytes", 413},
	} {
		status, body := agentDo(t, tp, "POST", "/v1/requests", c.body)
		if status != c.status || !strings.Contains(body, c.want) {
			t.Errorf("%.60s: %d %s, want %d %q", c.body, status, body, c.status, c.want)
		}
	}
	for i := 0; i < maxOpenRequests; i++ {
		if s, b := agentDo(t, tp, "POST", "/v1/requests", fmt.Sprintf(`{"host":"h%d.example.com","reason":"flood"}`, i)); s != 201 {
			t.Fatalf("ask %d: %d %s", i, s, b)
		}
	}
	if s, b := agentDo(t, tp, "POST", "/v1/requests", `{"host":"one-more.example.com","reason":"flood"}`); s != 400 || !strings.Contains(b, "already waiting") {
		t.Errorf("over the limit: %d %s", s, b)
	}
	// Malformed JSON-RPC on /mcp: an error, and the egress serves on.
	for _, body := range []string{`{"jsonrpc":"2.0","id":1,"method":`, `{"jsonrpc":"1.0"}`, `[]`, `nonsense`} {
		req, _ := http.NewRequest("POST", "http://"+AgentHost+"/mcp", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := tp.client(t).Do(req)
		if err != nil {
			t.Fatalf("mcp %q: %v", body, err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 && resp.StatusCode != 200 {
			t.Errorf("mcp %q: %d", body, resp.StatusCode)
		}
	}
	if s, _ := agentDo(t, tp, "GET", "/v1/allowed", ""); s != 200 {
		t.Errorf("after malformed input: %d", s)
	}
}

// A real MCP client (the go-sdk's) through the proxy: the tools list, ask,
// status with a wait the host's answer ends.
func TestAgentMCP(t *testing.T) {
	dir := t.TempDir()
	tp := startProxyWith(t, testRoutes, newWorld(t), "127.0.0.1:0", func(c *Config) { c.StateDir = dir })
	client := mcp.NewClient(&mcp.Implementation{Name: "probe", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sess, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: "http://" + AgentHost + "/mcp", HTTPClient: tp.client(t)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	tools, err := sess.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range tools.Tools {
		names = append(names, tl.Name)
	}
	if strings.Join(names, ",") != "allowed_now,recent_denials,request_access,request_status" {
		t.Errorf("tools: %v", names)
	}
	res, err := sess.CallTool(ctx, &mcp.CallToolParams{Name: "request_access", Arguments: map[string]any{"host": "pkg.example.org", "reason": "install a dependency"}})
	if err != nil || res.IsError {
		t.Fatalf("request_access: %v %+v", err, res)
	}
	var asked AccessRequest
	b, _ := json.Marshal(res.StructuredContent)
	json.Unmarshal(b, &asked)
	if asked.ID == "" || asked.Status != "pending" {
		t.Fatalf("asked: %s", b)
	}
	res, _ = sess.CallTool(ctx, &mcp.CallToolParams{Name: "request_access", Arguments: map[string]any{"host": "pkg.example.org"}})
	if res == nil || !res.IsError {
		t.Errorf("request_access without a reason: %+v", res)
	}
	res, err = sess.CallTool(ctx, &mcp.CallToolParams{Name: "approve", Arguments: map[string]any{"id": asked.ID}})
	if err == nil && (res == nil || !res.IsError) {
		t.Errorf("an approve tool answered: %+v", res)
	}
	go func() {
		time.Sleep(200 * time.Millisecond)
		answer(t, dir, Answer{ID: asked.ID, Decision: "denied", Reason: "use the mirror", Time: time.Now().UTC().Format(time.RFC3339)})
		tp.Reload()
	}()
	res, err = sess.CallTool(ctx, &mcp.CallToolParams{Name: "request_status", Arguments: map[string]any{"id": asked.ID, "wait_seconds": 10}})
	if err != nil || res.IsError {
		t.Fatalf("request_status: %v %+v", err, res)
	}
	b, _ = json.Marshal(res.StructuredContent)
	if !strings.Contains(string(b), `"status":"denied"`) || !strings.Contains(string(b), "use the mirror") {
		t.Errorf("status: %s", b)
	}
}
