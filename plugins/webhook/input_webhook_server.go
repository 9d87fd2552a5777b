package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/danube-connect/danube-connect/plugins/webhook/ingress"
)

const (
	wsiFieldAddress             = "address"
	wsiFieldPath                = "path"
	wsiFieldEndpoints           = "endpoints"
	wsiFieldEndpointName        = "name"
	wsiFieldAllowedMethods      = "allowed_methods"
	wsiFieldAllowedContentTypes = "allowed_content_types"
	wsiFieldMaxBodyBytes        = "max_body_bytes"
	wsiFieldValidateJSON        = "validate_json"
	wsiFieldTimeout             = "timeout"
	wsiFieldRateLimit           = "rate_limit"
	wsiFieldTrustedProxies      = "trusted_proxies"
	wsiFieldPublicURL           = "public_url"
	wsiFieldReadHeaderTimeout   = "read_header_timeout"
	wsiFieldReadTimeout         = "read_timeout"
	wsiFieldWriteTimeout        = "write_timeout"
	wsiFieldIdleTimeout         = "idle_timeout"
	wsiFieldMaxHeaderBytes      = "max_header_bytes"
	wsiFieldCertFile            = "cert_file"
	wsiFieldKeyFile             = "key_file"
	wsiFieldSyncResponse        = "sync_response"
	wsiFieldSyncStatus          = "status"
	wsiFieldSyncHeaders         = "headers"
	wsiFieldDedupe              = "dedupe"
	wsiFieldDedupeID            = "id"
	wsiFieldDedupeHeaders       = "headers"
	wsiFieldDedupeCache         = "cache"
	wsiFieldDedupeTTL           = "ttl"
	wsiFieldDedupeMaxEntries    = "max_entries"
)

// Metadata keys set on every message besides the request headers.
const (
	wsiMetaURL         = "webhook_url"
	wsiMetaQuery       = "webhook_query"
	wsiMetaPath        = "webhook_path"
	wsiMetaRemoteIP    = "webhook_remote_ip"
	wsiMetaRequestID   = "webhook_request_id"
	wsiMetaReceivedAt  = "webhook_received_at"
	wsiMetaEndpoint    = "webhook_endpoint"
	wsiMetaContentType = "webhook_content_type"
	wsiMetaMethod      = "webhook_method"
)

func webhookServerInputSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Network").
		Summary("Receives webhooks over HTTP(S) with the limits an internet-facing endpoint needs, and answers the sender only after the output acknowledged the event.").
		Description(`
A hardened replacement for `+"`http_server`"+` as a webhook edge. Each request becomes one message whose content is the raw request body, byte-exact (multipart bodies are never split, request bodies are never decompressed), so that signature processors such as `+"`webhook_signature`"+`, `+"`jwt_verify`"+` and `+"`api_key`"+` can verify exactly what the sender signed.

== Delivery guarantee

At-least-once for the sender: a 2xx is sent only after the output acknowledged the message. If the output fails, nacks, or does not acknowledge within `+"`timeout`"+`, the sender gets 503 with a `+"`Retry-After`"+` header and is expected to retry; such a retry may duplicate an event whose acknowledgement merely came late, which the optional `+"`dedupe`"+` block absorbs.

== Responses

Error responses always carry a fixed short JSON body such as `+"`{\"error\":\"unauthorized\"}`"+`; internal error text never reaches the sender. Every response carries `+"`X-Request-Id`"+`.

|===
| Situation | Status

| path not served | 404
| method not in `+"`allowed_methods`"+` | 405 with `+"`Allow`"+`
| `+"`Content-Type`"+` missing, repeated or not in `+"`allowed_content_types`"+`, or a `+"`Content-Encoding`"+` other than identity | 415
| unparsable `+"`Content-Type`"+`, unreadable or truncated body, JSON body that is not valid UTF-8 JSON (with `+"`validate_json`"+`) | 400
| body over `+"`max_body_bytes`"+` (announced or streamed) | 413
| body not received within `+"`read_timeout`"+` | 408
| headers over `+"`max_header_bytes`"+` | 431
| `+"`rate_limit`"+` says wait | 429 with `+"`Retry-After`"+` (whole seconds, at least 1)
| output down, nack, or no acknowledgement within `+"`timeout`"+`; input shutting down | 503 with `+"`Retry-After`"+`
| message rejected by a processor whose error carries a 4xx status (see below) | that status
| duplicate delivery (with `+"`dedupe`"+`) | 200, nothing published
| acknowledged | 200 `+"`{\"status\":\"accepted\"}`"+`, or the sync response
|===

== Rejecting messages (401, 422, 400)

A message that fails verification must not be published. Two ways lead to the right status:

. Set `+"`error_handling.strict: true`"+` (or use a `+"`reject_errored`"+` output): a failed message is nacked instead of written. Verification failures of this distribution's processors (`+"`webhook_signature`"+`, `+"`jwt_verify`"+`, `+"`api_key`"+`) are answered 401 (400 for duplicate or malformed security headers); any processor error implementing `+"`WebhookStatus() int`"+` with a 4xx status gets that status; any other nack is answered 503.
. Catch the error, mark the response with the metadata key `+"`webhook_status`"+`, register it with `+"`sync_response`"+` and drop the message. This works for any processor, for example `+"`json_schema`"+` failures answered 422: put a `+"`catch`"+` right after each step whose failures need their own status (see the examples).

For 4xx/5xx statuses coming from a sync response the body is still the fixed short one; for 2xx statuses the sync response message is the body (for challenge echoes such as Slack `+"`url_verification`"+`).

== Listener sharing and streams mode

Every `+"`webhook_server`"+` with the same `+"`address`"+` string (`+"`0.0.0.0:8080`"+` and `+"`:8080`"+` are different strings) in one process shares one listener, routed by exact path, so a streams directory can serve many sources on one port; listener settings (timeouts, `+"`max_header_bytes`"+`, TLS) must then be identical. Paths are not prefixed with the stream id. Readiness and liveness are served by the Benthos HTTP server (`+"`/ready`"+`, `+"`/ping`"+`), not on the webhook listener.

== Metadata

Each request header is stored under its canonical name as Go's `+"`http.CanonicalHeaderKey`"+` spells it (`+"`X-Hub-Signature-256`"+`, `+"`X-Github-Delivery`"+`, `+"`Webhook-Id`"+`); repeated headers are joined with a newline. Query parameters and cookies are never copied into metadata, so they cannot pose as headers. Credentials such as `+"`Authorization`"+`, `+"`Cookie`"+` or signature headers are metadata too: exclude them at the output (e.g. the `+"`metadata`"+` filter of the `+"`danube`"+` output) so that they are not published. In addition:

- webhook_url: the public URL of the request, including the query (scheme and host from `+"`public_url`"+`, else from a trusted proxy's `+"`X-Forwarded-Proto/Host`"+`, else from the request)
- webhook_query: the raw query string
- webhook_path
- webhook_method
- webhook_remote_ip: the socket peer, or the client named in `+"`X-Forwarded-For`"+` when the peer is in `+"`trusted_proxies`"+`
- webhook_request_id: `+"`X-Request-Id`"+` from a trusted proxy, else a generated id (a random per-process prefix and a counter)
- webhook_received_at: RFC 3339 with nanoseconds, UTC
- webhook_endpoint: the endpoint name (its path unless named)
- webhook_content_type

== Metrics

`+"`webhook_server_requests`"+` (labels `+"`endpoint`"+`, `+"`status`"+`), `+"`webhook_server_rejected`"+` (`+"`endpoint`"+`, `+"`reason`"+`), `+"`webhook_server_received_bytes`"+` and `+"`webhook_server_latency_ns`"+` (`+"`endpoint`"+`).
`).
		Fields(
			service.NewStringField(wsiFieldAddress).
				Description("The address to listen on. Inputs with the same address in one process share the listener.").
				Default("0.0.0.0:8080").
				Example("127.0.0.1:8080"),
			service.NewStringField(wsiFieldPath).
				Description("The path served, when a single endpoint is enough. Use either this or `endpoints`.").
				Default("").
				Example("/github"),
			service.NewObjectListField(wsiFieldEndpoints,
				service.NewStringField(wsiFieldEndpointName).
					Description("The endpoint name, set as `webhook_endpoint` metadata. Defaults to the path.").
					Default(""),
				service.NewStringField(wsiFieldPath).
					Description("The exact path served."),
				service.NewStringListField(wsiFieldAllowedMethods).
					Description("Overrides the input's `allowed_methods` for this endpoint.").
					Optional(),
				service.NewStringListField(wsiFieldAllowedContentTypes).
					Description("Overrides the input's `allowed_content_types` for this endpoint.").
					Optional(),
				service.NewIntField(wsiFieldMaxBodyBytes).
					Description("Overrides the input's `max_body_bytes` for this endpoint.").
					Optional(),
				service.NewStringField(wsiFieldRateLimit).
					Description("Overrides the input's `rate_limit` for this endpoint.").
					Optional(),
			).
				Description("Several endpoints served by this input, each with its own path and optional limits. The pipeline can tell them apart with `@webhook_endpoint`.").
				Default([]any{}),
			service.NewStringListField(wsiFieldAllowedMethods).
				Description("HTTP methods accepted; others get 405.").
				Default([]any{"POST"}),
			service.NewStringListField(wsiFieldAllowedContentTypes).
				Description("Media types (without parameters) accepted; others get 415. `*/*` accepts any. Multipart types are accepted only when listed, and their bodies are kept whole.").
				Default([]any{"application/json", "application/x-www-form-urlencoded", "text/plain"}),
			service.NewIntField(wsiFieldMaxBodyBytes).
				Description("The largest accepted body; larger ones get 413, whether announced by Content-Length or streamed.").
				Default(ingress.DefaultMaxBodyBytes),
			service.NewBoolField(wsiFieldValidateJSON).
				Description("Reject JSON bodies (`application/json`, `*/*+json`) that are not valid UTF-8 JSON with 400 before they reach the pipeline (encoding/json alone accepts invalid UTF-8). The raw bytes are still passed on unchanged. Off by default because some senders label non-JSON bodies as JSON.").
				Default(false),
			service.NewDurationField(wsiFieldTimeout).
				Description("How long a request may wait for the pipeline to take it and the output to acknowledge it before the sender gets 503.").
				Default("5s"),
			service.NewStringField(wsiFieldRateLimit).
				Description("A `rate_limit` resource checked for every request; when it says wait the sender gets 429 with Retry-After.").
				Default(""),
			service.NewStringListField(wsiFieldTrustedProxies).
				Description("CIDRs or addresses of reverse proxies whose `X-Forwarded-For`, `X-Forwarded-Proto`, `X-Forwarded-Host` and `X-Request-Id` headers are believed. From any other peer these headers are ignored.").
				Default([]any{}).
				Example([]any{"10.0.0.0/8", "127.0.0.1"}),
			service.NewStringField(wsiFieldPublicURL).
				Description("The public base URL (scheme and host, e.g. `https://hooks.example.com`) used for `webhook_url`, for signature schemes that sign the URL when a proxy rewrites the host.").
				Default(""),
			service.NewDurationField(wsiFieldReadHeaderTimeout).
				Description("How long a client may take to send the request headers (slowloris protection).").
				Default("5s").Advanced(),
			service.NewDurationField(wsiFieldReadTimeout).
				Description("How long a client may take to send the whole request, body included.").
				Default("15s").Advanced(),
			service.NewDurationField(wsiFieldWriteTimeout).
				Description("How long writing a response may take, counted from the end of the request headers; must exceed `timeout`.").
				Default("20s").Advanced(),
			service.NewDurationField(wsiFieldIdleTimeout).
				Description("How long an idle keep-alive connection stays open.").
				Default("60s").Advanced(),
			service.NewIntField(wsiFieldMaxHeaderBytes).
				Description("The largest accepted request header block; larger ones get 431.").
				Default(32<<10).Advanced(),
			service.NewStringField(wsiFieldCertFile).
				Description("A PEM certificate file to serve TLS. Requires `key_file`.").
				Default("").Advanced(),
			service.NewStringField(wsiFieldKeyFile).
				Description("The PEM private key file matching `cert_file`.").
				Default("").Advanced(),
			service.NewObjectField(wsiFieldSyncResponse,
				service.NewInterpolatedStringField(wsiFieldSyncStatus).
					Description("The status sent when the pipeline registered a sync response, evaluated against the first response message.").
					Default(`${! meta("webhook_status").or("200") }`),
				service.NewInterpolatedStringMapField(wsiFieldSyncHeaders).
					Description("Headers added to a 2xx sync response, evaluated against the first response message.").
					Default(map[string]any{"Content-Type": "application/json"}),
			).
				Description("Customise the response from messages registered with the `sync_response` processor.").
				Advanced(),
			service.NewObjectField(wsiFieldDedupe,
				service.NewStringListField(wsiFieldDedupeHeaders).
					Description("Headers holding the delivery id, matched case-insensitively; the first one present is used. A request without any of them is not de-duplicated.").
					Default([]any{}).
					Example([]any{"X-GitHub-Delivery"}).
					Example([]any{"webhook-id", "svix-id"}),
				service.NewInterpolatedStringField(wsiFieldDedupeID).
					Description("Alternatively, the delivery id as an interpolation evaluated against the incoming message (headers are metadata under their canonical names). A request whose id evaluates empty or `null` is not de-duplicated.").
					Default("").
					Example(`${! meta("X-Github-Delivery") }`).
					Example(`${! meta("Webhook-Id").or(meta("Svix-Id")) }`),
				service.NewStringField(wsiFieldDedupeCache).
					Description("A cache resource to remember ids in (e.g. shared redis across replicas). Empty uses a built-in in-memory store.").
					Default(""),
				service.NewDurationField(wsiFieldDedupeTTL).
					Description("How long a published delivery id is remembered.").
					Default("24h"),
				service.NewIntField(wsiFieldDedupeMaxEntries).
					Description("The most ids the built-in store keeps; the oldest are forgotten first.").
					Default(100000).Advanced(),
			).
				Description("Optional de-duplication by delivery id. An id is recorded only after the output acknowledged its message; a later request with a recorded id gets 200 and is not published again. A copy arriving while the first is still in flight gets 503 so that the sender retries."),
		).
		LintRule(`root = if this.path.or("") == "" && this.endpoints.or([]).length() == 0 { ["one of path or endpoints must be set"] } else if this.path.or("") != "" && this.endpoints.or([]).length() > 0 { ["only one of path or endpoints may be set"] }`).
		Example("GitHub webhooks to Danube", "Verifies GitHub signatures, answers 401 to forgeries, drops redeliveries and publishes the rest.", `
input:
  webhook_server:
    address: 0.0.0.0:8080
    path: /github
    dedupe:
      headers: [ X-GitHub-Delivery ]
error_handling:
  strict: true
pipeline:
  processors:
    - webhook_signature:
        preset: github
        secrets: [ "${GITHUB_WEBHOOK_SECRET}" ]
output:
  danube:
    url: http://127.0.0.1:6650
    topic: /default/github
`).
		Example("Mapping failures to statuses", "Without strict mode: a failed signature ends as 401, a schema failure as 422, and nothing is published.", `
input:
  webhook_server:
    path: /shopify/orders
    dedupe:
      headers: [ X-Shopify-Webhook-Id ]
pipeline:
  processors:
    - webhook_signature:
        preset: shopify
        secrets: [ "${SHOPIFY_CLIENT_SECRET}" ]
    - catch:
        - mapping: 'meta webhook_status = "401"'
        - sync_response: {}
        - mapping: root = deleted()
    - json_schema:
        schema_path: file://./orders.schema.json
    - catch:
        - mapping: 'meta webhook_status = "422"'
        - sync_response: {}
        - mapping: root = deleted()
output:
  danube:
    url: http://127.0.0.1:6650
    topic: /default/orders
`)
}

