package greptimetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PKI is TLS material generated for a test: a CA, a server certificate for
// 127.0.0.1 and a client certificate signed by it, and a client
// certificate signed by another CA.
type PKI struct {
	Pool   *x509.CertPool
	CAPEM  []byte
	Server tls.Certificate
	Client tls.Certificate
	Other  tls.Certificate
}

// NewPKI generates the material (ECDSA P-256, valid for an hour).
func NewPKI(tb testing.TB) *PKI {
	tb.Helper()
	ca, caKey := selfSigned(tb, "greptimetest CA")
	other, otherKey := selfSigned(tb, "other CA")
	p := &PKI{Pool: x509.NewCertPool(), CAPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})}
	p.Pool.AddCert(ca)
	p.Server = leaf(tb, ca, caKey, "127.0.0.1", x509.ExtKeyUsageServerAuth)
	p.Client = leaf(tb, ca, caKey, "ingest-client", x509.ExtKeyUsageClientAuth)
	p.Other = leaf(tb, other, otherKey, "intruder", x509.ExtKeyUsageClientAuth)
	return p
}

// ServerTLS requires client certificates signed by the CA.
func (p *PKI) ServerTLS() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.Server}, ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs: p.Pool, MinVersion: tls.VersionTLS12}
}

// WriteFiles writes ca.pem, client.pem and client-key.pem into dir.
func (p *PKI) WriteFiles(tb testing.TB, dir string) (ca, cert, key string) {
	tb.Helper()
	ca, cert, key = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	der, err := x509.MarshalECPrivateKey(p.Client.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		tb.Fatal(err)
	}
	for path, data := range map[string][]byte{
		ca:   p.CAPEM,
		cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.Client.Certificate[0]}),
		key:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}),
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	return ca, cert, key
}

func selfSigned(tb testing.TB, cn string) (*x509.Certificate, *ecdsa.PrivateKey) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return cert, key
}

func leaf(tb testing.TB, ca *x509.Certificate, caKey *ecdsa.PrivateKey, cn string, usage x509.ExtKeyUsage) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
	if ip := net.ParseIP(cn); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
