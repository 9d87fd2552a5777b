package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/danube-connect/danube-connect/plugins/webhook/verify"
)

const (
	jvpFieldAlgorithms         = "algorithms"
	jvpFieldSecrets            = "secrets"
	jvpFieldPublicKeys         = "public_keys"
	jvpFieldJWKSURL            = "jwks_url"
	jvpFieldJWKSTimeout        = "jwks_timeout"
	jvpFieldJWKSRefresh        = "jwks_refresh_interval"
	jvpFieldJWKSMinRefresh     = "jwks_min_refresh_interval"
	jvpFieldIssuer             = "issuer"
	jvpFieldAudiences          = "audiences"
	jvpFieldLeeway             = "leeway"
	jvpFieldTokenMetadataKey   = "token_metadata_key"
	jvpFieldClaimsToMetadata   = "claims_to_metadata"
	jvpFieldMaxTokenBytes      = "max_token_bytes"
	jvpDefaultTokenMetadataKey = "Authorization"
)

func jwtVerifyProcessorSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Utility").
		Summary("Verifies a JSON Web Token (JWS) from the Authorization header or any metadata key and copies chosen claims to metadata.").
		Description(`
The token is taken from the `+"`token_metadata_key`"+` metadata: for `+"`Authorization`"+` (the default) it must be
`+"`Bearer <token>`"+`, for any other key the value is the token. Verification is strict:

- `+"`algorithms`"+` is required and pins what is accepted; `+"`none`"+` is never accepted, and HMAC (HS*) and public-key
  algorithms cannot be mixed in one processor.
- A key is only used for algorithms of its own type (an RSA public key never serves as an HMAC secret), so algorithm
  confusion is impossible.
- Keys come from `+"`secrets`"+` (HS*), PEM `+"`public_keys`"+` (RSA, ECDSA, Ed25519) and/or a `+"`jwks_url`"+`, never from the token
  (`+"`jku`"+`, `+"`x5u`"+` and embedded `+"`jwk`"+` headers are ignored). The key set is fetched on first use, refreshed in the
  background after `+"`jwks_refresh_interval`"+`, and refreshed when a token names an unknown `+"`kid`"+`, at most once per
  `+"`jwks_min_refresh_interval`"+` however many such tokens arrive; a failed fetch keeps the last good set.
- `+"`exp`"+` is required; `+"`nbf`"+` and `+"`iat`"+` are checked when present; `+"`issuer`"+` and `+"`audiences`"+` are checked when set (and
  then required), all with `+"`leeway`"+` for clock skew.

Failed messages keep flowing marked with an error such as `+"`jwt: token is expired`"+`; errors never contain the
token. `+"`webhook_server`"+` answers them with 401 (503 while no key set could be fetched).

== Metadata

Each claim named in `+"`claims_to_metadata`"+` is copied to its metadata key (strings as-is, numbers and booleans as text,
objects and arrays as JSON). The target keys are removed from every message first, so request metadata can never
pose as a claim.

This processor is safe to run on several pipeline threads; it does not change delivery guarantees.
`+vcHTTPServerCaveat).
		Fields(
			service.NewStringListField(jvpFieldAlgorithms).
				Description("Accepted algorithms: "+strings.Join(verify.JWTAlgorithms, ", ")+".").
				Example([]string{"RS256"}).
				Example([]string{"HS256"}),
			service.NewStringListField(jvpFieldSecrets).
				Description("HMAC secrets for HS* algorithms (several for rotation).").
				Secret().
				Optional(),
			service.NewStringListField(jvpFieldPublicKeys).
				Description("PEM public keys or certificates (RSA >= 2048 bits, ECDSA, Ed25519).").
				Optional(),
			service.NewStringField(jvpFieldJWKSURL).
				Description("URL of a JSON Web Key Set with the issuer's public keys.").
				Optional().
				Example("https://issuer.example.com/.well-known/jwks.json"),
			service.NewDurationField(jvpFieldJWKSTimeout).
				Description("Timeout of one JWKS fetch.").
				Default("5s").
				Advanced(),
			service.NewDurationField(jvpFieldJWKSRefresh).
				Description("Age after which the key set is refreshed in the background.").
				Default("1h").
				Advanced(),
			service.NewDurationField(jvpFieldJWKSMinRefresh).
				Description("Minimum time between two JWKS fetches, however many tokens with unknown key ids arrive.").
				Default("30s").
				Advanced(),
			service.NewStringField(jvpFieldIssuer).
				Description("Required `iss` value; empty disables the check.").
				Default(""),
			service.NewStringListField(jvpFieldAudiences).
				Description("The `aud` claim must contain one of these; empty disables the check.").
				Default([]string{}),
			service.NewDurationField(jvpFieldLeeway).
				Description("Clock skew tolerated for `exp`, `nbf` and `iat`.").
				Default("30s"),
			service.NewStringField(jvpFieldTokenMetadataKey).
				Description("Metadata key holding the token; `Authorization` expects `Bearer <token>`.").
				Default(jvpDefaultTokenMetadataKey),
			service.NewStringMapField(jvpFieldClaimsToMetadata).
				Description("Claims to copy, claim name -> metadata key.").
				Default(map[string]any{}).
				Example(map[string]any{"sub": "jwt_subject", "tenant": "tenant_id"}),
			service.NewIntField(jvpFieldMaxTokenBytes).
				Description("Longer tokens are rejected before parsing.").
				Default(8192).
				Advanced(),
		).
		LintRule(`root = match {
  this.algorithms.or([]).length() == 0 => [ "algorithms must not be empty" ],
  this.algorithms.or([]).any(a -> a.has_prefix("HS")) && this.secrets.or([]).length() == 0 => [ "secrets are required for HS* algorithms" ],
  !this.algorithms.or([]).any(a -> a.has_prefix("HS")) && this.public_keys.or([]).length() == 0 && this.jwks_url.or("") == "" => [ "public_keys or jwks_url are required for public-key algorithms" ],
}`).
		Example("JWKS", "Tokens from an identity provider, subject and tenant copied to metadata.", `
pipeline:
  processors:
    - jwt_verify:
        algorithms: [ RS256 ]
        jwks_url: https://issuer.example.com/.well-known/jwks.json
        issuer: https://issuer.example.com/
        audiences: [ danube-webhooks ]
        claims_to_metadata:
          sub: jwt_subject
          tenant: tenant_id
`).
		Example("Shared secret", "HS256 tokens signed with a shared secret.", `
pipeline:
  processors:
    - jwt_verify:
        algorithms: [ HS256 ]
        secrets: [ "${JWT_SECRET}" ]
`)
}

