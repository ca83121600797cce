package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/bottle-sh/bottle/engine"
	"github.com/bottle-sh/bottle/engine/docker"
)

// engine2 is a second Docker daemon on this host, for the stories of
// bottles on two engines (the [engine2] condition, the engine2 command):
// its own data-root, exec-root, pidfile and an empty --config-file (so
// /etc/docker/daemon.json is not read), --iptables=false, the bridge this
// harness made (-b; never --bridge none, which deletes docker0), the
// containerd it starts itself, and one socket: TCP with TLS on loopback,
// its CA, server and client certificates made here. stop removes what it
// made, also after a failure.
type engine2 struct {
	dir    string // everything on disk: data, exec, pidfile, config, certs, log
	bridge string
	// forward is the iptables rule that lets traffic within Pool through
	// this host's FORWARD chain (nil: none added). The main daemon's DROP
	// policy sees bridged frames (br_netfilter), and this daemon, with
	// --iptables=false, adds no rule of its own: without it, containers on
	// one of its networks could not reach each other.
	forward []string
	at      engine.Endpoint // tcp://127.0.0.1:PORT, the client's TLS files
	cmd     *exec.Cmd
	exited  chan struct{}
}

// engine2Pool is the subnet pool for the second daemon's bottles
// (BOTTLE_SUBNET_POOL): two daemons on one host share its routes.
const engine2Pool = "10.216.0.0/16"

var engine2State struct {
	once sync.Once
	d    *engine2
	err  error
}

// sharedEngine2 starts the second daemon the first time a script asks for
// it; stopEngine2 (TestScripts' cleanup) stops it after every script.
func sharedEngine2() (*engine2, error) {
	engine2State.once.Do(func() { engine2State.d, engine2State.err = startEngine2() })
	return engine2State.d, engine2State.err
}

func stopEngine2() error {
	if engine2State.d == nil {
		return nil
	}
	return engine2State.d.stop()
}

// engine2Possible says why this host cannot run a second daemon ("" when
// it can): it takes root, dockerd and ip.
func engine2Possible() string {
	if os.Geteuid() != 0 {
		return "a second dockerd needs root"
	}
	for _, bin := range []string{"dockerd", "ip"} {
		if _, err := exec.LookPath(bin); err != nil {
			return bin + " is not on PATH"
		}
	}
	return ""
}

func startEngine2() (d *engine2, err error) {
	dir, err := os.MkdirTemp("", "bte2-") // short: containerd's sockets live under it
	if err != nil {
		return nil, err
	}
	d = &engine2{dir: dir, bridge: "bte2-" + filepath.Base(dir)[5:], exited: make(chan struct{})}
	if len(d.bridge) > 15 {
		d.bridge = d.bridge[:15]
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, d.stop())
			d = nil
		}
	}()
	for _, sub := range []string{"data", "exec", "server", "client"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			return d, err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "daemon.json"), []byte("{}\n"), 0o600); err != nil {
		return d, err
	}
	if err := makeCerts(filepath.Join(dir, "server"), filepath.Join(dir, "client")); err != nil {
		return d, err
	}
	var octet [1]byte
	rand.Read(octet[:])
	if err := ipLink("add", d.bridge, "type", "bridge"); err != nil {
		return d, err
	}
	if out, err := exec.Command("ip", "addr", "add", fmt.Sprintf("10.215.%d.1/24", octet[0]), "dev", d.bridge).CombinedOutput(); err != nil {
		return d, fmt.Errorf("ip addr add: %v: %s", err, out)
	}
	if err := ipLink("set", d.bridge, "up"); err != nil {
		return d, err
	}
	if _, err := exec.LookPath("iptables"); err == nil {
		rule := []string{"FORWARD", "-s", engine2Pool, "-d", engine2Pool, "-m", "comment", "--comment", "bottle test " + d.bridge, "-j", "ACCEPT"}
		if out, err := exec.Command("iptables", append([]string{"-I"}, rule...)...).CombinedOutput(); err != nil {
			return d, fmt.Errorf("iptables -I %s: %v: %s", strings.Join(rule, " "), err, out)
		}
		d.forward = rule
	}
	port, err := freePort()
	if err != nil {
		return d, err
	}
	addr := fmt.Sprintf("tcp://127.0.0.1:%d", port)
	logFile, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		return d, err
	}
	defer logFile.Close()
	server := filepath.Join(dir, "server")
	d.cmd = exec.Command("dockerd",
		"--data-root", filepath.Join(dir, "data"),
		"--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "dockerd.pid"),
		"--config-file", filepath.Join(dir, "daemon.json"),
		"--iptables=false", "--ip-masq=false",
		"--bridge", d.bridge,
		"--host", addr,
		"--tlsverify",
		"--tlscacert", filepath.Join(server, "ca.pem"),
		"--tlscert", filepath.Join(server, "cert.pem"),
		"--tlskey", filepath.Join(server, "key.pem"))
	d.cmd.Stdout, d.cmd.Stderr = logFile, logFile
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := d.cmd.Start(); err != nil {
		return d, fmt.Errorf("dockerd: %w", err)
	}
	go func() { d.cmd.Wait(); close(d.exited) }()
	d.at = engine.Endpoint{Host: addr, TLS: true, TLSVerify: true, CertPath: filepath.Join(dir, "client")}
	if err := d.waitReady(60 * time.Second); err != nil {
		return d, err
	}
	return d, nil
}