func init() {
	service.MustRegisterInput("webhook_server", webhookServerInputSpec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (service.Input, error) {
			c, err := wsiConfigFromParsed(conf)
			if err != nil {
				return nil, err
			}
			return newWebhookServerInput(c, mgr)
		})
}

type wsiEndpointConfig struct {
	ingress   ingress.EndpointConfig
	rateLimit string
}

type wsiConfig struct {
	address     string
	server      ingress.ServerConfig
	endpoints   []wsiEndpointConfig
	timeout     time.Duration
	syncStatus  *service.InterpolatedString
	syncHeaders map[string]*service.InterpolatedString
	dedupeHdrs  []string
	dedupeID    *service.InterpolatedString
	dedupeCache string
	dedupeTTL   time.Duration
	dedupeMax   int
}

func wsiConfigFromParsed(pConf *service.ParsedConfig) (conf wsiConfig, err error) {
	if conf.address, err = pConf.FieldString(wsiFieldAddress); err != nil {
		return
	}
	if conf.address == "" {
		err = fmt.Errorf("field %v must not be empty", wsiFieldAddress)
		return
	}
	if conf.timeout, err = pConf.FieldDuration(wsiFieldTimeout); err != nil {
		return
	}
	s := &conf.server
	if s.ReadHeaderTimeout, err = pConf.FieldDuration(wsiFieldReadHeaderTimeout); err != nil {
		return
	}
	if s.ReadTimeout, err = pConf.FieldDuration(wsiFieldReadTimeout); err != nil {
		return
	}
	if s.WriteTimeout, err = pConf.FieldDuration(wsiFieldWriteTimeout); err != nil {
		return
	}
	if s.IdleTimeout, err = pConf.FieldDuration(wsiFieldIdleTimeout); err != nil {
		return
	}
	if s.MaxHeaderBytes, err = pConf.FieldInt(wsiFieldMaxHeaderBytes); err != nil {
		return
	}
	if s.CertFile, err = pConf.FieldString(wsiFieldCertFile); err != nil {
		return
	}
	if s.KeyFile, err = pConf.FieldString(wsiFieldKeyFile); err != nil {
		return
	}
	if s.WriteTimeout > 0 && s.WriteTimeout <= conf.timeout {
		err = fmt.Errorf("field %v (%v) must exceed field %v (%v), or acknowledged requests could not be answered", wsiFieldWriteTimeout, s.WriteTimeout, wsiFieldTimeout, conf.timeout)
		return
	}

	// Input-level defaults that endpoints may override.
	var base wsiEndpointConfig
	if base.ingress.AllowedMethods, err = pConf.FieldStringList(wsiFieldAllowedMethods); err != nil {
		return
	}
	if base.ingress.AllowedContentTypes, err = pConf.FieldStringList(wsiFieldAllowedContentTypes); err != nil {
		return
	}
	var maxBody int
	if maxBody, err = pConf.FieldInt(wsiFieldMaxBodyBytes); err != nil {
		return
	}
	if maxBody <= 0 {
		err = fmt.Errorf("field %v must be positive", wsiFieldMaxBodyBytes)
		return
	}
	base.ingress.MaxBodyBytes = int64(maxBody)
	if base.ingress.ValidateJSON, err = pConf.FieldBool(wsiFieldValidateJSON); err != nil {
		return
	}
	if base.rateLimit, err = pConf.FieldString(wsiFieldRateLimit); err != nil {
		return
	}
	var proxies []string
	if proxies, err = pConf.FieldStringList(wsiFieldTrustedProxies); err != nil {
		return
	}
	if base.ingress.TrustedProxies, err = ingress.ParseProxyList(proxies); err != nil {
		err = fmt.Errorf("field %v: %w", wsiFieldTrustedProxies, err)
		return
	}
	if base.ingress.PublicURL, err = pConf.FieldString(wsiFieldPublicURL); err != nil {
		return
	}

	var path string
	if path, err = pConf.FieldString(wsiFieldPath); err != nil {
		return
	}
	var epConfs []*service.ParsedConfig
	if epConfs, err = pConf.FieldObjectList(wsiFieldEndpoints); err != nil {
		return
	}
	switch {
	case path != "" && len(epConfs) > 0:
		err = fmt.Errorf("only one of fields %v and %v may be set", wsiFieldPath, wsiFieldEndpoints)
		return
	case path == "" && len(epConfs) == 0:
		err = fmt.Errorf("one of fields %v and %v must be set", wsiFieldPath, wsiFieldEndpoints)
		return
	case path != "":
		ep := base
		ep.ingress.Path = path
		conf.endpoints = append(conf.endpoints, ep)
	}
	seen := map[string]bool{}
	for i, ec := range epConfs {
		ep := base
		if ep.ingress.Path, err = ec.FieldString(wsiFieldPath); err != nil {
			return
		}
		if ep.ingress.Name, err = ec.FieldString(wsiFieldEndpointName); err != nil {
			return
		}
		if ec.Contains(wsiFieldAllowedMethods) {
			if ep.ingress.AllowedMethods, err = ec.FieldStringList(wsiFieldAllowedMethods); err != nil {
				return
			}
		}
		if ec.Contains(wsiFieldAllowedContentTypes) {
			if ep.ingress.AllowedContentTypes, err = ec.FieldStringList(wsiFieldAllowedContentTypes); err != nil {
				return
			}
		}
		if ec.Contains(wsiFieldMaxBodyBytes) {
			var n int
			if n, err = ec.FieldInt(wsiFieldMaxBodyBytes); err != nil {
				return
			}
			if n <= 0 {
				err = fmt.Errorf("endpoint %d (%v): field %v must be positive", i, ep.ingress.Path, wsiFieldMaxBodyBytes)
				return
			}
			ep.ingress.MaxBodyBytes = int64(n)
		}
		if ec.Contains(wsiFieldRateLimit) {
			if ep.rateLimit, err = ec.FieldString(wsiFieldRateLimit); err != nil {
				return
			}
		}
		if seen[ep.ingress.Path] {
			err = fmt.Errorf("endpoint %d: path %v is listed twice", i, ep.ingress.Path)
			return
		}
		seen[ep.ingress.Path] = true
		conf.endpoints = append(conf.endpoints, ep)
	}
	for i := range conf.endpoints {
		// Copy the slices: endpoints must not share backing arrays that
		// NewEndpoint normalises in place.
		ep := &conf.endpoints[i].ingress
		ep.AllowedMethods = append([]string(nil), ep.AllowedMethods...)
		ep.AllowedContentTypes = append([]string(nil), ep.AllowedContentTypes...)
		if ep.Name == "" {
			ep.Name = ep.Path
		}
	}

	syncConf := pConf.Namespace(wsiFieldSyncResponse)
	if conf.syncStatus, err = syncConf.FieldInterpolatedString(wsiFieldSyncStatus); err != nil {
		return
	}
	if conf.syncHeaders, err = syncConf.FieldInterpolatedStringMap(wsiFieldSyncHeaders); err != nil {
		return
	}

	dd := pConf.Namespace(wsiFieldDedupe)
	var rawID string
	if rawID, err = dd.FieldString(wsiFieldDedupeID); err != nil {
		return
	}
	if rawID != "" {
		if conf.dedupeID, err = dd.FieldInterpolatedString(wsiFieldDedupeID); err != nil {
			return
		}
	}
	if conf.dedupeHdrs, err = dd.FieldStringList(wsiFieldDedupeHeaders); err != nil {
		return
	}
	if rawID != "" && len(conf.dedupeHdrs) > 0 {
		err = fmt.Errorf("only one of fields %v.%v and %v.%v may be set", wsiFieldDedupe, wsiFieldDedupeID, wsiFieldDedupe, wsiFieldDedupeHeaders)
		return
	}
	if conf.dedupeCache, err = dd.FieldString(wsiFieldDedupeCache); err != nil {
		return
	}
	if conf.dedupeTTL, err = dd.FieldDuration(wsiFieldDedupeTTL); err != nil {
		return
	}
	if conf.dedupeMax, err = dd.FieldInt(wsiFieldDedupeMaxEntries); err != nil {
		return
	}
	return
}