func init() {
	service.MustRegisterProcessor("jwt_verify", jwtVerifyProcessorSpec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (service.Processor, error) {
			pConf, err := jvpConfigFromParsed(conf)
			if err != nil {
				return nil, err
			}
			return newJWTVerifyProcessor(pConf, mgr)
		})
}

type jvpConfig struct {
	verify      verify.JWTConfig
	tokenKey    string
	claimToMeta map[string]string
}

func jvpConfigFromParsed(pConf *service.ParsedConfig) (conf jvpConfig, err error) {
	v := &conf.verify
	if v.Algorithms, err = pConf.FieldStringList(jvpFieldAlgorithms); err != nil {
		return
	}
	if pConf.Contains(jvpFieldSecrets) {
		if v.Secrets, err = pConf.FieldStringList(jvpFieldSecrets); err != nil {
			return
		}
	}
	if pConf.Contains(jvpFieldPublicKeys) {
		if v.PublicKeysPEM, err = pConf.FieldStringList(jvpFieldPublicKeys); err != nil {
			return
		}
	}
	if pConf.Contains(jvpFieldJWKSURL) {
		if v.JWKS.URL, err = pConf.FieldString(jvpFieldJWKSURL); err != nil {
			return
		}
	}
	if v.JWKS.Timeout, err = pConf.FieldDuration(jvpFieldJWKSTimeout); err != nil {
		return
	}
	if v.JWKS.RefreshInterval, err = pConf.FieldDuration(jvpFieldJWKSRefresh); err != nil {
		return
	}
	if v.JWKS.MinRefreshInterval, err = pConf.FieldDuration(jvpFieldJWKSMinRefresh); err != nil {
		return
	}
	if v.Issuer, err = pConf.FieldString(jvpFieldIssuer); err != nil {
		return
	}
	if v.Audiences, err = pConf.FieldStringList(jvpFieldAudiences); err != nil {
		return
	}
	if v.Leeway, err = pConf.FieldDuration(jvpFieldLeeway); err != nil {
		return
	}
	if v.Leeway < 0 {
		err = fmt.Errorf("field %s must not be negative", jvpFieldLeeway)
		return
	}
	if v.MaxTokenBytes, err = pConf.FieldInt(jvpFieldMaxTokenBytes); err != nil {
		return
	}
	if conf.tokenKey, err = pConf.FieldString(jvpFieldTokenMetadataKey); err != nil {
		return
	}
	if conf.tokenKey == "" {
		err = fmt.Errorf("field %s must not be empty", jvpFieldTokenMetadataKey)
		return
	}
	if conf.claimToMeta, err = pConf.FieldStringMap(jvpFieldClaimsToMetadata); err != nil {
		return
	}
	return
}

