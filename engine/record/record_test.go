package record

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bottle-sh/bottle/engine"
)

func TestNetworkGetsSubnetAndGateway(t *testing.T) {
	var out bytes.Buffer
	r := New(&out)
	ctx := context.Background()
	n1, err := r.NetworkCreate(ctx, engine.NetworkSpec{Name: "bottle-x-int", Internal: true,
		Labels: map[string]string{engine.InstanceLabel: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	n2, _ := r.NetworkCreate(ctx, engine.NetworkSpec{Name: "bottle-x-ext"})
	if n1.Subnet != "10.213.0.16/28" || n1.Gateway != "10.213.0.17" || !n1.Internal {
		t.Errorf("first network = %+v, want 10.213.0.16/28 gateway .17 internal", n1)
	}
	if n2.Subnet != "10.213.0.32/28" || n2.Gateway != "10.213.0.33" {
		t.Errorf("second network = %+v, want 10.213.0.32/28", n2)
	}
	n3, _ := r.NetworkCreate(ctx, engine.NetworkSpec{Name: "given", Subnet: "172.30.5.0/24"})
	if n3.Subnet != "172.30.5.0/24" || n3.Gateway != "172.30.5.1" {
		t.Errorf("given subnet = %+v", n3)
	}
	for range 14 {
		r.NetworkCreate(ctx, engine.NetworkSpec{Name: "more"})
	}
	if n, _ := r.NetworkCreate(ctx, engine.NetworkSpec{Name: "eighteenth"}); n.Subnet != "10.213.1.32/28" || n.Gateway != "10.213.1.33" {
		t.Errorf("eighteenth network = %+v, want 10.213.1.32/28", n)
	}
	want := "dry-run: create internal network bottle-x-int subnet 10.213.0.16/28 labels dev.bottle.instance=x\n"
	if !strings.HasPrefix(out.String(), want) {
		t.Errorf("output starts %q, want %q", out.String(), want)
	}
}

func TestComposeUpReturnsServiceContainers(t *testing.T) {
	var out bytes.Buffer
	r := New(&out)
	yml := "services:\n  agent:\n    image: x\n  egress:\n    image: y\n"
	res, err := r.ComposeUp(context.Background(), engine.ComposeProject{Project: "bottle-x", Dir: "/s", File: "/s/docker-compose.yml", YAML: []byte(yml)})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"agent": "bottle-x-agent-1", "egress": "bottle-x-egress-1"}
	if len(res.Containers) != 2 || res.Containers["agent"] != want["agent"] || res.Containers["egress"] != want["egress"] {
		t.Errorf("containers = %v, want %v", res.Containers, want)
	}
	if !strings.Contains(out.String(), "dry-run: compose -p bottle-x -f /s/docker-compose.yml up -d (services: agent, egress)") {
		t.Errorf("output = %q", out.String())
	}
	if _, err := r.ComposeUp(context.Background(), engine.ComposeProject{Project: "p", YAML: []byte("services: [\n")}); err == nil {
		t.Error("bad YAML: no error")
	}
}

func TestPlausibleValues(t *testing.T) {
	var out bytes.Buffer
	r := New(&out)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r.SetNow(func() time.Time { return at })
	ctx := context.Background()
	c, err := r.Inspect(ctx, "bottle-x-agent-1")
	if err != nil || !c.Running || c.Status != "running" || c.Name != "bottle-x-agent-1" {
		t.Errorf("Inspect = %+v, %v; want running", c, err)
	}
	if e, err := r.Exec(ctx, "a", []string{"sh", "-c", "echo hi"}); err != nil || e.Code != 0 {
		t.Errorf("Exec = %+v, %v", e, err)
	}
	if b, err := r.CopyFrom(ctx, "a", "/etc/x"); err != nil || len(b) != 0 {
		t.Errorf("CopyFrom = %q, %v", b, err)
	}
	if s, err := r.WaitLog(ctx, "a", regexp.MustCompile("ready"), at, time.Second); err != nil || !strings.Contains(s, "ready") {
		t.Errorf("WaitLog = %q, %v", s, err)
	}
	if tag, err := r.BottleImage(ctx, "bottle:local"); err != nil || tag != "bottle:local" {
		t.Errorf("BottleImage = %q, %v", tag, err)
	}
	if ts, err := r.Signal(ctx, "a", "HUP"); err != nil || !ts.Equal(at) {
		t.Errorf("Signal = %v, %v", ts, err)
	}
	if m, err := r.BindMounts(ctx); err != nil || len(m) != 0 {
		t.Errorf("BindMounts = %v, %v", m, err)
	}
	if !strings.Contains(out.String(), "dry-run: send SIGHUP to a\n") {
		t.Errorf("output = %q", out.String())
	}
	for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		if !strings.HasPrefix(line, "dry-run: ") {
			t.Errorf("line %q lacks the dry-run: prefix", line)
		}
	}
}

func TestCancelledContext(t *testing.T) {
	r := New(&bytes.Buffer{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.NetworkCreate(ctx, engine.NetworkSpec{Name: "n"}); err == nil {
		t.Error("NetworkCreate on a cancelled context: no error")
	}
	if _, err := r.Exec(ctx, "c", []string{"true"}); err == nil {
		t.Error("Exec on a cancelled context: no error")
	}
}
