package builtins

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"testing"
)

func TestCACreate(t *testing.T) {
	r := newRun(t)
	v := r.eval(t, `x = ca_create("state/x/ca")`)
	cert, key := r.path("state/x/ca/ca.crt"), r.path("state/x/ca/ca.key")
	if field(t, v, "cert").String() != `"`+cert+`"` || field(t, v, "key").String() != `"`+key+`"` {
		t.Errorf("result = %v", v)
	}
	for path, want := range map[string]os.FileMode{r.path("state/x/ca"): 0o700, key: 0o600, cert: 0o644} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), want)
		}
	}
	block, _ := pem.Decode([]byte(mustRead(t, cert)))
	if block == nil {
		t.Fatal("ca.crt is not PEM")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !c.IsCA || c.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("certificate is not a CA: IsCA=%v usage=%v", c.IsCA, c.KeyUsage)
	}
	kb, _ := pem.Decode([]byte(mustRead(t, key)))
	if _, err := x509.ParsePKCS8PrivateKey(kb.Bytes); err != nil {
		t.Errorf("ca.key: %v", err)
	}

	r.fails(t, `ca_create("state/x/ca")`, "ca_create:", "already exists")

	r.journal.rollback(t)
	if _, err := os.Stat(r.path("state")); !os.IsNotExist(err) {
		t.Errorf("undo left what ca_create made: %v", err)
	}
}