// pendingRequest is one request waiting for the pipeline.
type pendingRequest struct {
	msg    *service.Message
	ack    service.AckFunc
	result chan ingress.Response // buffered: the ack never blocks
}

type webhookServerInput struct {
	conf wsiConfig
	mgr  *service.Resources
	log  *service.Logger

	pending chan *pendingRequest
	closing chan struct{}

	dedup  *ingress.MemoryDedup
	claims *ingress.Claims

	mRequests *service.MetricCounter
	mRejected *service.MetricCounter
	mBytes    *service.MetricCounter
	mLatency  *service.MetricTimer

	connMu    sync.Mutex
	server    *ingress.Server
	paths     []string
	closeOnce sync.Once
	closeErr  error
}

func newWebhookServerInput(conf wsiConfig, mgr *service.Resources) (*webhookServerInput, error) {
	for _, ep := range conf.endpoints {
		if ep.rateLimit != "" && !mgr.HasRateLimit(ep.rateLimit) {
			return nil, fmt.Errorf("rate limit resource %v (endpoint %v) does not exist", ep.rateLimit, ep.ingress.Name)
		}
	}
	if conf.dedupeEnabled() && conf.dedupeCache != "" && !mgr.HasCache(conf.dedupeCache) {
		return nil, fmt.Errorf("cache resource %v (field %v.%v) does not exist", conf.dedupeCache, wsiFieldDedupe, wsiFieldDedupeCache)
	}
	m := mgr.Metrics()
	w := &webhookServerInput{
		conf: conf,
		mgr:  mgr,
		log:  mgr.Logger(),
		// Buffered so that a busy server hands requests over without a
		// rendezvous per request; each still waits for its own ack.
		pending:   make(chan *pendingRequest, 64),
		closing:   make(chan struct{}),
		claims:    ingress.NewClaims(),
		mRequests: m.NewCounter("webhook_server_requests", "endpoint", "status"),
		mRejected: m.NewCounter("webhook_server_rejected", "endpoint", "reason"),
		mBytes:    m.NewCounter("webhook_server_received_bytes", "endpoint"),
		mLatency:  m.NewTimer("webhook_server_latency_ns", "endpoint"),
	}
	if conf.dedupeEnabled() && conf.dedupeCache == "" {
		w.dedup = ingress.NewMemoryDedup(conf.dedupeTTL, conf.dedupeMax)
	}
	return w, nil
}