type jwtVerifyProcessor struct {
	verifier    *verify.JWTVerifier
	tokenKey    string
	bearer      bool
	claimToMeta map[string]string
	log         *service.Logger

	mVerified *service.MetricCounter
	mRejected *service.MetricCounter
	mLatency  *service.MetricTimer
}

func newJWTVerifyProcessor(conf jvpConfig, mgr *service.Resources) (*jwtVerifyProcessor, error) {
	v, err := verify.NewJWTVerifier(conf.verify)
	if err != nil {
		return nil, err
	}
	m := mgr.Metrics()
	return &jwtVerifyProcessor{
		verifier:    v,
		tokenKey:    conf.tokenKey,
		bearer:      strings.EqualFold(conf.tokenKey, jvpDefaultTokenMetadataKey),
		claimToMeta: conf.claimToMeta,
		log:         mgr.Logger(),
		mVerified:   m.NewCounter("jwt_verify_verified"),
		mRejected:   m.NewCounter("jwt_verify_rejected"),
		mLatency:    m.NewTimer("jwt_verify_latency_ns"),
	}, nil
}

var errJWTNotBearer = errors.New("authorization is not a Bearer token")

// token extracts the token from metadata without ever echoing it.
func (p *jwtVerifyProcessor) token(msg *service.Message) (string, error) {
	raw, ok := vcMetadataHeaders(msg)(p.tokenKey)
	if !ok || raw == "" {
		return "", verify.ErrMissingCredential
	}
	if strings.ContainsAny(raw, "\r\n") {
		return "", fmt.Errorf("%w: %s", verify.ErrDuplicateHeader, p.tokenKey)
	}
	if p.bearer {
		scheme, tok, found := strings.Cut(raw, " ")
		if !found || !strings.EqualFold(scheme, "Bearer") {
			return "", errJWTNotBearer
		}
		raw = tok
	}
	return strings.TrimSpace(raw), nil
}

func (p *jwtVerifyProcessor) Process(ctx context.Context, msg *service.Message) (service.MessageBatch, error) {
	start := time.Now()
	defer func() { p.mLatency.Timing(time.Since(start).Nanoseconds()) }()

	for _, mk := range p.claimToMeta {
		msg.MetaDelete(mk)
	}
	tok, err := p.token(msg)
	if err == nil {
		var claims map[string]any
		if claims, err = p.verifier.Verify(ctx, tok); err == nil {
			p.mVerified.Incr(1)
			for claim, mk := range p.claimToMeta {
				if v, ok := claims[claim]; ok {
					msg.MetaSetMut(mk, jvpClaimString(v))
				}
			}
			return service.MessageBatch{msg}, nil
		}
	}
	p.mRejected.Incr(1)
	if errors.Is(err, verify.ErrJWKSUnavailable) {
		p.log.Warnf("Rejected token: no key set from %s: %v", jvpFieldJWKSURL, p.verifier.JWKS().LastError())
	} else {
		p.log.Debugf("Rejected token: %v", err)
	}
	return nil, vcReject(fmt.Errorf("jwt: %w", err))
}

// jvpClaimString renders a claim value as metadata text.
func jvpClaimString(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(t)
	case json.Number:
		return t.String()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func (p *jwtVerifyProcessor) Close(context.Context) error {
	p.verifier.Close()
	return nil
}
