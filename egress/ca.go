package egress

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// CA signs the leaf certificates the proxy presents to the agent when it
// intercepts TLS. Leaves are minted on first use for each host and cached;
// they all share one ECDSA P-256 key made when the CA is loaded, so minting
// costs one signature.
type CA struct {
	cert    *x509.Certificate
	signer  crypto.Signer
	leafKey *ecdsa.PrivateKey

	mu     sync.Mutex
	leaves map[string]*tls.Certificate
}

// CA file names: those ca_create writes, then the generic fallback.
var caFileNames = [][2]string{{"ca.crt", "ca.key"}, {"cert.pem", "key.pem"}}

// LoadCA reads the CA in dir: ca.crt and ca.key (PEM) as ca_create writes
// them, or else cert.pem and key.pem.
func LoadCA(dir string) (*CA, error) {
	for _, names := range caFileNames {
		certPath, keyPath := filepath.Join(dir, names[0]), filepath.Join(dir, names[1])
		if _, err := os.Stat(certPath); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		pair, err := tls.LoadX509KeyPair(certPath, keyPath)
		if err != nil {
			return nil, fmt.Errorf("CA in %s: %w", dir, err)
		}
		return NewCA(pair)
	}
	return nil, fmt.Errorf("CA in %s: neither ca.crt/ca.key nor cert.pem/key.pem found (ca_create makes ca.crt and ca.key)", dir)
}

// NewCA makes a CA from a certificate and its key.
func NewCA(pair tls.Certificate) (*CA, error) {
	if len(pair.Certificate) == 0 {
		return nil, errors.New("CA: no certificate")
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("CA: %w", err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("CA: certificate %q is not a CA (basic constraints)", cert.Subject.CommonName)
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, errors.New("CA: the private key cannot sign")
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return &CA{cert: cert, signer: signer, leafKey: leafKey, leaves: map[string]*tls.Certificate{}}, nil
}

const (
	leafLifetime = 7 * 24 * time.Hour
	leafRenew    = 24 * time.Hour // re-mint a cached leaf this long before it expires
	maxLeaves    = 1024           // wildcard routes could name unbounded hosts
)

// Leaf returns a certificate for host (a DNS name or IP literal), minting
// and caching it on first use.
func (ca *CA) Leaf(host string) (*tls.Certificate, error) {
	now := time.Now()
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if c, ok := ca.leaves[host]; ok && now.Before(c.Leaf.NotAfter.Add(-leafRenew)) {
		return c, nil
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(leafLifetime)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip.AsSlice())
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &ca.leafKey.PublicKey, ca.signer)
	if err != nil {
		return nil, fmt.Errorf("minting a certificate for %s: %w", host, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	c := &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: ca.leafKey, Leaf: leaf}
	if len(ca.leaves) >= maxLeaves {
		clear(ca.leaves)
	}
	ca.leaves[host] = c
	return c, nil
}
