package verify

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func benchBody(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

func benchVerify(b *testing.B, v *SignatureVerifier, req Request, now time.Time) {
	b.Helper()
	if _, err := v.Verify(req, now); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(req.Body)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := v.Verify(req, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGitHub(b *testing.B) {
	for _, size := range []int{300, 1024, 16 << 10} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			body := benchBody(size)
			v := mustVerifier(b, SignatureConfig{Preset: PresetGitHub, Secrets: []string{"secret"}})
			benchVerify(b, v, Request{Body: body, Header: hdrs(map[string]string{
				"X-Hub-Signature-256": "sha256=" + hmacHex("secret", string(body)),
			})}, time.Time{})
		})
	}
}

func BenchmarkStripe(b *testing.B) {
	body := benchBody(1024)
	v := mustVerifier(b, SignatureConfig{Preset: PresetStripe, Secrets: []string{"whsec_x"}})
	benchVerify(b, v, Request{Body: body, Header: hdrs(map[string]string{
		"Stripe-Signature": "t=1700000000,v1=" + hmacHex("whsec_x", "1700000000."+string(body)),
	})}, time.Unix(1700000000, 0))
}

func BenchmarkStandardWebhooks(b *testing.B) {
	body := benchBody(1024)
	key := []byte("0123456789abcdef0123456789abcdef")
	msg := "msg_1.1700000000." + string(body)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(msg))
	b.Run("v1", func(b *testing.B) {
		v := mustVerifier(b, SignatureConfig{Preset: PresetStandardWebhooks, Secrets: []string{"whsec_" + base64.StdEncoding.EncodeToString(key)}})
		benchVerify(b, v, Request{Body: body, Header: hdrs(map[string]string{
			"Webhook-Id": "msg_1", "Webhook-Timestamp": "1700000000",
			"Webhook-Signature": "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)),
		})}, time.Unix(1700000000, 0))
	})
	b.Run("v1a", func(b *testing.B) {
		pub, priv, _ := ed25519.GenerateKey(nil)
		v := mustVerifier(b, SignatureConfig{Preset: PresetStandardWebhooks, PublicKeys: []string{"whpk_" + base64.StdEncoding.EncodeToString(pub)}})
		benchVerify(b, v, Request{Body: body, Header: hdrs(map[string]string{
			"Webhook-Id": "msg_1", "Webhook-Timestamp": "1700000000",
			"Webhook-Signature": "v1a," + base64.StdEncoding.EncodeToString(ed25519.Sign(priv, []byte(msg))),
		})}, time.Unix(1700000000, 0))
	})
}

func BenchmarkTwilio(b *testing.B) {
	v := mustVerifier(b, SignatureConfig{Preset: PresetTwilio, Secrets: []string{"12345"}})
	benchVerify(b, v, Request{URL: twilioURL, Body: []byte(twilioForm("+14158675309")),
		Header: hdrs(map[string]string{"X-Twilio-Signature": "RSOYDt4T1cUTdK1PDd93/VVr8B8="})}, time.Time{})
}

func BenchmarkJWT(b *testing.B) {
	now := func() time.Time { return jwtNow }
	rsaKey := testRSA(b, 0)
	for _, tc := range []struct {
		name string
		conf JWTConfig
		tok  string
	}{
		{"HS256", JWTConfig{Algorithms: []string{"HS256"}, Secrets: []string{"s"}, Now: now},
			sign(b, jwt.SigningMethodHS256, []byte("s"), "", validClaims())},
		{"RS256", JWTConfig{Algorithms: []string{"RS256"}, PublicKeysPEM: []string{pemOf(b, &rsaKey.PublicKey)}, Now: now},
			sign(b, jwt.SigningMethodRS256, rsaKey, "", validClaims())},
	} {
		b.Run(tc.name, func(b *testing.B) {
			v, err := NewJWTVerifier(tc.conf)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, tc.tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAPIKey(b *testing.B) {
	keys := make([]APIKey, 10)
	for i := range keys {
		keys[i] = APIKey{Name: "k" + strconv.Itoa(i), Key: "key-value-" + strconv.Itoa(i)}
	}
	s, _ := NewAPIKeySet(keys)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := s.Match("key-value-7"); !ok {
			b.Fatal("no match")
		}
	}
}