// waitReady pings the daemon through its TLS socket until it answers.
func (d *engine2) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		e, err := docker.Connect(ctx, d.at)
		cancel()
		if err == nil {
			e.Close()
			return nil
		}
		select {
		case <-d.exited:
			return fmt.Errorf("the second dockerd exited: %s", d.logTail())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the second dockerd did not answer at %s within %s: %v; its log: %s", d.at.Host, limit, err, d.logTail())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (d *engine2) logTail() string {
	b, _ := os.ReadFile(filepath.Join(d.dir, "dockerd.log"))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-8):], "\n")
}

// stop removes everything the daemon holds (its containers, its networks
// and their bridges), stops it and its containerd, unmounts what is left
// under its directory, and removes the bridge and the directory.
func (d *engine2) stop() error {
	var errs []error
	var bridges []string
	if d.cmd != nil && d.cmd.Process != nil {
		bridges = d.empty()
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.exited:
		case <-time.After(30 * time.Second):
			d.cmd.Process.Kill()
			<-d.exited
		}
	}
	// Its containerd, by the pid it wrote, when dockerd's exit left it.
	if b, err := os.ReadFile(filepath.Join(d.dir, "exec", "containerd", "containerd.pid")); err == nil {
		var pid int
		if _, err := fmt.Sscan(string(b), &pid); err == nil && pid > 1 {
			if syscall.Kill(pid, 0) == nil {
				syscall.Kill(pid, syscall.SIGKILL)
				time.Sleep(200 * time.Millisecond)
			}
		}
	}
	if d.forward != nil {
		if out, err := exec.Command("iptables", append([]string{"-D"}, d.forward...)...).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("iptables -D %s: %v: %s", strings.Join(d.forward, " "), err, out))
		}
	}
	errs = append(errs, unmountUnder(d.dir))
	for _, br := range append(bridges, d.bridge) {
		if _, err := net.InterfaceByName(br); err == nil {
			errs = append(errs, ipLink("del", br))
		}
	}
	errs = append(errs, os.RemoveAll(d.dir))
	return errors.Join(errs...)
}

// empty removes every container and network of the daemon (all of them
// the tests'), returning the host bridges of those networks.
func (d *engine2) empty() []string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := docker.Connect(ctx, d.at)
	if err != nil {
		return nil
	}
	defer e.Close()
	var bridges []string
	if cs, err := e.Containers(ctx, nil); err == nil {
		for _, c := range cs {
			e.ContainerRemove(ctx, c.ID)
		}
	}
	if ns, err := e.Networks(ctx, nil); err == nil {
		for _, n := range ns {
			if slices.Contains([]string{"bridge", "host", "none"}, n.Name) {
				continue
			}
			bridges = append(bridges, "br-"+n.ID[:12])
			e.NetworkRemove(ctx, n.ID)
		}
	}
	return bridges
}

