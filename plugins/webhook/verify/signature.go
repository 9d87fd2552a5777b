package verify

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
	"time"
)

// Headers returns the value of a request header given its canonical name
// (net/textproto form, e.g. "X-Hub-Signature-256"). A header that was sent
// several times must be reported as its values joined by "\n"; verifiers
// reject such security headers as ambiguous.
type Headers func(canonicalName string) (value string, ok bool)

// Request is what a signature scheme may sign.
type Request struct {
	// Body is the raw request body exactly as received.
	Body []byte
	// Header looks up request headers.
	Header Headers
	// URL is the full public URL the sender posted to, including the query
	// string. Only the twilio preset needs it.
	URL string
}

// Result describes a verified request.
type Result struct {
	// Provider is the configured preset name (e.g. "github", "svix").
	Provider string
	// ID is the sender's delivery id where the scheme has one in a header
	// (X-GitHub-Delivery, webhook-id, ...), empty otherwise.
	ID string
}

// Preset names accepted by NewSignatureVerifier.
const (
	PresetGitHub           = "github"
	PresetStripe           = "stripe"
	PresetShopify          = "shopify"
	PresetSlack            = "slack"
	PresetStandardWebhooks = "standard_webhooks"
	PresetSvix             = "svix"
	PresetClerk            = "clerk"
	PresetTwilio           = "twilio"
	PresetGitLab           = "gitlab"
	PresetLinear           = "linear"
	PresetPaddle           = "paddle"
	PresetZoom             = "zoom"
	PresetGeneric          = "generic"
)

// Presets lists every preset name.
var Presets = []string{
	PresetGitHub, PresetStripe, PresetShopify, PresetSlack, PresetStandardWebhooks,
	PresetSvix, PresetClerk, PresetTwilio, PresetGitLab, PresetLinear, PresetPaddle,
	PresetZoom, PresetGeneric,
}

// DefaultTolerance returns the replay window a preset uses when
// SignatureConfig.Tolerance is zero, or 0 for presets without a signed
// timestamp.
func DefaultTolerance(preset string) time.Duration {
	switch preset {
	case PresetStripe:
		return 300 * time.Second
	case PresetSlack, PresetStandardWebhooks, PresetSvix, PresetClerk, PresetZoom, PresetGeneric:
		return 5 * time.Minute
	case PresetLinear:
		return 60 * time.Second
	case PresetPaddle:
		return 5 * time.Second
	}
	return 0
}

// SignatureConfig configures NewSignatureVerifier.
type SignatureConfig struct {
	// Preset is one of Presets.
	Preset string
	// Secrets are the active shared secrets; a request is accepted when it
	// was signed with any of them (rotation). Their meaning follows the
	// provider: Standard Webhooks secrets are "whsec_" + base64 and are
	// decoded, Stripe and Paddle secrets are used as-is including their
	// prefix, all others are used as their UTF-8 bytes.
	Secrets []string
	// PublicKeys are trusted Ed25519 public keys ("whpk_" + base64) for
	// Standard Webhooks v1a signatures.
	PublicKeys []string
	// Tolerance is the maximum distance between a signed timestamp and now,
	// in both directions. Zero means DefaultTolerance(Preset).
	Tolerance time.Duration
	// Generic configures the generic preset.
	Generic GenericConfig
}

// GenericConfig describes a custom HMAC scheme.
type GenericConfig struct {
	// Header carries the signature (required).
	Header string
	// Algorithm is sha1, sha256 (default) or sha512.
	Algorithm string
	// Encoding of the signature: hex (default) or base64.
	Encoding string
	// Prefix precedes the encoded signature in the header, e.g. "sha256=".
	Prefix string
	// SignedTemplate describes the signed bytes with the placeholders
	// {body} (required, once), {timestamp} and {id}; default "{body}".
	SignedTemplate string
	// TimestampHeader holds a unix timestamp in seconds; required when the
	// template uses {timestamp}, and checked against the tolerance when set.
	TimestampHeader string
	// IDHeader holds the delivery id; required when the template uses {id}.
	IDHeader string
}

