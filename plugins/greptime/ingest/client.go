// Package ingest writes row inserts to GreptimeDB over its gRPC API: its own
// connection (so TLS roots and client certificates apply, unlike the
// ingester SDK's Config), request headers, hints, compression, the check of
// the response status and affected rows, error classification, bounded
// retries and the isolation of rows the server rejects. It has no Benthos
// dependency.
package ingest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	gpb "github.com/GreptimeTeam/greptime-proto/go/greptime/v1"
	"github.com/GreptimeTeam/greptimedb-ingester-go/request/header"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/encoding/gzip" // the gzip compressor
	"google.golang.org/grpc/metadata"

	"github.com/danube-connect/danube-connect/plugins/greptime/grpczstd"
)

// HintsHeader is the gRPC metadata key carrying table hints (the
// per-key x-greptime-hint-* form is deprecated and ignored next to it).
const HintsHeader = "x-greptime-hints"

// Hints are the table options GreptimeDB applies when it creates a table
// (and auto_create_table on every write). Empty values are not sent.
type Hints struct {
	TTL             string
	AppendMode      string // "true" or "false"
	MergeMode       string // "last_row" or "last_non_null"
	AutoCreateTable string // "true" or "false"
}

// Header is the x-greptime-hints value, "" when no hint is set.
func (h Hints) Header() string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("auto_create_table", h.AutoCreateTable)
	add("ttl", h.TTL)
	add("append_mode", h.AppendMode)
	add("merge_mode", h.MergeMode)
	return strings.Join(parts, ",")
}

// Config of a Client.
type Config struct {
	Addr     string // host:port of the gRPC endpoint (4001 by default in GreptimeDB)
	Database string
	Username string
	Password string
	// TLS enables TLS with this configuration; nil means plaintext.
	TLS *tls.Config
	// Compression is "", "none", "gzip" or "zstd".
	Compression string
	// Timeout bounds each request (and the health check of Dial).
	Timeout time.Duration
	Hints   Hints
}

// Client is one gRPC connection to GreptimeDB. Safe for concurrent use.
type Client struct {
	conn    *grpc.ClientConn
	db      gpb.GreptimeDatabaseClient
	health  gpb.HealthCheckClient
	header  *gpb.RequestHeader
	hints   string
	timeout time.Duration
	addr    string
}

// Dial connects and checks that the server answers its health check, so
// that an unreachable or misconfigured endpoint fails here with the reason.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Addr == "" {
		return nil, errors.New("addr is empty")
	}
	h, err := header.New(cfg.Database).WithAuth(cfg.Username, cfg.Password).Build()
	if err != nil {
		return nil, fmt.Errorf("database %q: %w", cfg.Database, err)
	}
	creds := insecure.NewCredentials()
	if cfg.TLS != nil {
		creds = credentials.NewTLS(cfg.TLS)
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.MaxCallSendMsgSize(math.MaxInt32)),
	}
	switch cfg.Compression {
	case "", "none":
	case "gzip", grpczstd.Name:
		opts = append(opts, grpc.WithDefaultCallOptions(grpc.UseCompressor(cfg.Compression)))
	default:
		return nil, fmt.Errorf("unknown compression %q (want none, gzip or zstd)", cfg.Compression)
	}
	conn, err := grpc.NewClient(cfg.Addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("greptime %s: %w", cfg.Addr, err)
	}
	c := &Client{
		conn: conn, db: gpb.NewGreptimeDatabaseClient(conn), health: gpb.NewHealthCheckClient(conn),
		header: h, hints: cfg.Hints.Header(), timeout: cfg.Timeout, addr: cfg.Addr,
	}
	if err := c.Health(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// Health runs the server's health check.
func (c *Client) Health(ctx context.Context) error {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	if _, err := c.health.HealthCheck(ctx, &gpb.HealthCheckRequest{}, grpc.WaitForReady(true)); err != nil {
		return fmt.Errorf("greptime %s health check: %w", c.addr, err)
	}
	return nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Insert sends one request with the given table inserts and checks the
// response: its status and that the affected rows are the rows sent. The
// error is an *Error.
func (c *Client) Insert(ctx context.Context, inserts []*gpb.RowInsertRequest) error {
	rows := 0
	for _, in := range inserts {
		rows += len(in.GetRows().GetRows())
	}
	req := &gpb.GreptimeRequest{Header: c.header, Request: &gpb.GreptimeRequest_RowInserts{RowInserts: &gpb.RowInsertRequests{Inserts: inserts}}}
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	if c.hints != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, HintsHeader, c.hints)
	}
	var trailer metadata.MD
	resp, err := c.db.Handle(ctx, req, grpc.Trailer(&trailer))
	if err != nil {
		return fromRPC(err, trailer)
	}
	if st := resp.GetHeader().GetStatus(); st.GetStatusCode() != 0 {
		return &Error{GreptimeCode: int(st.GetStatusCode()), Msg: st.GetErrMsg(), InStatus: true}
	}
	if got := resp.GetAffectedRows().GetValue(); int(got) != rows {
		return &Error{Msg: fmt.Sprintf("server reported %d affected rows for %d rows sent", got, rows), Mismatch: true}
	}
	return nil
}
