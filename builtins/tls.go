package builtins

// TLS family: ca_create makes a fresh ECDSA P-256 certificate authority for
// the egress sidecar's TLS interception (ca.key PEM PKCS#8). It refuses to
// overwrite an existing CA; undo removes the files and the directory when the
// run created them. The builtin and what it returns: `bottle builtins`, from
// the entry below.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"go.starlark.net/starlark"
)

// CA file names inside the directory given to ca_create.
const (
	CACertFile = "ca.crt"
	CAKeyFile  = "ca.key"
)

func tlsBuiltins() []Builtin {
	return []Builtin{
		def("ca_create", "ca_create(dir) -> struct(cert, key)",
			"a fresh CA as dir/ca.crt (0644) and dir/ca.key (0600), dir 0700; refuses to overwrite one; undo removes it", effect, caCreate),
	}
}

func caCreate(_ *starlark.Thread, env *Env, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var d string
	if err := starlark.UnpackArgs(name, args, kwargs, "dir", &d); err != nil {
		return nil, err
	}
	dir := resolve(env, d)
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	for _, p := range []string{certPath, keyPath} {
		if _, err := os.Lstat(p); err == nil {
			return nil, fmt.Errorf("%s: %s already exists; remove it first or reuse the existing CA", name, p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	result := mkstruct("cert", certPath, "key", keyPath)
	if env.DryRun {
		dryRun(env, fmt.Sprintf("ca_create %s: would write %s (0644) and %s (0600)", dir, certPath, keyPath), "")
		return result, nil
	}
	certPEM, keyPEM, err := newCA(env)
	if err != nil {
		return nil, err
	}
	created, err := makeDirs(env, dir, 0o700)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	undo := func(context.Context) error {
		var errs []error
		for _, p := range []string{certPath, keyPath} {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		for i := len(created) - 1; i >= 0; i-- {
			if err := os.Remove(created[i]); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	// In the journal before the first file is written, like every undo.
	recordUndo(env, "remove CA in "+dir, undo)
	if err := writeNew(keyPath, keyPEM, 0o600); err != nil {
		undo(context.Background())
		return nil, err
	}
	if err := writeNew(certPath, certPEM, 0o644); err != nil {
		undo(context.Background())
		return nil, err
	}
	return result, nil
}

// writeNew creates path (failing if it exists) with exactly perm.
func writeNew(path string, data []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func newCA(env *Env) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	if env.Now != nil {
		now = env.Now()
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "bottle egress CA", Organization: []string{"bottle"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}
