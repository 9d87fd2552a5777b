package danubetest

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// authenticate applies the broker's JWT check when auth is enabled. The
// texts are those of danube-broker v0.15.1.
func (b *Broker) authenticate(vals []string, fullMethod string) error {
	a := b.opts.Auth
	if a == nil {
		return nil
	}
	if len(vals) == 0 {
		return status.Error(codes.Unauthenticated, "Authentication credentials are missing")
	}
	raw := vals[0]
	var tok string
	switch {
	case strings.HasPrefix(raw, "Bearer "):
		tok = raw[len("Bearer "):]
	case strings.HasPrefix(raw, "bearer "):
		tok = raw[len("bearer "):]
	default:
		return status.Error(codes.Unauthenticated, "Authentication metadata is invalid")
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return a.Secret, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired())
	if err != nil {
		return status.Error(codes.Unauthenticated, "Invalid token")
	}
	for _, k := range []string{"iss", "sub", "principal_type", "principal_name"} {
		if _, ok := claims[k]; !ok {
			return status.Error(codes.Unauthenticated, "Invalid token")
		}
	}
	principal, _ := claims["principal_name"].(string)
	if shortMethod(fullMethod) != "HealthCheck" && slices.Contains(a.Deny, principal) {
		return status.Errorf(codes.PermissionDenied, "no binding grants %s to principal %s", shortMethod(fullMethod), principal)
	}
	return nil
}

// MintToken returns an HS256 JWT with the claims the broker requires
// (iss "danube-auth", sub, principal_type "user", principal_name, exp),
// valid for ttl. It stands in for `danube-admin security tokens create`.
func MintToken(secret []byte, principal string, ttl time.Duration) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss":            "danube-auth",
		"sub":            principal,
		"principal_type": "user",
		"principal_name": principal,
		"iat":            time.Now().Unix(),
		"exp":            time.Now().Add(ttl).Unix(),
	})
	s, err := t.SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("signing token for %s: %w", principal, err)
	}
	return s, nil
}