// scheme verifies one provider's signature and returns the delivery id.
type scheme interface {
	verify(req Request, now time.Time) (id string, err error)
}

// SignatureVerifier checks webhook signatures of one preset. It is safe for
// concurrent use.
type SignatureVerifier struct {
	provider string
	scheme   scheme
}

// NewSignatureVerifier validates conf and builds a verifier.
func NewSignatureVerifier(conf SignatureConfig) (*SignatureVerifier, error) {
	tol := conf.Tolerance
	if tol < 0 {
		return nil, errors.New("tolerance must not be negative")
	}
	if tol == 0 {
		tol = DefaultTolerance(conf.Preset)
	}
	if conf.Preset != PresetStandardWebhooks && conf.Preset != PresetSvix && conf.Preset != PresetClerk && len(conf.PublicKeys) > 0 {
		return nil, fmt.Errorf("public_keys are only used by the standard_webhooks, svix and clerk presets, not %q", conf.Preset)
	}
	var s scheme
	var err error
	switch conf.Preset {
	case PresetGitHub:
		s, err = newSingleHMAC(conf.Secrets, hmacScheme{
			sigHeader: "X-Hub-Signature-256", prefix: "sha256=", hash: sha256.New, size: sha256.Size,
			encoding: encHex, idHeader: "X-Github-Delivery",
		})
	case PresetShopify:
		s, err = newSingleHMAC(conf.Secrets, hmacScheme{
			sigHeader: "X-Shopify-Hmac-Sha256", hash: sha256.New, size: sha256.Size,
			encoding: encBase64, idHeader: "X-Shopify-Webhook-Id",
		})
	case PresetLinear:
		s, err = newSingleHMAC(conf.Secrets, hmacScheme{
			sigHeader: "Linear-Signature", hash: sha256.New, size: sha256.Size,
			encoding: encHex, idHeader: "Linear-Delivery", bodyTimestampMS: "webhookTimestamp", tolerance: tol,
		})
	case PresetSlack:
		s, err = newSingleHMAC(conf.Secrets, hmacScheme{
			sigHeader: "X-Slack-Signature", prefix: "v0=", hash: sha256.New, size: sha256.Size,
			encoding: encHex, tsHeader: "X-Slack-Request-Timestamp", tolerance: tol, bodyIDField: "event_id",
			template: []part{{lit: "v0:"}, {kind: partTimestamp}, {lit: ":"}, {kind: partBody}},
		})
	case PresetZoom:
		s, err = newSingleHMAC(conf.Secrets, hmacScheme{
			sigHeader: "X-Zm-Signature", prefix: "v0=", hash: sha256.New, size: sha256.Size,
			encoding: encHex, tsHeader: "X-Zm-Request-Timestamp", tolerance: tol,
			template: []part{{lit: "v0:"}, {kind: partTimestamp}, {lit: ":"}, {kind: partBody}},
		})
	case PresetGeneric:
		s, err = newGeneric(conf.Secrets, conf.Generic, tol)
	case PresetStripe:
		s, err = newListHMAC(conf.Secrets, listScheme{
			header: "Stripe-Signature", itemSep: ",", tsKey: "t", sigKey: "v1", bodySep: ".", tolerance: tol,
			bodyIDField: "id",
		})
	case PresetPaddle:
		s, err = newListHMAC(conf.Secrets, listScheme{
			header: "Paddle-Signature", itemSep: ";", tsKey: "ts", sigKey: "h1", bodySep: ":", tolerance: tol,
			bodyIDField: "notification_id",
		})
	case PresetStandardWebhooks, PresetSvix, PresetClerk:
		s, err = newStandardWebhooks(conf.Secrets, conf.PublicKeys, tol)
	case PresetTwilio:
		s, err = newTwilio(conf.Secrets)
	case PresetGitLab:
		s, err = newToken(conf.Secrets, "X-Gitlab-Token", []string{"Idempotency-Key", "X-Gitlab-Webhook-Uuid"})
	default:
		return nil, fmt.Errorf("unknown preset %q", conf.Preset)
	}
	if err != nil {
		return nil, fmt.Errorf("configuring preset %s: %w", conf.Preset, err)
	}
	return &SignatureVerifier{provider: conf.Preset, scheme: s}, nil
}

