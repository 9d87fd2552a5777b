package webhook

import (
	"context"
	"fmt"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/danube-connect/danube-connect/plugins/webhook/verify"
)

const (
	wspFieldPreset              = "preset"
	wspFieldSecrets             = "secrets"
	wspFieldPublicKeys          = "public_keys"
	wspFieldTolerance           = "tolerance"
	wspFieldURL                 = "url"
	wspFieldGeneric             = "generic"
	wspFieldGenericHeader       = "header"
	wspFieldGenericAlgorithm    = "algorithm"
	wspFieldGenericEncoding     = "encoding"
	wspFieldGenericPrefix       = "prefix"
	wspFieldGenericSigned       = "signed_template"
	wspFieldGenericTimestampHdr = "timestamp_header"
	wspFieldGenericIDHeader     = "id_header"
	wspMetaProvider             = "webhook_provider"
	wspMetaID                   = "webhook_id"
	wspMetaVerified             = "webhook_verified"
)

func webhookSignatureProcessorSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Utility").
		Summary("Verifies the signature of a webhook request (GitHub, Stripe, Shopify, Slack, Standard Webhooks/Svix/Clerk, Twilio, GitLab, Linear, Paddle, Zoom or a generic HMAC scheme) over the raw body.").
		Description(`
Place this processor first in the pipeline: it verifies the raw message bytes as received, before anything parses or
changes them. Messages that fail verification keep flowing marked with an error such as
`+"`webhook signature: timestamp outside tolerance`"+` (handle it with `+"`catch`"+`, or let `+"`webhook_server`"+` answer 401);
the error never contains secrets or expected signatures. Comparisons are constant-time, signatures are decoded strictly
and must have the digest's length, several signatures per header and several `+"`secrets`"+` (rotation) are accepted,
unknown signature versions are ignored (never downgraded), and signed timestamps must be plain integers within
`+"`tolerance`"+` in both directions.

== Presets

|===
| preset | headers | signed content | key | replay window

| github | X-Hub-Signature-256: sha256=hex | body | secret | none (dedup on X-GitHub-Delivery)
| stripe | Stripe-Signature: t=,v1=,v1= | t.body | whole whsec_ string | 300s
| shopify | X-Shopify-Hmac-Sha256: base64 | body | client secret | none (dedup on X-Shopify-Webhook-Id)
| slack | X-Slack-Signature: v0=hex, X-Slack-Request-Timestamp | v0:ts:body | signing secret | 5m
| standard_webhooks, svix, clerk | webhook-id/-timestamp/-signature (or svix-*): v1,base64 / v1a,base64 | id.ts.body | whsec_ base64 secrets (v1), whpk_ Ed25519 public keys (v1a) | 5m
| twilio | X-Twilio-Signature: base64 HMAC-SHA1 (SHA-256 accepted) | URL + sorted form params, or URL with bodySHA256 for JSON | auth token | none
| gitlab | X-Gitlab-Token (plain token, constant-time) | - | token | none (use standard_webhooks for GitLab signing tokens)
| linear | Linear-Signature: hex | body, plus webhookTimestamp (ms) in the body | secret | 60s
| paddle | Paddle-Signature: ts=;h1=;h1= | ts:body | whole pdl_ntfset_ string | 5s
| zoom | X-Zm-Signature: v0=hex, X-Zm-Request-Timestamp | v0:ts:body | secret token | 5m
| generic | configurable | configurable | secret | configurable
|===

Twilio signs the public URL: it is taken from the `+"`url`"+` field, else from the `+"`webhook_url`"+` metadata that
`+"`webhook_server`"+` sets. With `+"`http_server`"+` set `+"`url`"+` to the public URL.

Challenge requests are ordinary signed messages: answer Slack's `+"`url_verification`"+` with a `+"`sync_response`"+` of
`+"`this.challenge`"+` and Zoom's `+"`endpoint.url_validation`"+` with
`+"`{\"plainToken\": this.payload.plainToken, \"encryptedToken\": this.payload.plainToken.hash(\"hmac_sha256\", env(\"ZOOM_SECRET\")).encode(\"hex\")}`"+`
(both after this processor). Replay protection for schemes without a signed timestamp needs de-duplication on
`+"`webhook_id`"+` (see `+"`webhook_server`"+`'s `+"`dedupe`"+`).

== Metadata

On success:

- webhook_provider: the preset name
- webhook_id: the delivery id where the scheme has one: a header for GitHub (X-GitHub-Delivery), Shopify
  (X-Shopify-Webhook-Id), Standard Webhooks/Svix/Clerk (webhook-id), GitLab (Idempotency-Key), Linear (Linear-Delivery)
  and generic (`+"`id_header`"+`); the verified JSON body's top-level `+"`id`"+` for Stripe, `+"`notification_id`"+` for Paddle and
  `+"`event_id`"+` for Slack Events API callbacks; unset for Twilio and Zoom
- webhook_verified: `+"`true`"+`

These keys are removed from every message first, so a request cannot pre-set them (with `+"`http_server`"+` a query
parameter or cookie named `+"`webhook_verified`"+` would otherwise become metadata).

This processor is safe to run on several pipeline threads; it does not change delivery guarantees.
`+vcHTTPServerCaveat).
		Fields(
			service.NewStringEnumField(wspFieldPreset, verify.Presets...).
				Description("The provider's signature scheme."),
			service.NewStringListField(wspFieldSecrets).
				Description("Active signing secrets; a request signed with any of them is accepted (rotation). Required except for Standard Webhooks with only `public_keys`.").
				Secret().
				Optional().
				Example([]string{"${GITHUB_WEBHOOK_SECRET}"}),
			service.NewStringListField(wspFieldPublicKeys).
				Description("Trusted Ed25519 public keys (`whpk_` + base64) for Standard Webhooks `v1a` signatures.").
				Optional().
				Advanced(),
			service.NewDurationField(wspFieldTolerance).
				Description("Maximum distance between the signed timestamp and now, in both directions. Defaults per preset: stripe 300s, slack/standard_webhooks/zoom/generic 5m, linear 60s, paddle 5s.").
				Optional().
				Advanced(),
			service.NewInterpolatedStringField(wspFieldURL).
				Description("The public URL the sender posted to (twilio only). Defaults to the `webhook_url` metadata of `webhook_server`.").
				Optional().
				Example(`https://hooks.example.com/twilio${! @http_server_request_path.or("") }`),
			service.NewObjectField(wspFieldGeneric,
				service.NewStringField(wspFieldGenericHeader).
					Description("The header carrying the signature.").
					Default(""),
				service.NewStringEnumField(wspFieldGenericAlgorithm, "sha1", "sha256", "sha512").
					Description("HMAC hash.").
					Default("sha256"),
				service.NewStringEnumField(wspFieldGenericEncoding, "hex", "base64").
					Description("Signature encoding.").
					Default("hex"),
				service.NewStringField(wspFieldGenericPrefix).
					Description("Text before the encoded signature in the header.").
					Default("").
					Example("sha256="),
				service.NewStringField(wspFieldGenericSigned).
					Description("What is signed: `{body}` exactly once, optionally with `{timestamp}`, `{id}` and literal text.").
					Default("{body}").
					Examples("{timestamp}.{body}", "{id}.{timestamp}.{body}"),
				service.NewStringField(wspFieldGenericTimestampHdr).
					Description("Header with a unix timestamp in seconds, checked against `tolerance`; required by `{timestamp}`.").
					Default(""),
				service.NewStringField(wspFieldGenericIDHeader).
					Description("Header with the delivery id (becomes `webhook_id`); required by `{id}`.").
					Default(""),
			).
				Description("The scheme of the `generic` preset.").
				Optional(),
		).
		LintRule(`root = match {
  this.preset == "generic" && this.generic.header.or("") == "" => [ "generic.header is required with preset generic" ],
  this.secrets.or([]).length() == 0 && !(["standard_webhooks", "svix", "clerk"].contains(this.preset) && this.public_keys.or([]).length() > 0) => [ "secrets are required" ],
}`).
		Example("GitHub", "Verify GitHub deliveries; failed ones are answered 401 by webhook_server.", `
pipeline:
  processors:
    - webhook_signature:
        preset: github
        secrets: [ "${GITHUB_WEBHOOK_SECRET}" ]
`).
		Example("Stripe with secret rotation", "Both the old and the new endpoint secret are accepted during a roll.", `
pipeline:
  processors:
    - webhook_signature:
        preset: stripe
        secrets: [ "${STRIPE_SECRET_NEW}", "${STRIPE_SECRET_OLD}" ]
`).
		Example("Generic HMAC", "A custom scheme: hex HMAC-SHA256 of `timestamp.body` in X-Signature with a 5 minute window.", `
pipeline:
  processors:
    - webhook_signature:
        preset: generic
        secrets: [ "${HOOK_SECRET}" ]
        generic:
          header: X-Signature
          prefix: "sha256="
          signed_template: "{timestamp}.{body}"
          timestamp_header: X-Timestamp
          id_header: X-Event-Id
`)
}