// load copies images from the host's daemon (DOCKER_HOST, else the
// default socket) into the second one, as `docker save | docker load`
// does, through the client API: bottle's own images are in no registry.
func (d *engine2) load(ctx context.Context, refs ...string) error {
	from, err := client.New(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return err
	}
	defer from.Close()
	server := d.at.CertPath
	to, err := client.New(client.WithHost(d.at.Host), client.WithAPIVersionNegotiation(),
		client.WithTLSClientConfig(filepath.Join(server, "ca.pem"), filepath.Join(server, "cert.pem"), filepath.Join(server, "key.pem")))
	if err != nil {
		return err
	}
	defer to.Close()
	saved, err := from.ImageSave(ctx, refs)
	if err != nil {
		return fmt.Errorf("save %v from the host's daemon: %w", refs, err)
	}
	defer saved.Close()
	loaded, err := to.ImageLoad(ctx, saved)
	if err != nil {
		return fmt.Errorf("load %v into the second daemon: %w", refs, err)
	}
	defer loaded.Close()
	out, err := io.ReadAll(loaded)
	if err != nil {
		return err
	}
	if strings.Contains(string(out), `"error"`) {
		return fmt.Errorf("load %v into the second daemon: %s", refs, out)
	}
	return nil
}

// unmountUnder detaches every mount at or under dir, deepest first.
func unmountUnder(dir string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			points = append(points, fields[4])
		}
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	var errs []error
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

func ipLink(args ...string) error {
	if out, err := exec.Command("ip", append([]string{"link"}, args...)...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip link %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// makeCerts writes a CA and a server certificate for 127.0.0.1 and
// localhost (serverDir: ca.pem, cert.pem, key.pem, as dockerd's --tls*
// flags take them) and a client certificate (clientDir: ca.pem, cert.pem,
// key.pem, as DOCKER_CERT_PATH and a Docker context hold them).
func makeCerts(serverDir, clientDir string) error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	ca := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "bottle test engine2 CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, _ = x509.ParseCertificate(caDER)
	for _, leaf := range []struct {
		dir   string
		usage x509.ExtKeyUsage
	}{{serverDir, x509.ExtKeyUsageServerAuth}, {clientDir, x509.ExtKeyUsageClientAuth}} {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		tmpl := &x509.Certificate{
			SerialNumber: serial(),
			Subject:      pkix.Name{CommonName: "bottle test engine2"},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{leaf.usage},
		}
		if leaf.usage == x509.ExtKeyUsageServerAuth {
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
			tmpl.DNSNames = []string{"localhost"}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return err
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return err
		}
		for name, block := range map[string]*pem.Block{
			"ca.pem":   {Type: "CERTIFICATE", Bytes: caDER},
			"cert.pem": {Type: "CERTIFICATE", Bytes: der},
			"key.pem":  {Type: "EC PRIVATE KEY", Bytes: keyDER},
		} {
			if err := os.WriteFile(filepath.Join(leaf.dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
				return err
			}
		}
	}
	return nil
}

func serial() *big.Int {
	var b [16]byte
	rand.Read(b[:])
	return new(big.Int).SetBytes(b[:])
}

// The harness leaves nothing: after stop, no directory, no bridge, no
// mount under it, no dockerd or containerd of its own.
func TestEngine2LeavesNothing(t *testing.T) {
	if why := engine2Possible(); why != "" {
		if os.Getenv("BOTTLE_REQUIRE_DOCKER") == "1" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	d, err := startEngine2()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	e, err := docker.Connect(ctx, d.at)
	if err != nil {
		d.stop()
		t.Fatal(err)
	}
	made, err := e.NetworkCreate(ctx, engine.NetworkSpec{Name: "bte2-left", Internal: true, Subnet: "10.216.250.0/28",
		Labels: map[string]string{engine.InstanceLabel: "bte2-left"}})
	e.Close()
	if err != nil {
		d.stop()
		t.Fatal(err)
	}
	pid := d.cmd.Process.Pid
	if err := d.stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	if _, err := os.Stat(d.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s is still there (%v)", d.dir, err)
	}
	for _, br := range []string{d.bridge, "br-" + made.ID[:12]} {
		if _, err := netInterface(br); err == nil {
			t.Errorf("bridge %s is still there", br)
		}
	}
	if syscall.Kill(pid, 0) == nil {
		t.Errorf("dockerd (pid %d) still runs", pid)
	}
	if b, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(b), d.dir) {
		t.Errorf("mounts under %s remain", d.dir)
	}
}

func netInterface(name string) (*net.Interface, error) { return net.InterfaceByName(name) }
