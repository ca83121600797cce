// Package testca holds the fixed CA that signs the test upstreams'
// certificates. It stands in for the public web PKI inside the [docker]
// suites: the upstream serves a leaf signed by it and the probe trusts it, the
// way an agent trusts the public roots. The key is public on purpose; never
// trust this CA outside a test.
package testca

import (
	"crypto/tls"
	"crypto/x509"
)

// CertPEM is the CA certificate (valid 2025-2125).
const CertPEM = `
-----BEGIN CERTIFICATE-----
MIIBrTCCAVOgAwIBAgIBATAKBggqhkjOPQQDAjA9MTswOQYDVQQDEzJib3R0bGUg
dGVzdCB1cHN0cmVhbSBDQSAodGVzdCBvbmx5LCBrZXkgaXMgcHVibGljKTAgFw0y
NTAxMDEwMDAwMDBaGA8yMTI1MDEwMTAwMDAwMFowPTE7MDkGA1UEAxMyYm90dGxl
IHRlc3QgdXBzdHJlYW0gQ0EgKHRlc3Qgb25seSwga2V5IGlzIHB1YmxpYykwWTAT
BgcqhkjOPQIBBggqhkjOPQMBBwNCAARTp2cgAa3XMiiTLPP2asdCtKkUpNhWZ6XF
edZjP1Li5paMBq6enrlpyGw/2ZrR8iHOulTt5Zb0RhmNJQrSlL34o0IwQDAOBgNV
HQ8BAf8EBAMCAQYwDwYDVR0TAQH/BAUwAwEB/zAdBgNVHQ4EFgQUClMYhu7fxwOj
b0rAh7nMigtPYM4wCgYIKoZIzj0EAwIDSAAwRQIhALYJoMllsIP5ADbEVuyZC9fT
SZZfbGjppP9MLwL1aXt5AiBWuedUMkNzfuD+dXNR0lozxyOYOyG67gY3KcDYFckn
UQ==
-----END CERTIFICATE-----
`

// KeyPEM is the CA's private key (PKCS#8, P-256).
const KeyPEM = `
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg47t9nDh0HF8XAprP
q9h7z1JFSh0F9eBrXUdEMSM26hWhRANCAARTp2cgAa3XMiiTLPP2asdCtKkUpNhW
Z6XFedZjP1Li5paMBq6enrlpyGw/2ZrR8iHOulTt5Zb0RhmNJQrSlL34
-----END PRIVATE KEY-----
`

// Pair returns the CA as a tls.Certificate with its parsed Leaf.
func Pair() (tls.Certificate, error) {
	pair, err := tls.X509KeyPair([]byte(CertPEM), []byte(KeyPEM))
	if err != nil {
		return pair, err
	}
	pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0])
	return pair, err
}