func init() {
	service.MustRegisterProcessor("webhook_signature", webhookSignatureProcessorSpec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (service.Processor, error) {
			pConf, err := wspConfigFromParsed(conf)
			if err != nil {
				return nil, err
			}
			return newWebhookSignatureProcessor(pConf, mgr)
		})
}

type wspConfig struct {
	verify verify.SignatureConfig
	url    *service.InterpolatedString
}

func wspConfigFromParsed(pConf *service.ParsedConfig) (conf wspConfig, err error) {
	if conf.verify.Preset, err = pConf.FieldString(wspFieldPreset); err != nil {
		return
	}
	if pConf.Contains(wspFieldSecrets) {
		if conf.verify.Secrets, err = pConf.FieldStringList(wspFieldSecrets); err != nil {
			return
		}
	}
	if pConf.Contains(wspFieldPublicKeys) {
		if conf.verify.PublicKeys, err = pConf.FieldStringList(wspFieldPublicKeys); err != nil {
			return
		}
	}
	if pConf.Contains(wspFieldTolerance) {
		if conf.verify.Tolerance, err = pConf.FieldDuration(wspFieldTolerance); err != nil {
			return
		}
	}
	if pConf.Contains(wspFieldURL) {
		if conf.url, err = pConf.FieldInterpolatedString(wspFieldURL); err != nil {
			return
		}
	}
	if pConf.Contains(wspFieldGeneric) {
		g := pConf.Namespace(wspFieldGeneric)
		gc := &conf.verify.Generic
		for _, f := range []struct {
			name string
			dst  *string
		}{
			{wspFieldGenericHeader, &gc.Header},
			{wspFieldGenericAlgorithm, &gc.Algorithm},
			{wspFieldGenericEncoding, &gc.Encoding},
			{wspFieldGenericPrefix, &gc.Prefix},
			{wspFieldGenericSigned, &gc.SignedTemplate},
			{wspFieldGenericTimestampHdr, &gc.TimestampHeader},
			{wspFieldGenericIDHeader, &gc.IDHeader},
		} {
			if *f.dst, err = g.FieldString(f.name); err != nil {
				return
			}
		}
	}
	return
}