// Provider returns the configured preset name.
func (v *SignatureVerifier) Provider() string { return v.provider }

// Verify authenticates req at time now. The error wraps one of the package's
// Err* reasons and never contains secrets or expected signatures.
func (v *SignatureVerifier) Verify(req Request, now time.Time) (Result, error) {
	if req.Header == nil {
		req.Header = func(string) (string, bool) { return "", false }
	}
	id, err := v.scheme.verify(req, now)
	if err != nil {
		return Result{}, err
	}
	return Result{Provider: v.provider, ID: id}, nil
}

// ---------------------------------------------------------------------------
// Shared helpers.

// requiredHeader returns a single-valued, non-empty header.
func requiredHeader(req Request, name string) (string, error) {
	v, ok, err := optionalHeader(req, name)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("%w: %s", ErrMissingHeader, name)
	}
	return v, nil
}

// optionalHeader returns a header if present and non-empty; several values
// (joined by "\n") or a CR are rejected.
func optionalHeader(req Request, name string) (string, bool, error) {
	v, ok := req.Header(name)
	if !ok || v == "" {
		return "", false, nil
	}
	if strings.ContainsAny(v, "\n\r") {
		return "", false, fmt.Errorf("%w: %s", ErrDuplicateHeader, name)
	}
	return v, true, nil
}

