package danube

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/danube-connect/danube-connect/plugins/danube/client"
)

// Fields shared by the danube input and output.
const (
	dcFieldURL                 = "url"
	dcFieldToken               = "token"
	dcFieldTLS                 = "tls"
	dcFieldTLSEnabled          = "enabled"
	dcFieldTLSCAFile           = "ca_file"
	dcFieldTLSCertFile         = "cert_file"
	dcFieldTLSKeyFile          = "key_file"
	dcFieldTLSServerName       = "server_name"
	dcFieldTLSSkipVerify       = "skip_cert_verify"
	dcFieldBackoff             = "backoff"
	dcFieldBackoffInitial      = "initial_interval"
	dcFieldBackoffMax          = "max_interval"
	dcFieldBackoffMaxRetries   = "max_retries"
	dcFieldHealthCheckInterval = "health_check_interval"
)

func dcURLField() *service.ConfigField {
	return service.NewStringField(dcFieldURL).
		Description("URL of any Danube broker of the cluster (its client port). `https://` implies TLS.").
		Example("http://127.0.0.1:6650")
}

func dcTokenField() *service.ConfigField {
	return service.NewStringField(dcFieldToken).
		Description("A JWT or API key sent as `authorization: Bearer <token>` on every RPC. Brokers in `auth.mode: tls` require it (and TLS).").
		Default("").
		Secret()
}

func dcTLSField() *service.ConfigField {
	return service.NewObjectField(dcFieldTLS,
		service.NewBoolField(dcFieldTLSEnabled).Description("Whether to connect with TLS.").Default(false),
		service.NewStringField(dcFieldTLSCAFile).Description("PEM file of the CAs to trust; the system roots when empty.").Default(""),
		service.NewStringField(dcFieldTLSCertFile).Description("PEM client certificate for mutual TLS.").Default(""),
		service.NewStringField(dcFieldTLSKeyFile).Description("PEM key of the client certificate.").Default(""),
		service.NewStringField(dcFieldTLSServerName).Description("Name to verify in the broker certificate, when it differs from the URL host.").Default(""),
		service.NewBoolField(dcFieldTLSSkipVerify).Description("Do not verify the broker certificate (testing only).").Default(false).Advanced(),
	).Description("Transport security towards the brokers.").
		LintRule(`root = if this.cert_file.or("") != "" && this.key_file.or("") == "" { "tls.key_file is required with tls.cert_file" } else if this.key_file.or("") != "" && this.cert_file.or("") == "" { "tls.cert_file is required with tls.key_file" }`)
}

func dcBackoffField() *service.ConfigField {
	return service.NewObjectField(dcFieldBackoff,
		service.NewDurationField(dcFieldBackoffInitial).Description("First wait before retrying a transient failure.").Default("100ms"),
		service.NewDurationField(dcFieldBackoffMax).Description("Longest wait between retries.").Default("5s"),
		service.NewIntField(dcFieldBackoffMaxRetries).Description("Retries of one operation (send, create, subscribe, ack) on Unavailable, DeadlineExceeded or ResourceExhausted before it fails. Waits grow exponentially with jitter.").Default(10).
			LintRule(`root = if this < 0 { "max_retries must not be negative" }`),
	).Description("Retry policy of the Danube client for transient broker failures.").Advanced()
}

func dcHealthCheckField() *service.ConfigField {
	return service.NewDurationField(dcFieldHealthCheckInterval).
		Description("How often producers and consumers ask the broker whether they are still attached; a consumer the broker closed resubscribes, a closed producer is re-created.").
		Default("5s").Advanced()
}

func dcCommonFields() []*service.ConfigField {
	return []*service.ConfigField{dcTLSField(), dcTokenField(), dcBackoffField(), dcHealthCheckField()}
}

