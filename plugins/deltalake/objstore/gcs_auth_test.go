package objstore_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore/objstoretest"
)

// With service-account credentials the GCS store signs its requests: the
// emulator sits behind a recording reverse proxy and a local token endpoint
// stands in for Google's OAuth server.
func TestGCSServiceAccountCredentials(t *testing.T) {
	em, loc, opts := objstoretest.StartGCSEmulator(t)

	tokenSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"test-access-token","token_type":"Bearer","expires_in":3600}`))
	}))
	t.Cleanup(tokenSrv.Close)

	var (
		mu    sync.Mutex
		auths []string
	)
	target, err := url.Parse(em.Proxy.URL())
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "danube-connect-test",
		"private_key_id": "test-key",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   "writer@danube-connect-test.iam.gserviceaccount.com",
		"client_id":      "1",
		"token_uri":      tokenSrv.URL + "/token",
	})
	if err != nil {
		t.Fatal(err)
	}
	opts.GCS.Endpoint = front.URL
	opts.GCS.CredentialsJSON = string(creds)
	st := open(t, loc+"/auth", opts)
	ctx := context.Background()
	if err := st.PutIfAbsent(ctx, "_delta_log/00000000000000000000.json", []byte("v0")); err != nil {
		t.Fatalf("PutIfAbsent: %v", err)
	}
	if _, err := st.Get(ctx, "_delta_log/00000000000000000000.json"); err != nil {
		t.Fatalf("Get: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(auths) < 2 {
		t.Fatalf("saw %d requests, want at least 2", len(auths))
	}
	for i, a := range auths {
		if !strings.HasPrefix(a, "Bearer ") || len(a) < len("Bearer ")+10 {
			t.Fatalf("request %d carried Authorization %q, want a bearer token", i, a)
		}
	}
	t.Logf("first Authorization: %.40s…", auths[0])

	opts.GCS.CredentialsJSON = ""
	opts.GCS.CredentialsFile = t.TempDir() + "/missing.json"
	if _, err := objstore.Open(ctx, loc, opts); err == nil || !strings.Contains(err.Error(), "credentials file") {
		t.Fatalf("Open with a missing credentials file: %v", err)
	}
}