// parseTimestamp accepts only ^[0-9]{1,12}$ so signs, spaces, fractions,
// exponents and overflow are all rejected before the value is used.
func parseTimestamp(s string) (int64, error) {
	if len(s) == 0 || len(s) > 12 {
		return 0, ErrInvalidTimestamp
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, ErrInvalidTimestamp
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}

// checkTolerance rejects timestamps (unix seconds) further than tol from now
// in either direction.
func checkTolerance(unixSeconds int64, now time.Time, tol time.Duration) error {
	return checkToleranceAt(time.Unix(unixSeconds, 0), now, tol)
}

func checkToleranceAt(t, now time.Time, tol time.Duration) error {
	d := now.Sub(t)
	if d < 0 {
		d = -d
	}
	if d > tol {
		return ErrTimestampOutsideTolerance
	}
	return nil
}

type encoding int

const (
	encHex encoding = iota
	encBase64
)

// decodeSignature decodes strictly and returns nil unless the result has
// exactly size bytes.
func decodeSignature(enc encoding, s string, size int) []byte {
	var b []byte
	var err error
	switch enc {
	case encHex:
		if len(s) != 2*size {
			return nil
		}
		b, err = hex.DecodeString(s)
	default:
		if len(s) != base64.StdEncoding.EncodedLen(size) {
			return nil
		}
		b, err = base64.StdEncoding.Strict().DecodeString(s)
	}
	if err != nil || len(b) != size {
		return nil
	}
	return b
}

type partKind int

const (
	partLiteral partKind = iota
	partBody
	partTimestamp
	partID
)

// part is one piece of the signed content.
type part struct {
	kind partKind
	lit  string
}

// signedValues are the request values a template refers to.
type signedValues struct {
	body      []byte
	timestamp string
	id        string
}

// macMatches reports whether any key's MAC over the template parts equals
// any candidate. Every candidate must already have the digest size.
func macMatches(keys [][]byte, h func() hash.Hash, tmpl []part, vals signedValues, candidates [][]byte) bool {
	if len(candidates) == 0 {
		return false
	}
	var sum []byte
	for _, k := range keys {
		mac := hmac.New(h, k)
		for _, p := range tmpl {
			switch p.kind {
			case partLiteral:
				mac.Write([]byte(p.lit))
			case partBody:
				mac.Write(vals.body)
			case partTimestamp:
				mac.Write([]byte(vals.timestamp))
			case partID:
				mac.Write([]byte(vals.id))
			}
		}
		sum = mac.Sum(sum[:0])
		for _, c := range candidates {
			if hmac.Equal(sum, c) {
				return true
			}
		}
	}
	return false
}

func rawSecrets(secrets []string) ([][]byte, error) {
	if len(secrets) == 0 {
		return nil, errors.New("at least one secret is required")
	}
	keys := make([][]byte, 0, len(secrets))
	for i, s := range secrets {
		if s == "" {
			return nil, fmt.Errorf("secret %d is empty", i)
		}
		keys = append(keys, []byte(s))
	}
	return keys, nil
}

func hashByName(name string) (func() hash.Hash, int, error) {
	switch name {
	case "sha1":
		return sha1.New, sha1.Size, nil
	case "", "sha256":
		return sha256.New, sha256.Size, nil
	case "sha512":
		return sha512.New, sha512.Size, nil
	}
	return nil, 0, fmt.Errorf("unknown algorithm %q (want sha1, sha256 or sha512)", name)
}

// ---------------------------------------------------------------------------
// Single-signature HMAC schemes (GitHub, Shopify, Slack, Zoom, Linear,
// generic).

type hmacScheme struct {
	keys      [][]byte
	sigHeader string
	prefix    string
	hash      func() hash.Hash
	size      int
	encoding  encoding
	template  []part // nil = body only
	tsHeader  string
	idHeader  string
	tolerance time.Duration
	// bodyTimestampMS names a top-level JSON field holding a millisecond
	// timestamp inside the signed body (Linear).
	bodyTimestampMS string
	// bodyIDField names a top-level JSON string field of the signed body
	// used as delivery id when no id header is configured.
	bodyIDField string
}

var bodyOnly = []part{{kind: partBody}}

func newSingleHMAC(secrets []string, s hmacScheme) (*hmacScheme, error) {
	keys, err := rawSecrets(secrets)
	if err != nil {
		return nil, err
	}
	s.keys = keys
	if s.template == nil {
		s.template = bodyOnly
	}
	return &s, nil
}

func (s *hmacScheme) verify(req Request, now time.Time) (string, error) {
	raw, err := requiredHeader(req, s.sigHeader)
	if err != nil {
		return "", err
	}
	vals := signedValues{body: req.Body}
	if s.tsHeader != "" {
		if vals.timestamp, err = requiredHeader(req, s.tsHeader); err != nil {
			return "", err
		}
		ts, err := parseTimestamp(vals.timestamp)
		if err != nil {
			return "", fmt.Errorf("%w: %s", err, s.tsHeader)
		}
		if err := checkTolerance(ts, now, s.tolerance); err != nil {
			return "", err
		}
	}
	var id string
	if s.idHeader != "" {
		var ok bool
		if id, ok, err = optionalHeader(req, s.idHeader); err != nil {
			return "", err
		}
		if !ok && s.templateUses(partID) {
			return "", fmt.Errorf("%w: %s", ErrMissingHeader, s.idHeader)
		}
		vals.id = id
	}
	if s.prefix != "" {
		if !strings.HasPrefix(raw, s.prefix) {
			return "", fmt.Errorf("%w: %s", ErrNoSignature, s.sigHeader)
		}
		raw = raw[len(s.prefix):]
	}
	sig := decodeSignature(s.encoding, raw, s.size)
	if sig == nil {
		return "", fmt.Errorf("%w: %s: signature is not a well-formed %d-byte digest", ErrMalformedHeader, s.sigHeader, s.size)
	}
	if !macMatches(s.keys, s.hash, s.template, vals, [][]byte{sig}) {
		return "", ErrSignatureMismatch
	}
	if s.bodyTimestampMS != "" {
		if err := checkBodyTimestampMS(req.Body, s.bodyTimestampMS, now, s.tolerance); err != nil {
			return "", err
		}
	}
	if id == "" && s.bodyIDField != "" {
		id = bodyStringField(req.Body, s.bodyIDField)
	}
	return id, nil
}

func (s *hmacScheme) templateUses(k partKind) bool {
	for _, p := range s.template {
		if p.kind == k {
			return true
		}
	}
	return false
}

// newGeneric builds the configurable scheme.
func newGeneric(secrets []string, g GenericConfig, tol time.Duration) (*hmacScheme, error) {
	if g.Header == "" {
		return nil, errors.New("generic.header is required")
	}
	h, size, err := hashByName(g.Algorithm)
	if err != nil {
		return nil, fmt.Errorf("generic.algorithm: %w", err)
	}
	var enc encoding
	switch g.Encoding {
	case "", "hex":
		enc = encHex
	case "base64":
		enc = encBase64
	default:
		return nil, fmt.Errorf("generic.encoding: unknown encoding %q (want hex or base64)", g.Encoding)
	}
	tmplText := g.SignedTemplate
	if tmplText == "" {
		tmplText = "{body}"
	}
	tmpl, err := parseTemplate(tmplText)
	if err != nil {
		return nil, fmt.Errorf("generic.signed_template: %w", err)
	}
	s := hmacScheme{
		sigHeader: canonical(g.Header), prefix: g.Prefix, hash: h, size: size, encoding: enc,
		template: tmpl, tsHeader: canonical(g.TimestampHeader), idHeader: canonical(g.IDHeader), tolerance: tol,
	}
	if s.templateUses(partTimestamp) && s.tsHeader == "" {
		return nil, errors.New("generic.timestamp_header is required when signed_template uses {timestamp}")
	}
	if s.templateUses(partID) && s.idHeader == "" {
		return nil, errors.New("generic.id_header is required when signed_template uses {id}")
	}
	if s.tsHeader != "" && !s.templateUses(partTimestamp) {
		// An unsigned timestamp can be replaced by anyone: checking it would
		// only pretend to protect against replays.
		return nil, errors.New("generic.timestamp_header needs {timestamp} in signed_template")
	}
	return newSingleHMAC(secrets, s)
}

// parseTemplate splits a template such as "{timestamp}.{body}" into parts.
func parseTemplate(t string) ([]part, error) {
	var parts []part
	bodies := 0
	for len(t) > 0 {
		i := strings.IndexByte(t, '{')
		if i < 0 {
			parts = append(parts, part{lit: t})
			break
		}
		if i > 0 {
			parts = append(parts, part{lit: t[:i]})
		}
		j := strings.IndexByte(t[i:], '}')
		if j < 0 {
			return nil, errors.New("unterminated placeholder")
		}
		switch name := t[i+1 : i+j]; name {
		case "body":
			parts = append(parts, part{kind: partBody})
			bodies++
		case "timestamp":
			parts = append(parts, part{kind: partTimestamp})
		case "id":
			parts = append(parts, part{kind: partID})
		default:
			return nil, fmt.Errorf("unknown placeholder {%s} (want {body}, {timestamp} or {id})", name)
		}
		t = t[i+j+1:]
	}
	if bodies != 1 {
		return nil, errors.New("the template must contain {body} exactly once")
	}
	return parts, nil
}

// ---------------------------------------------------------------------------
// Key=value list schemes with several signatures (Stripe, Paddle).

type listScheme struct {
	keys      [][]byte
	header    string
	itemSep   string
	tsKey     string
	sigKey    string
	bodySep   string
	tolerance time.Duration
	// bodyIDField names a top-level JSON string field of the signed body
	// used as delivery id (Stripe event id, Paddle notification id).
	bodyIDField string
}

func newListHMAC(secrets []string, s listScheme) (*listScheme, error) {
	keys, err := rawSecrets(secrets)
	if err != nil {
		return nil, err
	}
	s.keys = keys
	return &s, nil
}

func (s *listScheme) verify(req Request, now time.Time) (string, error) {
	raw, err := requiredHeader(req, s.header)
	if err != nil {
		return "", err
	}
	var ts string
	var sigs [][]byte
	for item := range strings.SplitSeq(raw, s.itemSep) {
		kv := strings.Split(item, "=")
		if len(kv) != 2 {
			return "", fmt.Errorf("%w: %s", ErrMalformedHeader, s.header)
		}
		switch kv[0] {
		case s.tsKey:
			if ts != "" {
				return "", fmt.Errorf("%w: %s: repeated timestamp", ErrMalformedHeader, s.header)
			}
			if ts = kv[1]; ts == "" {
				return "", fmt.Errorf("%w: %s", ErrInvalidTimestamp, s.header)
			}
		case s.sigKey:
			// Undecodable or wrong-length entries are skipped like unknown
			// versions: they can never match.
			if sig := decodeSignature(encHex, kv[1], sha256.Size); sig != nil {
				sigs = append(sigs, sig)
			}
		}
	}
	if ts == "" {
		return "", fmt.Errorf("%w: %s: no timestamp", ErrMalformedHeader, s.header)
	}
	tsVal, err := parseTimestamp(ts)
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, s.header)
	}
	if err := checkTolerance(tsVal, now, s.tolerance); err != nil {
		return "", err
	}
	if len(sigs) == 0 {
		return "", fmt.Errorf("%w: %s", ErrNoSignature, s.header)
	}
	tmpl := []part{{kind: partTimestamp}, {lit: s.bodySep}, {kind: partBody}}
	if !macMatches(s.keys, sha256.New, tmpl, signedValues{body: req.Body, timestamp: ts}, sigs) {
		return "", ErrSignatureMismatch
	}
	return bodyStringField(req.Body, s.bodyIDField), nil
}