// dcClientOptionsFromParsed reads the shared fields into client options.
func dcClientOptionsFromParsed(conf *service.ParsedConfig, log *service.Logger) (client.Options, error) {
	var o client.Options
	var err error
	if o.URL, err = conf.FieldString(dcFieldURL); err != nil {
		return o, err
	}
	if strings.TrimSpace(o.URL) == "" {
		return o, fmt.Errorf("field %s: must not be empty", dcFieldURL)
	}
	if o.Token, err = conf.FieldString(dcFieldToken); err != nil {
		return o, err
	}
	tc := conf.Namespace(dcFieldTLS)
	if o.TLS.Enabled, err = tc.FieldBool(dcFieldTLSEnabled); err != nil {
		return o, err
	}
	if o.TLS.CAFile, err = tc.FieldString(dcFieldTLSCAFile); err != nil {
		return o, err
	}
	if o.TLS.CertFile, err = tc.FieldString(dcFieldTLSCertFile); err != nil {
		return o, err
	}
	if o.TLS.KeyFile, err = tc.FieldString(dcFieldTLSKeyFile); err != nil {
		return o, err
	}
	if o.TLS.ServerName, err = tc.FieldString(dcFieldTLSServerName); err != nil {
		return o, err
	}
	if o.TLS.InsecureSkipVerify, err = tc.FieldBool(dcFieldTLSSkipVerify); err != nil {
		return o, err
	}
	if (o.TLS.CertFile == "") != (o.TLS.KeyFile == "") {
		return o, fmt.Errorf("field %s: %s and %s must be set together", dcFieldTLS, dcFieldTLSCertFile, dcFieldTLSKeyFile)
	}
	bc := conf.Namespace(dcFieldBackoff)
	if o.Backoff.Initial, err = bc.FieldDuration(dcFieldBackoffInitial); err != nil {
		return o, err
	}
	if o.Backoff.Max, err = bc.FieldDuration(dcFieldBackoffMax); err != nil {
		return o, err
	}
	if o.Backoff.MaxRetries, err = bc.FieldInt(dcFieldBackoffMaxRetries); err != nil {
		return o, err
	}
	if o.Backoff.MaxRetries < 0 {
		return o, fmt.Errorf("field %s.%s: must not be negative", dcFieldBackoff, dcFieldBackoffMaxRetries)
	}
	if o.Backoff.MaxRetries == 0 {
		o.Backoff.MaxRetries = -1 // the client reads 0 as "default"
	}
	if o.HealthCheckInterval, err = conf.FieldDuration(dcFieldHealthCheckInterval); err != nil {
		return o, err
	}
	if log != nil {
		o.Logger = slog.New(slogHandler{log: log})
	}
	return o, nil
}

// slogHandler forwards the client's structured logs to the component's
// Benthos logger, flattening attributes into "key=value" text.
type slogHandler struct {
	log   *service.Logger
	attrs []slog.Attr
}

func (h slogHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h slogHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	write := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value.Any())
		return true
	}
	for _, a := range h.attrs {
		write(a)
	}
	r.Attrs(write)
	msg := b.String()
	switch {
	case r.Level >= slog.LevelError:
		h.log.Error(msg)
	case r.Level >= slog.LevelWarn:
		h.log.Warn(msg)
	case r.Level >= slog.LevelInfo:
		h.log.Info(msg)
	default:
		h.log.Debug(msg)
	}
	return nil
}

func (h slogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h.attrs = append(slices.Clip(h.attrs), attrs...)
	return h
}

func (h slogHandler) WithGroup(string) slog.Handler { return h }

// dcConnectionTest checks that the broker is reachable with the configured
// credentials and that the given topics exist, using a throwaway client.
func dcConnectionTest(ctx context.Context, opts client.Options, topics []string) service.ConnectionTestResults {
	c, err := client.New(opts)
	if err != nil {
		return service.ConnectionTestFailed(err).AsList()
	}
	defer c.Close()
	if err := c.Ping(ctx); err != nil {
		return service.ConnectionTestFailed(fmt.Errorf("connecting to %s: %w", opts.URL, err)).AsList()
	}
	for _, t := range topics {
		if _, err := c.Partitions(ctx, t); err != nil {
			return service.ConnectionTestFailed(err).AsList()
		}
	}
	return service.ConnectionTestSucceeded().AsList()
}
