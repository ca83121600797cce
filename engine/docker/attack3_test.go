package docker

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// An operator who sets DOCKER_CERT_PATH (holding the engine's ca.pem) but
// not DOCKER_TLS_VERIFY got TLS that accepted any server certificate: the CA
// was loaded and then ignored (InsecureSkipVerify), so whoever sits between
// bottle and the engine could answer as the engine and read every container
// it is sent (the docker CLI, given the same environment, does not connect).
// A cert path alone now verifies against its ca.pem; only DOCKER_TLS without
// DOCKER_TLS_VERIFY asks for TLS unverified, as for the docker CLI.
func TestCertPathAloneVerifies(t *testing.T) {
	impostor := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.47")
		w.Write([]byte("OK"))
	}))
	impostor.StartTLS()
	defer impostor.Close()
	certs := t.TempDir()
	writeCA(t, filepath.Join(certs, "ca.pem")) // the real engine's CA, not the impostor's
	addr := "tcp://" + strings.TrimPrefix(impostor.URL, "https://")
	connect := func(env map[string]string) error {
		at, err := Engines{Getenv: func(k string) string { return env[k] }}.Resolve(addr)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e, err := Connect(ctx, at)
		if err == nil {
			e.Close()
		}
		return err
	}
	err := connect(map[string]string{"DOCKER_CERT_PATH": certs})
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("DOCKER_CERT_PATH with the engine's ca.pem: connecting to an impostor gave %v, want a certificate error", err)
	}
	if err := connect(map[string]string{"DOCKER_CERT_PATH": certs, "DOCKER_TLS_VERIFY": "1"}); err == nil {
		t.Error("DOCKER_TLS_VERIFY: the impostor was taken")
	}
	// Asked for by name, unverified TLS still connects (the docker CLI's DOCKER_TLS).
	if err := connect(map[string]string{"DOCKER_CERT_PATH": certs, "DOCKER_TLS": "1"}); err != nil {
		t.Errorf("DOCKER_TLS=1 (unverified, as asked): %v", err)
	}
}

// writeCA writes a self-signed CA certificate to file.
func writeCA(t *testing.T, file string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "engine CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}