// ---------------------------------------------------------------------------
// Standard Webhooks (also Svix and Clerk): v1 HMAC-SHA256 and v1a Ed25519.

type standardWebhooks struct {
	keys       [][]byte
	publicKeys []ed25519.PublicKey
	tolerance  time.Duration
}

func newStandardWebhooks(secrets, publicKeys []string, tol time.Duration) (*standardWebhooks, error) {
	if len(secrets) == 0 && len(publicKeys) == 0 {
		return nil, errors.New("at least one secret (whsec_) or public key (whpk_) is required")
	}
	s := &standardWebhooks{tolerance: tol}
	for i, sec := range secrets {
		k, err := decodeStandardKey(sec, "whsec_")
		if err != nil {
			return nil, fmt.Errorf("secret %d: %w", i, err)
		}
		s.keys = append(s.keys, k)
	}
	for i, pk := range publicKeys {
		k, err := decodeStandardKey(pk, "whpk_")
		if err != nil {
			return nil, fmt.Errorf("public key %d: %w", i, err)
		}
		if len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("public key %d: want %d bytes, got %d", i, ed25519.PublicKeySize, len(k))
		}
		s.publicKeys = append(s.publicKeys, ed25519.PublicKey(k))
	}
	return s, nil
}

// decodeStandardKey strips the optional prefix and decodes standard base64,
// tolerating missing padding.
func decodeStandardKey(s, prefix string) ([]byte, error) {
	s = strings.TrimPrefix(s, prefix)
	s = strings.TrimRight(s, "=")
	if s == "" {
		return nil, errors.New("key is empty")
	}
	k, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("key is not valid base64 after its prefix")
	}
	return k, nil
}

