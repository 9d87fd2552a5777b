package webhook

import (
	"errors"
	"net/http"
	"strings"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/danube-connect/danube-connect/plugins/webhook/verify"
)

// Metadata written by webhook_server that the verification processors read.
const (
	vcMetaURL   = "webhook_url"
	vcMetaQuery = "webhook_query"
)

// vcHTTPServerCaveat is shared documentation for the three processors.
const vcHTTPServerCaveat = `
== Request headers

Headers are read from message metadata under their canonical names (` + "`X-Hub-Signature-256`" + `), as both
` + "`webhook_server`" + ` and Benthos' ` + "`http_server`" + ` store them. ` + "`webhook_server`" + ` joins the values of a header sent
several times with a newline, and such a security header is rejected as ambiguous. Benthos' ` + "`http_server`" + ` keeps only
the first value of a header and lets query parameters and cookies of the same name overwrite header metadata, so a
duplicate header cannot be detected there and a query parameter can stand in for a header. That can only cause false
rejections of signatures (the attacker still needs the secret), but prefer ` + "`webhook_server`" + ` on the open internet.
`

// vcMetadataHeaders looks request headers up in message metadata: first by
// canonical name, then in lower case (inputs that do not canonicalise).
func vcMetadataHeaders(msg *service.Message) verify.Headers {
	return func(name string) (string, bool) {
		if v, ok := msg.MetaGet(name); ok {
			return v, true
		}
		return msg.MetaGet(strings.ToLower(name))
	}
}

// vcError is a verification failure that tells webhook_server which HTTP
// status the sender gets (via its WebhookStatus method).
type vcError struct {
	status int
	err    error
}

func (e *vcError) Error() string      { return e.err.Error() }
func (e *vcError) Unwrap() error      { return e.err }
func (e *vcError) WebhookStatus() int { return e.status }

// vcReject wraps a verification error: ambiguous or malformed headers are
// 400, unavailable key sets 503, everything else 401.
func vcReject(err error) error {
	status := http.StatusUnauthorized
	switch {
	case errors.Is(err, verify.ErrDuplicateHeader), errors.Is(err, verify.ErrMalformedHeader):
		status = http.StatusBadRequest
	case errors.Is(err, verify.ErrJWKSUnavailable):
		status = http.StatusServiceUnavailable
	}
	return &vcError{status: status, err: err}
}

// canonicalHeader returns the canonical form of a header name ("" stays "").
func canonicalHeader(name string) string {
	if name == "" {
		return ""
	}
	return http.CanonicalHeaderKey(name)
}