// Connect binds the endpoints on the (possibly shared) listener.
func (w *webhookServerInput) Connect(ctx context.Context) error {
	w.connMu.Lock()
	defer w.connMu.Unlock()
	select {
	case <-w.closing:
		return service.ErrEndOfInput
	default:
	}
	if w.server != nil {
		return nil
	}
	srv, err := ingress.Acquire(w.conf.address, w.conf.server)
	if err != nil {
		return err
	}
	var paths []string
	for _, ep := range w.conf.endpoints {
		ep := ep
		h, err := ingress.NewEndpoint(ep.ingress, func(ctx context.Context, req *ingress.Request) ingress.Response {
			return w.deliver(ctx, ep.rateLimit, req)
		}, w)
		if err == nil {
			err = srv.Handle(ep.ingress.Path, h)
		}
		if err != nil {
			for _, p := range paths {
				srv.Remove(p)
			}
			_ = srv.Release(ctx)
			return fmt.Errorf("registering endpoint %v: %w", ep.ingress.Name, err)
		}
		paths = append(paths, ep.ingress.Path)
	}
	w.server, w.paths = srv, paths
	w.log.Infof("Receiving webhooks at %v on %v", strings.Join(paths, ", "), srv.Addr())
	return nil
}

// Observe implements ingress.Observer.
func (w *webhookServerInput) Observe(endpoint string, status int, reason string, bodyBytes int, latency time.Duration) {
	w.mRequests.Incr(1, endpoint, statusLabel(status))
	if status >= 300 && reason != "" {
		w.mRejected.Incr(1, endpoint, reason)
	}
	if bodyBytes > 0 {
		w.mBytes.Incr(int64(bodyBytes), endpoint)
	}
	w.mLatency.Timing(latency.Nanoseconds(), endpoint)
}

