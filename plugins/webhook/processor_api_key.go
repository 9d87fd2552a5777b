package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/danube-connect/danube-connect/plugins/webhook/verify"
)

const (
	akpFieldKeys       = "keys"
	akpFieldKeyName    = "name"
	akpFieldKeyValue   = "key"
	akpFieldHeader     = "header"
	akpFieldBearer     = "bearer"
	akpFieldQueryParam = "query_param"
	akpMetaName        = "api_key_name"
)

func apiKeyProcessorSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Utility").
		Summary("Authenticates a request by an API key from a header, an `Authorization: Bearer` header or a query parameter.").
		Description(`
The presented key is looked for in this order: the `+"`header`"+` (default `+"`X-Api-Key`"+`), `+"`Authorization: Bearer <key>`"+`
when `+"`bearer`"+` is true, and the `+"`query_param`"+` of the `+"`webhook_query`"+` metadata set by `+"`webhook_server`"+`; the
first one present is used. It is compared with every configured key in constant time, without an early exit, so timing
reveals neither which key matched nor the keys' lengths. Failed messages keep flowing marked with an error
(`+"`api key: invalid credential`"+`) that never contains the key; `+"`webhook_server`"+` answers them with 401.

Keys in query strings end up in access logs and browser histories; prefer headers.

== Metadata

- api_key_name: the name of the matching key (removed from every message first, so a request cannot pre-set it)

This processor is safe to run on several pipeline threads; it does not change delivery guarantees.
`+vcHTTPServerCaveat).
		Fields(
			service.NewObjectListField(akpFieldKeys,
				service.NewStringField(akpFieldKeyName).Description("A name for the key, copied to `api_key_name`."),
				service.NewStringField(akpFieldKeyValue).Description("The key.").Secret(),
			).Description("Accepted keys."),
			service.NewStringField(akpFieldHeader).
				Description("Header carrying the key; empty disables it.").
				Default("X-Api-Key"),
			service.NewBoolField(akpFieldBearer).
				Description("Also accept `Authorization: Bearer <key>`.").
				Default(true),
			service.NewStringField(akpFieldQueryParam).
				Description("Query parameter carrying the key (read from the `webhook_query` metadata); empty disables it.").
				Default("").
				Advanced(),
		).
		LintRule(`root = if this.keys.or([]).length() == 0 { [ "keys must not be empty" ] }`).
		Example("Partner keys", "Two partners with their own keys; the name goes downstream.", `
pipeline:
  processors:
    - api_key:
        keys:
          - name: acme
            key: "${ACME_API_KEY}"
          - name: globex
            key: "${GLOBEX_API_KEY}"
`)
}

func init() {
	service.MustRegisterProcessor("api_key", apiKeyProcessorSpec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (service.Processor, error) {
			pConf, err := akpConfigFromParsed(conf)
			if err != nil {
				return nil, err
			}
			return newAPIKeyProcessor(pConf, mgr)
		})
}

type akpConfig struct {
	keys       []verify.APIKey
	header     string
	bearer     bool
	queryParam string
}

func akpConfigFromParsed(pConf *service.ParsedConfig) (conf akpConfig, err error) {
	var objs []*service.ParsedConfig
	if objs, err = pConf.FieldObjectList(akpFieldKeys); err != nil {
		return
	}
	for i, o := range objs {
		var k verify.APIKey
		if k.Name, err = o.FieldString(akpFieldKeyName); err != nil {
			return
		}
		if k.Key, err = o.FieldString(akpFieldKeyValue); err != nil {
			err = fmt.Errorf("%s[%d]: %w", akpFieldKeys, i, err)
			return
		}
		conf.keys = append(conf.keys, k)
	}
	if conf.header, err = pConf.FieldString(akpFieldHeader); err != nil {
		return
	}
	if conf.bearer, err = pConf.FieldBool(akpFieldBearer); err != nil {
		return
	}
	if conf.queryParam, err = pConf.FieldString(akpFieldQueryParam); err != nil {
		return
	}
	if conf.header == "" && !conf.bearer && conf.queryParam == "" {
		err = fmt.Errorf("one of %s, %s or %s must be enabled", akpFieldHeader, akpFieldBearer, akpFieldQueryParam)
	}
	return
}

type apiKeyProcessor struct {
	keys       *verify.APIKeySet
	header     string
	bearer     bool
	queryParam string
	log        *service.Logger

	mVerified *service.MetricCounter
	mRejected *service.MetricCounter
}

func newAPIKeyProcessor(conf akpConfig, mgr *service.Resources) (*apiKeyProcessor, error) {
	keys, err := verify.NewAPIKeySet(conf.keys)
	if err != nil {
		return nil, fmt.Errorf("field %s: %w", akpFieldKeys, err)
	}
	m := mgr.Metrics()
	return &apiKeyProcessor{
		keys:       keys,
		header:     canonicalHeader(conf.header),
		bearer:     conf.bearer,
		queryParam: conf.queryParam,
		log:        mgr.Logger(),
		mVerified:  m.NewCounter("api_key_verified"),
		mRejected:  m.NewCounter("api_key_rejected"),
	}, nil
}

var errAPIKeyAmbiguousQuery = errors.New("query parameter given more than once")

// presented finds the credential; the bool is false when none was sent.
func (p *apiKeyProcessor) presented(msg *service.Message) (string, bool, error) {
	headers := vcMetadataHeaders(msg)
	single := func(name, v string) (string, bool, error) {
		if strings.ContainsAny(v, "\r\n") {
			return "", false, fmt.Errorf("%w: %s", verify.ErrDuplicateHeader, name)
		}
		return v, true, nil
	}
	if p.header != "" {
		if v, ok := headers(p.header); ok && v != "" {
			return single(p.header, v)
		}
	}
	if p.bearer {
		if v, ok := headers("Authorization"); ok && v != "" {
			if scheme, tok, found := strings.Cut(v, " "); found && strings.EqualFold(scheme, "Bearer") {
				return single("Authorization", strings.TrimSpace(tok))
			}
		}
	}
	if p.queryParam != "" {
		if q, ok := msg.MetaGet(vcMetaQuery); ok && q != "" {
			values, err := url.ParseQuery(q)
			if err == nil {
				switch vs := values[p.queryParam]; {
				case len(vs) > 1:
					return "", false, errAPIKeyAmbiguousQuery
				case len(vs) == 1 && vs[0] != "":
					return vs[0], true, nil
				}
			}
		}
	}
	return "", false, nil
}

func (p *apiKeyProcessor) Process(_ context.Context, msg *service.Message) (service.MessageBatch, error) {
	msg.MetaDelete(akpMetaName)
	key, found, err := p.presented(msg)
	switch {
	case err != nil:
	case !found:
		err = verify.ErrMissingCredential
	default:
		if name, ok := p.keys.Match(key); ok {
			p.mVerified.Incr(1)
			msg.MetaSetMut(akpMetaName, name)
			return service.MessageBatch{msg}, nil
		}
		err = verify.ErrInvalidCredential
	}
	p.mRejected.Incr(1)
	p.log.Debugf("Rejected API key: %v", err)
	return nil, vcReject(fmt.Errorf("api key: %w", err))
}

func (p *apiKeyProcessor) Close(context.Context) error { return nil }