func (s *standardWebhooks) verify(req Request, now time.Time) (string, error) {
	// Svix sends svix-* headers unless white-labelled; use one consistent set.
	names := [3]string{"Webhook-Id", "Webhook-Timestamp", "Webhook-Signature"}
	if _, ok := req.Header("Svix-Signature"); ok {
		names = [3]string{"Svix-Id", "Svix-Timestamp", "Svix-Signature"}
	}
	id, err := requiredHeader(req, names[0])
	if err != nil {
		return "", err
	}
	if strings.Contains(id, ".") {
		// A dot would make "id.timestamp.body" ambiguous.
		return "", fmt.Errorf("%w: %s", ErrMalformedHeader, names[0])
	}
	tsRaw, err := requiredHeader(req, names[1])
	if err != nil {
		return "", err
	}
	ts, err := parseTimestamp(tsRaw)
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, names[1])
	}
	if err := checkTolerance(ts, now, s.tolerance); err != nil {
		return "", err
	}
	raw, err := requiredHeader(req, names[2])
	if err != nil {
		return "", err
	}
	var v1 [][]byte
	var v1a [][]byte
	for entry := range strings.SplitSeq(raw, " ") {
		version, sig, ok := strings.Cut(entry, ",")
		if !ok {
			continue
		}
		switch version {
		case "v1":
			if len(s.keys) > 0 {
				if b := decodeSignature(encBase64, sig, sha256.Size); b != nil {
					v1 = append(v1, b)
				}
			}
		case "v1a":
			if len(s.publicKeys) > 0 {
				if b := decodeSignature(encBase64, sig, ed25519.SignatureSize); b != nil {
					v1a = append(v1a, b)
				}
			}
		}
	}
	if len(v1) == 0 && len(v1a) == 0 {
		return "", fmt.Errorf("%w: %s", ErrNoSignature, names[2])
	}
	vals := signedValues{body: req.Body, timestamp: tsRaw, id: id}
	tmpl := []part{{kind: partID}, {lit: "."}, {kind: partTimestamp}, {lit: "."}, {kind: partBody}}
	if macMatches(s.keys, sha256.New, tmpl, vals, v1) {
		return id, nil
	}
	if len(v1a) > 0 {
		msg := make([]byte, 0, len(id)+len(tsRaw)+2+len(req.Body))
		msg = append(append(append(append(append(msg, id...), '.'), tsRaw...), '.'), req.Body...)
		for _, pk := range s.publicKeys {
			for _, sig := range v1a {
				if ed25519.Verify(pk, msg, sig) {
					return id, nil
				}
			}
		}
	}
	return "", ErrSignatureMismatch
}