func (w *webhookServerInput) Read(ctx context.Context) (*service.Message, service.AckFunc, error) {
	// Under load a request is usually waiting already: take it without the
	// cost of a three-way select.
	select {
	case p := <-w.pending:
		return w.handOver(p)
	default:
	}
	select {
	case p := <-w.pending:
		return w.handOver(p)
	case <-w.closing:
		return nil, nil, service.ErrEndOfInput
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
}

func (w *webhookServerInput) handOver(p *pendingRequest) (*service.Message, service.AckFunc, error) {
	select {
	case <-w.closing:
		// Its sender was answered 503 by Close; do not publish it.
		return nil, nil, service.ErrEndOfInput
	default:
	}
	return p.msg, p.ack, nil
}

func (w *webhookServerInput) Close(ctx context.Context) error {
	w.closeOnce.Do(func() {
		close(w.closing)
		w.connMu.Lock()
		srv, paths := w.server, w.paths
		w.server, w.paths = nil, nil
		w.connMu.Unlock()
		if srv == nil {
			return
		}
		for _, p := range paths {
			srv.Remove(p)
		}
		w.closeErr = srv.Release(ctx)
	})
	return w.closeErr
}

// statusLabels holds the metric label of every HTTP status, so that counting
// a request does not format (and allocate) its status each time.
var statusLabels = func() (l [600]string) {
	for i := range l {
		l[i] = strconv.Itoa(i)
	}
	return
}()

func statusLabel(status int) string {
	if status >= 0 && status < len(statusLabels) {
		return statusLabels[status]
	}
	return strconv.Itoa(status)
}

// statusCarrier is implemented by processor errors that know which HTTP
// status the sender should get (e.g. 401 for a failed signature).
type statusCarrier interface {
	WebhookStatus() int
}

func (w *webhookServerInput) deliver(ctx context.Context, rateLimit string, req *ingress.Request) ingress.Response {
	select {
	case <-w.closing:
		return ingress.Response{Status: http.StatusServiceUnavailable, Reason: "shutting_down"}
	default:
	}

	if rateLimit != "" {
		var wait time.Duration
		var rlErr error
		if err := w.mgr.AccessRateLimit(ctx, rateLimit, func(rl service.RateLimit) {
			wait, rlErr = rl.Access(ctx)
		}); err != nil || rlErr != nil {
			w.log.Errorf("Accessing rate limit %v: %v", rateLimit, errors.Join(err, rlErr))
			return ingress.Response{Status: http.StatusServiceUnavailable, Reason: "rate_limit_error"}
		}
		if wait > 0 {
			return ingress.Response{Status: http.StatusTooManyRequests, Reason: "rate_limited", RetryAfter: wait}
		}
	}

	msg := newWebhookMessage(req)

	var dedupKey string
	release := func() {}
	if id := w.deliveryID(req, msg); id != "" {
		dedupKey = req.Endpoint + "\x00" + id
		if w.dedupSeen(ctx, dedupKey) {
			return ingress.Response{Status: http.StatusOK, Reason: "duplicate"}
		}
		if !w.claims.TryClaim(dedupKey) {
			return ingress.Response{Status: http.StatusServiceUnavailable, Reason: "duplicate_in_flight"}
		}
		var once sync.Once
		release = func() { once.Do(func() { w.claims.Release(dedupKey) }) }
	}

	msg, store := msg.WithSyncResponseStore()
	p := &pendingRequest{msg: msg, result: make(chan ingress.Response, 1)}
	// The ack decides the outcome even when it comes after the sender was
	// told 503: a late success is still recorded for de-duplication, and
	// the claim on the id is held until then so that a retry cannot be
	// published alongside the original.
	p.ack = func(_ context.Context, err error) error {
		res := w.outcome(req, err, store)
		if dedupKey != "" {
			if res.Status >= 200 && res.Status <= 299 {
				w.dedupRecord(context.Background(), dedupKey)
			}
			release()
		}
		p.result <- res
		return nil
	}
	timer := time.NewTimer(w.conf.timeout)
	defer timer.Stop()

	// Usually the hand-over buffer has room; skip the four-way select then.
	select {
	case w.pending <- p:
	default:
		select {
		case w.pending <- p:
		case <-timer.C:
			release()
			return ingress.Response{Status: http.StatusServiceUnavailable, Reason: "pipeline_timeout"}
		case <-ctx.Done():
			release()
			return ingress.Response{Status: http.StatusServiceUnavailable, Reason: "client_gone"}
		case <-w.closing:
			release()
			return ingress.Response{Status: http.StatusServiceUnavailable, Reason: "shutting_down"}
		}
	}

	select {
	case res := <-p.result:
		return res
	case <-timer.C:
		return ingress.Response{Status: http.StatusServiceUnavailable, Reason: "ack_timeout"}
	case <-ctx.Done():
		return ingress.Response{Status: http.StatusServiceUnavailable, Reason: "client_gone"}
	case <-w.closing:
		return ingress.Response{Status: http.StatusServiceUnavailable, Reason: "shutting_down"}
	}
}

// outcome maps the output's acknowledgement to the sender's response.
func (w *webhookServerInput) outcome(req *ingress.Request, ackErr error, store *service.SyncResponseStore) ingress.Response {
	if ackErr != nil {
		if s := rejectStatus(ackErr); s != 0 {
			return ingress.Response{Status: s, Reason: "rejected_" + strconv.Itoa(s)}
		}
		w.log.Warnf("Request %v on %v not delivered: %v", req.RequestID, req.Endpoint, ackErr)
		return ingress.Response{Status: http.StatusServiceUnavailable, Reason: "output_error"}
	}
	return w.syncResponse(store)
}

func (c *wsiConfig) dedupeEnabled() bool {
	return c.dedupeID != nil || len(c.dedupeHdrs) > 0
}

// deliveryID is the de-duplication id of the request, "" for none.
func (w *webhookServerInput) deliveryID(req *ingress.Request, msg *service.Message) string {
	for _, h := range w.conf.dedupeHdrs {
		if v := req.Header.Get(h); v != "" {
			return v
		}
	}
	if w.conf.dedupeID == nil {
		return ""
	}
	id, err := w.conf.dedupeID.TryString(msg)
	if err != nil {
		w.log.Debugf("Evaluating dedupe id for request %v: %v", req.RequestID, err)
		return ""
	}
	if id == "null" {
		// What a missing metadata key interpolates to.
		return ""
	}
	return id
}

// rejectStatus maps a nack caused by a failed processing step to the 4xx the
// sender should get, or 0 when the nack means the event could not be
// delivered (answered 503).
func rejectStatus(err error) int {
	var sc statusCarrier
	if errors.As(err, &sc) {
		if s := sc.WebhookStatus(); s >= 400 && s <= 499 && s != http.StatusRequestTimeout && s != http.StatusTooManyRequests {
			return s
		}
	}
	return 0
}

func (w *webhookServerInput) syncResponse(store *service.SyncResponseStore) ingress.Response {
	batches := store.Read()
	if len(batches) == 0 || len(batches[0]) == 0 {
		return ingress.Response{Status: http.StatusOK}
	}
	resMsg := batches[0][0]
	statusStr, err := w.conf.syncStatus.TryString(resMsg)
	if err != nil {
		w.log.Errorf("Evaluating %v.%v: %v", wsiFieldSyncResponse, wsiFieldSyncStatus, err)
		return ingress.Response{Status: http.StatusInternalServerError, Reason: "sync_response_status"}
	}
	status, err := strconv.Atoi(strings.TrimSpace(statusStr))
	if err != nil || status < 200 || status > 599 {
		w.log.Errorf("Field %v.%v gave %q, not an HTTP status", wsiFieldSyncResponse, wsiFieldSyncStatus, statusStr)
		return ingress.Response{Status: http.StatusInternalServerError, Reason: "sync_response_status"}
	}
	res := ingress.Response{Status: status, Header: http.Header{}}
	if status >= 300 {
		res.Reason = "sync_response_" + strconv.Itoa(status)
		return res
	}
	for k, is := range w.conf.syncHeaders {
		v, err := is.TryString(resMsg)
		if err != nil {
			w.log.Errorf("Evaluating %v.%v %v: %v", wsiFieldSyncResponse, wsiFieldSyncHeaders, k, err)
			continue
		}
		res.Header.Set(k, v)
	}
	if res.Body, err = resMsg.AsBytes(); err != nil || res.Body == nil {
		res.Body = []byte{}
	}
	return res
}

func (w *webhookServerInput) dedupSeen(ctx context.Context, key string) bool {
	if w.dedup != nil {
		return w.dedup.Seen(key)
	}
	var seen bool
	var getErr error
	if err := w.mgr.AccessCache(ctx, w.conf.dedupeCache, func(c service.Cache) {
		_, getErr = c.Get(ctx, key)
	}); err != nil {
		getErr = err
	}
	switch {
	case getErr == nil:
		seen = true
	case errors.Is(getErr, service.ErrKeyNotFound):
	default:
		// Fail open: publishing a possible duplicate keeps at-least-once.
		w.log.Warnf("Reading dedupe cache %v: %v", w.conf.dedupeCache, getErr)
	}
	return seen
}

func (w *webhookServerInput) dedupRecord(ctx context.Context, key string) {
	if w.dedup != nil {
		w.dedup.Record(key)
		return
	}
	ttl := w.conf.dedupeTTL
	var setErr error
	if err := w.mgr.AccessCache(ctx, w.conf.dedupeCache, func(c service.Cache) {
		setErr = c.Set(ctx, key, []byte{1}, &ttl)
	}); err != nil {
		setErr = err
	}
	if setErr != nil {
		w.log.Warnf("Writing dedupe cache %v: %v", w.conf.dedupeCache, setErr)
	}
}

// newWebhookMessage builds the message: the raw body, every header under its
// canonical name (repeated values joined with "\n"), then the webhook_* keys.
// Query parameters and cookies are deliberately not copied.
func newWebhookMessage(req *ingress.Request) *service.Message {
	msg := service.NewMessage(req.Body)
	for k, vs := range req.Header {
		if len(vs) == 1 {
			msg.MetaSet(k, vs[0])
		} else {
			msg.MetaSet(k, strings.Join(vs, "\n"))
		}
	}
	msg.MetaSet(wsiMetaURL, req.URL)
	msg.MetaSet(wsiMetaQuery, req.RawQuery)
	msg.MetaSet(wsiMetaPath, req.Path)
	msg.MetaSet(wsiMetaMethod, req.Method)
	msg.MetaSet(wsiMetaRemoteIP, req.RemoteIP)
	msg.MetaSet(wsiMetaRequestID, req.RequestID)
	var ts [len(time.RFC3339Nano) + 8]byte
	msg.MetaSet(wsiMetaReceivedAt, string(req.ReceivedAt.UTC().AppendFormat(ts[:0], time.RFC3339Nano)))
	msg.MetaSet(wsiMetaEndpoint, req.Endpoint)
	msg.MetaSet(wsiMetaContentType, req.ContentType)
	return msg
}
