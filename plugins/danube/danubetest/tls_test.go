package danubetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	pb "github.com/danube-connect/danube-connect/plugins/danube/danubepb"
)

// selfSigned returns a server certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "danubetest"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func TestTLSWithToken(t *testing.T) {
	cert, pool := selfSigned(t)
	secret := []byte("k")
	b := Start(t, Options{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}, Auth: &AuthOptions{Secret: secret}})
	if !strings.HasPrefix(b.URL(), "https://") {
		t.Fatalf("TLS broker URL %s", b.URL())
	}
	c := dial(t, b.URL(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool})))
	tok, _ := MintToken(secret, "svc", time.Minute)
	ctx := metadata.AppendToOutgoingContext(testCtx(t), "authorization", "Bearer "+tok)
	if _, err := c.prod.CreateProducer(ctx, &pb.ProducerRequest{ProducerName: "p", TopicName: "/default/tls"}); err != nil {
		t.Fatalf("create over TLS: %v", err)
	}
	lk, err := c.disc.TopicLookup(ctx, &pb.TopicLookupRequest{Topic: "/default/tls"})
	if err != nil || lk.BrokerUrl != b.URL() {
		t.Fatalf("lookup over TLS: %v %v", lk, err)
	}
}
