package docker

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bottle-sh/bottle/engine"
)

// writeContext makes a context in the docker CLI's store under dir, as
// `docker context create NAME --docker host=HOST,ca=...` does.
func writeContext(t *testing.T, dir, name, meta string, tlsFiles bool) string {
	t.Helper()
	sum := sha256.Sum256([]byte(name))
	id := hex.EncodeToString(sum[:])
	metaDir := filepath.Join(dir, "contexts", "meta", id)
	if err := os.MkdirAll(metaDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(metaDir, "meta.json"), []byte(meta), 0o644); err != nil {
		t.Fatal(err)
	}
	tlsDir := filepath.Join(dir, "contexts", "tls", id, "docker")
	if tlsFiles {
		if err := os.MkdirAll(tlsDir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return tlsDir
}

func TestResolveEngines(t *testing.T) {
	cfg := t.TempDir()
	tlsDir := writeContext(t, cfg, "remote", `{"Name":"remote","Metadata":{},"Endpoints":{"docker":{"Host":"tcp://10.0.0.9:2376","SkipTLSVerify":false}}}`, true)
	writeContext(t, cfg, "plain", `{"Name":"plain","Endpoints":{"docker":{"Host":"tcp://10.0.0.8:2375"}}}`, false)
	writeContext(t, cfg, "box", `{"Name":"box","Endpoints":{"docker":{"Host":"ssh://me@box"}}}`, false)
	writeContext(t, cfg, "k8s", `{"Name":"k8s","Endpoints":{"kubernetes":{}}}`, false)
	if err := os.WriteFile(filepath.Join(cfg, "config.json"), []byte(`{"currentContext":"box"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ref  string
		env  map[string]string
		want engine.Endpoint
		err  string
	}{
		{"", nil, engine.Endpoint{Name: "box", Host: "ssh://me@box"}, ""},
		{"", map[string]string{"DOCKER_CONTEXT": "plain"}, engine.Endpoint{Name: "plain", Host: "tcp://10.0.0.8:2375"}, ""},
		// DOCKER_HOST wins over DOCKER_CONTEXT, as for the docker CLI.
		{"", map[string]string{"DOCKER_CONTEXT": "plain", "DOCKER_HOST": "unix:///run/x.sock"}, engine.Endpoint{Host: "unix:///run/x.sock"}, ""},
		{"", map[string]string{"DOCKER_CONTEXT": "default"}, engine.Endpoint{Host: defaultHost}, ""},
		{"remote", nil, engine.Endpoint{Name: "remote", Host: "tcp://10.0.0.9:2376", TLS: true, TLSVerify: true, CertPath: tlsDir}, ""},
		{"tcp://h:2376", map[string]string{"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/c"}, engine.Endpoint{Host: "tcp://h:2376", TLS: true, TLSVerify: true, CertPath: "/c"}, ""},
		{"tcp://h:2376", map[string]string{"DOCKER_TLS_VERIFY": "1"}, engine.Endpoint{Host: "tcp://h:2376", TLS: true, TLSVerify: true, CertPath: cfg}, ""},
		{"tcp://h:2375", nil, engine.Endpoint{Host: "tcp://h:2375"}, ""},
		{"nosuch", nil, engine.Endpoint{}, `engine "nosuch": no Docker context of that name`},
		{"k8s", nil, engine.Endpoint{}, "has no docker endpoint"},
		{"http://h", nil, engine.Endpoint{}, "scheme http is not one of unix, tcp, ssh"},
	} {
		env := map[string]string{"DOCKER_CONFIG": cfg}
		for k, v := range c.env {
			env[k] = v
		}
		got, err := Engines{Getenv: func(k string) string { return env[k] }}.Resolve(c.ref)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("Resolve(%q) with %v: error %v, want one saying %q", c.ref, c.env, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("Resolve(%q) with %v = %+v, %v; want %+v", c.ref, c.env, got, err, c.want)
		}
	}
}

func TestComposeEnvPointsAtTheEngine(t *testing.T) {
	env := ComposeEnv([]string{"PATH=/bin", "DOCKER_CONTEXT=other", "DOCKER_HOST=unix:///x", "DOCKER_CERT_PATH=/old"},
		engine.Endpoint{Name: "remote", Host: "tcp://h:2376", TLS: true, TLSVerify: true, CertPath: "/ctx/tls"})
	want := []string{"PATH=/bin", "DOCKER_HOST=tcp://h:2376", "DOCKER_CERT_PATH=/ctx/tls", "DOCKER_TLS_VERIFY=1"}
	if !slices.Equal(env, want) {
		t.Errorf("ComposeEnv = %q, want %q", env, want)
	}
}
