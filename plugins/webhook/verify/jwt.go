package verify

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// keyFamily groups JWT algorithms by the key type they need.
type keyFamily int

const (
	familyHMAC keyFamily = iota + 1
	familyRSA
	familyECDSA
	familyEdDSA
)

// JWTAlgorithms lists the accepted algorithm names.
var JWTAlgorithms = []string{
	"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512", "EdDSA",
}

func algFamily(alg string) (keyFamily, elliptic.Curve) {
	switch alg {
	case "HS256", "HS384", "HS512":
		return familyHMAC, nil
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		return familyRSA, nil
	case "ES256":
		return familyECDSA, elliptic.P256()
	case "ES384":
		return familyECDSA, elliptic.P384()
	case "ES512":
		return familyECDSA, elliptic.P521()
	case "EdDSA":
		return familyEdDSA, nil
	}
	return 0, nil
}

// keyFits reports whether key has the type (and curve) alg needs, which is
// what makes algorithm confusion (an HS256 token checked with an RSA public
// key as HMAC secret) impossible.
func keyFits(alg string, key crypto.PublicKey) bool {
	fam, curve := algFamily(alg)
	switch k := key.(type) {
	case *rsa.PublicKey:
		return fam == familyRSA
	case *ecdsa.PublicKey:
		return fam == familyECDSA && k.Curve == curve
	case ed25519.PublicKey:
		return fam == familyEdDSA
	}
	return false
}

// JWTConfig configures NewJWTVerifier.
type JWTConfig struct {
	// Algorithms accepted, e.g. ["RS256"]. Required; "none" is never
	// accepted and HMAC and public-key algorithms cannot be mixed.
	Algorithms []string
	// Secrets are HMAC keys for HS* algorithms.
	Secrets []string
	// PublicKeysPEM are PEM blocks (PUBLIC KEY, RSA PUBLIC KEY or
	// CERTIFICATE) with RSA, ECDSA or Ed25519 public keys.
	PublicKeysPEM []string
	// JWKS, when URL is set, supplies public keys by kid.
	JWKS JWKSConfig
	// Issuer, when set, must equal the iss claim.
	Issuer string
	// Audiences, when set, must contain one of the aud values.
	Audiences []string
	// Leeway tolerates clock skew for exp, nbf and iat.
	Leeway time.Duration
	// MaxTokenBytes rejects longer tokens before parsing (default 8192).
	MaxTokenBytes int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// JWTVerifier verifies compact JWS tokens. It is safe for concurrent use.
type JWTVerifier struct {
	parser     *jwt.Parser
	algs       []string
	hmacKeys   []jwt.VerificationKey
	staticKeys []crypto.PublicKey
	jwks       *JWKSCache
	maxBytes   int
}

// NewJWTVerifier validates conf and builds a verifier. Close it to stop JWKS
// background refreshes.
func NewJWTVerifier(conf JWTConfig) (*JWTVerifier, error) {
	if len(conf.Algorithms) == 0 {
		return nil, errors.New("algorithms: at least one algorithm is required")
	}
	v := &JWTVerifier{maxBytes: conf.MaxTokenBytes}
	if v.maxBytes <= 0 {
		v.maxBytes = 8192
	}
	var hmacAlgs, pubAlgs int
	for _, alg := range conf.Algorithms {
		fam, _ := algFamily(alg)
		switch fam {
		case 0:
			return nil, fmt.Errorf("algorithms: %q is not supported (want one of %s)", alg, strings.Join(JWTAlgorithms, ", "))
		case familyHMAC:
			hmacAlgs++
		default:
			pubAlgs++
		}
		if !slices.Contains(v.algs, alg) {
			v.algs = append(v.algs, alg)
		}
	}
	if hmacAlgs > 0 && pubAlgs > 0 {
		return nil, errors.New("algorithms: HMAC (HS*) and public-key algorithms must not be mixed")
	}
	if hmacAlgs > 0 {
		if len(conf.PublicKeysPEM) > 0 || conf.JWKS.URL != "" {
			return nil, errors.New("public keys and jwks_url need public-key algorithms, not HS*")
		}
		keys, err := rawSecrets(conf.Secrets)
		if err != nil {
			return nil, fmt.Errorf("secrets: %w", err)
		}
		for _, k := range keys {
			v.hmacKeys = append(v.hmacKeys, k)
		}
	} else {
		if len(conf.Secrets) > 0 {
			return nil, errors.New("secrets need HS* algorithms")
		}
		for i, p := range conf.PublicKeysPEM {
			keys, err := parsePEMPublicKeys(p)
			if err != nil {
				return nil, fmt.Errorf("public key %d: %w", i, err)
			}
			v.staticKeys = append(v.staticKeys, keys...)
		}
		if conf.JWKS.URL == "" {
			if len(v.staticKeys) == 0 {
				return nil, errors.New("public keys or a jwks_url are required for public-key algorithms")
			}
			for _, alg := range v.algs {
				if !slices.ContainsFunc(v.staticKeys, func(k crypto.PublicKey) bool { return keyFits(alg, k) }) {
					return nil, fmt.Errorf("algorithms: no configured public key can verify %s", alg)
				}
			}
		}
	}
	if conf.JWKS.URL != "" {
		if conf.JWKS.Now == nil {
			conf.JWKS.Now = conf.Now
		}
		var err error
		if v.jwks, err = NewJWKSCache(conf.JWKS); err != nil {
			return nil, err
		}
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(v.algs),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(conf.Leeway),
	}
	if conf.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(conf.Issuer))
	}
	if len(conf.Audiences) > 0 {
		opts = append(opts, jwt.WithAudience(conf.Audiences...))
	}
	if conf.Now != nil {
		opts = append(opts, jwt.WithTimeFunc(conf.Now))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// JWKS returns the verifier's key set cache, or nil.
func (v *JWTVerifier) JWKS() *JWKSCache { return v.jwks }

// Close stops JWKS background work. It is idempotent.
func (v *JWTVerifier) Close() {
	if v.jwks != nil {
		v.jwks.Close()
	}
}

// Verify checks the token's signature and claims and returns the claims.
// The error is one of the golang-jwt sentinel errors (jwt.ErrTokenExpired,
// ...) or of this package's key errors and never contains the token.
func (v *JWTVerifier) Verify(ctx context.Context, token string) (jwt.MapClaims, error) {
	if token == "" {
		return nil, ErrMissingCredential
	}
	if len(token) > v.maxBytes {
		return nil, fmt.Errorf("%w: longer than %d bytes", jwt.ErrTokenMalformed, v.maxBytes)
	}
	claims := jwt.MapClaims{}
	_, err := v.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		return v.keysFor(ctx, t)
	})
	if err != nil {
		return nil, jwtReason(err)
	}
	return claims, nil
}