type webhookSignatureProcessor struct {
	verifier *verify.SignatureVerifier
	url      *service.InterpolatedString
	now      func() time.Time
	log      *service.Logger

	mVerified *service.MetricCounter
	mRejected *service.MetricCounter
	mLatency  *service.MetricTimer
}

func newWebhookSignatureProcessor(conf wspConfig, mgr *service.Resources) (*webhookSignatureProcessor, error) {
	v, err := verify.NewSignatureVerifier(conf.verify)
	if err != nil {
		return nil, err
	}
	m := mgr.Metrics()
	return &webhookSignatureProcessor{
		verifier:  v,
		url:       conf.url,
		now:       time.Now,
		log:       mgr.Logger(),
		mVerified: m.NewCounter("webhook_signature_verified"),
		mRejected: m.NewCounter("webhook_signature_rejected"),
		mLatency:  m.NewTimer("webhook_signature_latency_ns"),
	}, nil
}

func (p *webhookSignatureProcessor) Process(_ context.Context, msg *service.Message) (service.MessageBatch, error) {
	start := time.Now()
	defer func() { p.mLatency.Timing(time.Since(start).Nanoseconds()) }()

	msg.MetaDelete(wspMetaProvider)
	msg.MetaDelete(wspMetaID)
	msg.MetaDelete(wspMetaVerified)

	body, err := msg.AsBytes()
	if err != nil {
		p.mRejected.Incr(1)
		return nil, fmt.Errorf("webhook signature: reading body: %w", err)
	}
	req := verify.Request{Body: body, Header: vcMetadataHeaders(msg)}
	if p.url != nil {
		if req.URL, err = p.url.TryString(msg); err != nil {
			p.mRejected.Incr(1)
			return nil, fmt.Errorf("webhook signature: evaluating %s: %w", wspFieldURL, err)
		}
	} else {
		req.URL, _ = msg.MetaGet(vcMetaURL)
	}
	res, err := p.verifier.Verify(req, p.now())
	if err != nil {
		p.mRejected.Incr(1)
		p.log.Debugf("Rejected %s webhook: %v", p.verifier.Provider(), err)
		return nil, vcReject(fmt.Errorf("webhook signature: %w", err))
	}
	p.mVerified.Incr(1)
	msg.MetaSetMut(wspMetaProvider, res.Provider)
	if res.ID != "" {
		msg.MetaSetMut(wspMetaID, res.ID)
	}
	msg.MetaSetMut(wspMetaVerified, "true")
	return service.MessageBatch{msg}, nil
}

func (p *webhookSignatureProcessor) Close(context.Context) error { return nil }
