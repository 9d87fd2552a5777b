package client_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/danube-connect/danube-connect/plugins/danube/client"
	"github.com/danube-connect/danube-connect/plugins/danube/danubetest"
)

// testPKI writes a CA and a leaf certificate for dnsName into dir and
// returns the CA path, the leaf cert/key paths and the leaf as tls.Certificate.
func testPKI(t *testing.T, dir, dnsName string) (caFile, certFile, keyFile string, leaf tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "danube test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: dnsName}, DNSNames: []string{dnsName},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)

	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600))
		return p
	}
	caFile = write("ca.pem", "CERTIFICATE", caDER)
	certFile = write("leaf.pem", "CERTIFICATE", der)
	keyFile = write("leaf.key", "EC PRIVATE KEY", keyDER)
	leaf, err = tls.LoadX509KeyPair(certFile, keyFile)
	require.NoError(t, err)
	return caFile, certFile, keyFile, leaf
}

func TestTLSWithCAFileServerNameAndClientCert(t *testing.T) {
	const name = "broker.danube.test"
	caFile, certFile, keyFile, leaf := testPKI(t, t.TempDir(), name)
	b := danubetest.Start(t, danubetest.Options{TLS: &tls.Config{Certificates: []tls.Certificate{leaf}, MinVersion: tls.VersionTLS12}})
	require.True(t, strings.HasPrefix(b.URL(), "https://"), b.URL())
	ctx := testCtx(t)

	opts := fastOptions(b.URL())
	opts.TLS = client.TLSOptions{Enabled: true, CAFile: caFile, ServerName: name, CertFile: certFile, KeyFile: keyFile}
	c := newClient(t, opts)
	require.NoError(t, c.Ping(ctx))
	topic := uniqueTopic(t)
	p, err := c.NewProducer(ctx, client.ProducerOptions{Topic: topic, Dispatch: client.DispatchReliable})
	require.NoError(t, err)
	cons, err := c.Subscribe(ctx, client.ConsumerOptions{Topic: topic, Subscription: "tls"})
	require.NoError(t, err)
	_, err = p.Send(ctx, client.OutgoingMessage{Payload: []byte("secret")})
	require.NoError(t, err)
	assert.Equal(t, "secret", string(receiveN(t, ctx, cons, 1)[0].Payload))

	// The certificate names broker.danube.test, not 127.0.0.1: without the
	// server name override verification fails.
	wrongName := fastOptions(b.URL())
	wrongName.Backoff.MaxRetries = 1
	wrongName.TLS = client.TLSOptions{Enabled: true, CAFile: caFile}
	assert.Error(t, newClient(t, wrongName).Ping(ctx))

	// An unknown CA fails too.
	otherCA, _, _, _ := testPKI(t, t.TempDir(), name)
	untrusted := fastOptions(b.URL())
	untrusted.TLS = client.TLSOptions{Enabled: true, CAFile: otherCA, ServerName: name}
	assert.Error(t, newClient(t, untrusted).Ping(ctx))

	// Plaintext against a TLS broker fails.
	plain := fastOptions(strings.Replace(b.URL(), "https://", "http://", 1))
	assert.Error(t, newClient(t, plain).Ping(ctx))
}

func TestTLSOptionErrors(t *testing.T) {
	_, err := client.New(client.Options{URL: "https://127.0.0.1:1", TLS: client.TLSOptions{CAFile: "/does/not/exist.pem"}})
	assert.ErrorContains(t, err, "CA file")
	bad := filepath.Join(t.TempDir(), "bad.pem")
	require.NoError(t, os.WriteFile(bad, []byte("not pem"), 0o600))
	_, err = client.New(client.Options{URL: "https://127.0.0.1:1", TLS: client.TLSOptions{CAFile: bad}})
	assert.ErrorContains(t, err, "no PEM")
	_, err = client.New(client.Options{URL: "https://127.0.0.1:1", TLS: client.TLSOptions{CertFile: bad, KeyFile: bad}})
	assert.ErrorContains(t, err, "client certificate")
	_, err = client.New(client.Options{URL: " "})
	assert.Error(t, err)
}