// keysFor returns only keys whose type fits the (already allow-listed)
// algorithm of the token header.
func (v *JWTVerifier) keysFor(ctx context.Context, t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	if fam, _ := algFamily(alg); fam == familyHMAC {
		return jwt.VerificationKeySet{Keys: v.hmacKeys}, nil
	}
	var keys []jwt.VerificationKey
	for _, k := range v.staticKeys {
		if keyFits(alg, k) {
			keys = append(keys, k)
		}
	}
	if v.jwks != nil {
		kid := ""
		if raw, present := t.Header["kid"]; present {
			s, ok := raw.(string)
			if !ok {
				return nil, fmt.Errorf("%w: kid is not a string", jwt.ErrTokenMalformed)
			}
			kid = s
		}
		found, err := v.jwks.keys(ctx, kid)
		if err != nil && len(keys) == 0 {
			return nil, err
		}
		for _, k := range found {
			// A JWK that names its algorithm is only used for that one.
			if (k.alg == "" || k.alg == alg) && keyFits(alg, k.key) {
				keys = append(keys, k.key)
			}
		}
	}
	if len(keys) == 0 {
		return nil, ErrNoMatchingKey
	}
	return jwt.VerificationKeySet{Keys: keys}, nil
}

// jwtReason reduces golang-jwt's joined errors to the most specific reason.
func jwtReason(err error) error {
	for _, reason := range []error{
		ErrUnknownKeyID, ErrJWKSUnavailable, ErrNoMatchingKey,
		jwt.ErrTokenExpired, jwt.ErrTokenNotValidYet, jwt.ErrTokenUsedBeforeIssued,
		jwt.ErrTokenInvalidAudience, jwt.ErrTokenInvalidIssuer, jwt.ErrTokenRequiredClaimMissing,
		jwt.ErrTokenSignatureInvalid, jwt.ErrTokenMalformed, jwt.ErrTokenUnverifiable,
	} {
		if errors.Is(err, reason) {
			return reason
		}
	}
	return jwt.ErrTokenInvalidClaims
}

// parsePEMPublicKeys reads every public key in a PEM bundle.
func parsePEMPublicKeys(data string) ([]crypto.PublicKey, error) {
	rest := []byte(data)
	var keys []crypto.PublicKey
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		var key any
		var err error
		switch block.Type {
		case "PUBLIC KEY":
			key, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			key, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
				key = cert.PublicKey
			}
		default:
			if strings.Contains(block.Type, "PRIVATE") {
				return nil, errors.New("a private key was given; configure its public key")
			}
			return nil, fmt.Errorf("unsupported PEM block %q", block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", block.Type, err)
		}
		switch k := key.(type) {
		case *rsa.PublicKey:
			if k.N.BitLen() < 2048 {
				return nil, errors.New("rsa key shorter than 2048 bits")
			}
		case *ecdsa.PublicKey, ed25519.PublicKey:
		default:
			return nil, fmt.Errorf("unsupported public key type %T", key)
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return nil, errors.New("no PEM block found")
	}
	return keys, nil
}
