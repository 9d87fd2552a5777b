package verify

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"hash"
	"net"
	"net/textproto"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/valyala/fastjson"
)

// twilio implements X-Twilio-Signature: base64(HMAC(auth token, URL +
// sorted key+value form parameters)). HMAC-SHA1 is the default; a 32-byte
// signature is checked as the HMAC-SHA256 variant. For JSON bodies Twilio
// adds bodySHA256 to the URL and signs the URL alone.
type twilio struct {
	keys [][]byte
}

const twilioHeader = "X-Twilio-Signature"

func newTwilio(secrets []string) (*twilio, error) {
	keys, err := rawSecrets(secrets)
	if err != nil {
		return nil, err
	}
	return &twilio{keys: keys}, nil
}

func (s *twilio) verify(req Request, _ time.Time) (string, error) {
	raw, err := requiredHeader(req, twilioHeader)
	if err != nil {
		return "", err
	}
	var h func() hash.Hash
	var sig []byte
	if sig = decodeSignature(encBase64, raw, sha1.Size); sig != nil {
		h = sha1.New
	} else if sig = decodeSignature(encBase64, raw, sha256.Size); sig != nil {
		h = sha256.New
	} else {
		return "", fmt.Errorf("%w: %s: signature is not a well-formed digest", ErrMalformedHeader, twilioHeader)
	}
	if req.URL == "" {
		return "", ErrMissingURL
	}
	u, err := url.Parse(req.URL)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%w: request URL is not absolute", ErrMissingURL)
	}
	var params string
	if bodyHash := u.Query().Get("bodySHA256"); bodyHash != "" {
		sum := sha256.Sum256(req.Body)
		if subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(strings.ToLower(bodyHash))) != 1 {
			return "", ErrBodyHashMismatch
		}
	} else if len(req.Body) > 0 {
		form, err := url.ParseQuery(string(req.Body))
		if err != nil {
			return "", fmt.Errorf("%w: form parameters cannot be parsed", ErrInvalidBody)
		}
		var kv []string
		for k, vs := range form {
			for _, v := range vs {
				kv = append(kv, k+v)
			}
		}
		sort.Strings(kv)
		params = strings.Join(kv, "")
	}
	// Twilio signs the URL inconsistently with and without the default port.
	for _, variant := range twilioURLVariants(req.URL, u) {
		for _, k := range s.keys {
			mac := hmac.New(h, k)
			mac.Write([]byte(variant))
			mac.Write([]byte(params))
			if hmac.Equal(mac.Sum(nil), sig) {
				return "", nil
			}
		}
	}
	return "", ErrSignatureMismatch
}

// twilioURLVariants returns the URL as given, without its port, and with the
// scheme's default port, editing only the authority so the path and query
// keep their exact bytes.
func twilioURLVariants(raw string, u *url.URL) []string {
	out := []string{raw}
	schemeEnd := strings.Index(raw, "://")
	if schemeEnd < 0 {
		return out
	}
	rest := raw[schemeEnd+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority := rest[:end]
	userinfo := ""
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		userinfo, authority = authority[:at+1], authority[at+1:]
	}
	build := func(hostport string) string {
		return raw[:schemeEnd+3] + userinfo + hostport + rest[end:]
	}
	if u.Port() != "" {
		host, _, err := net.SplitHostPort(authority)
		if err == nil {
			if strings.Contains(host, ":") {
				host = "[" + host + "]"
			}
			out = append(out, build(host))
		}
	} else {
		port := "80"
		if strings.EqualFold(u.Scheme, "https") {
			port = "443"
		}
		out = append(out, build(authority+":"+port))
	}
	return out
}

// checkBodyTimestampMS reads a top-level millisecond timestamp from a JSON
// body (after its signature was verified) and checks the tolerance.
func checkBodyTimestampMS(body []byte, field string, now time.Time, tol time.Duration) error {
	v, err := fastjson.ParseBytes(body)
	if err != nil {
		return fmt.Errorf("%w: body is not JSON", ErrInvalidBody)
	}
	f := v.Get(field)
	if f == nil || f.Type() != fastjson.TypeNumber {
		return fmt.Errorf("%w: %s is missing or not a number", ErrInvalidBody, field)
	}
	ms, err := f.Int64()
	if err != nil || ms <= 0 {
		return fmt.Errorf("%w: %s is not a positive integer", ErrInvalidBody, field)
	}
	return checkToleranceAt(time.UnixMilli(ms), now, tol)
}

// bodyStringField returns a top-level string field of a JSON object body,
// or "" when the body is not such an object or lacks the field. It is only
// called on bodies whose signature was verified.
func bodyStringField(body []byte, field string) string {
	if field == "" || len(body) == 0 || body[0] != '{' {
		return ""
	}
	v, err := fastjson.ParseBytes(body)
	if err != nil {
		return ""
	}
	f := v.Get(field)
	if f == nil || f.Type() != fastjson.TypeString {
		return ""
	}
	b, _ := f.StringBytes()
	return string(b)
}

// canonical returns the net/textproto canonical form of a header name.
func canonical(name string) string {
	if name == "" {
		return ""
	}
	return textproto.CanonicalMIMEHeaderKey(name)
}

func subtleEq(a, b []byte) int {
	return subtle.ConstantTimeCompare(a, b)
}