// ---------------------------------------------------------------------------
// Plain shared token (GitLab classic).

type tokenScheme struct {
	digests   [][sha256.Size]byte
	header    string
	idHeaders []string
}

func newToken(secrets []string, header string, idHeaders []string) (*tokenScheme, error) {
	keys, err := rawSecrets(secrets)
	if err != nil {
		return nil, err
	}
	s := &tokenScheme{header: header, idHeaders: idHeaders}
	for _, k := range keys {
		s.digests = append(s.digests, sha256.Sum256(k))
	}
	return s, nil
}

func (s *tokenScheme) verify(req Request, _ time.Time) (string, error) {
	tok, err := requiredHeader(req, s.header)
	if err != nil {
		return "", err
	}
	if !matchDigest(s.digests, tok) {
		return "", ErrSignatureMismatch
	}
	for _, h := range s.idHeaders {
		id, ok, err := optionalHeader(req, h)
		if err != nil {
			return "", err
		}
		if ok {
			return id, nil
		}
	}
	return "", nil
}

// matchDigest compares the SHA-256 of the presented value with every stored
// digest without an early exit; hashing first makes the comparison
// independent of the secret's length.
func matchDigest(digests [][sha256.Size]byte, presented string) bool {
	d := sha256.Sum256([]byte(presented))
	found := 0
	for i := range digests {
		found |= subtleEq(d[:], digests[i][:])
	}
	return found == 1
}

// ZoomEncryptedToken answers Zoom's endpoint.url_validation challenge:
// hex(HMAC-SHA256(secret token, plainToken)).
func ZoomEncryptedToken(secretToken, plainToken string) string {
	mac := hmac.New(sha256.New, []byte(secretToken))
	mac.Write([]byte(plainToken))
	return hex.EncodeToString(mac.Sum(nil))
}
