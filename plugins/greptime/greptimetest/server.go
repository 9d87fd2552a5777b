// Package greptimetest is a test double of GreptimeDB's gRPC ingestion API:
// an in-process server registered as the real greptime.v1.GreptimeDatabase
// and greptime.v1.HealthCheck services from greptime-proto. It decodes the
// row inserts clients send, enforces the server rules the greptime output
// relies on, keeps the rows in memory and injects faults. It is not
// GreptimeDB: see README.md for how it differs.
package greptimetest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	gpb "github.com/GreptimeTeam/greptime-proto/go/greptime/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	_ "google.golang.org/grpc/encoding/gzip" // accept gzip requests
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	_ "github.com/danube-connect/danube-connect/plugins/greptime/grpczstd" // accept zstd requests
)

// GreptimeDB status codes the double answers with.
const (
	CodeInvalidArguments = 1004
	CodeTableNotFound    = 4001
	CodeUserNotFound     = 7000
	CodePasswordMismatch = 7002
	CodeAuthHeaderAbsent = 7003
)

// Fault is an injected failure of one request.
type Fault struct {
	Code         codes.Code // gRPC status; OK with GreptimeCode means a failure in ResponseHeader.status
	GreptimeCode int        // sent as the x-greptime-err-code trailer
	Msg          string
	// WrongAffected answers success with one affected row less than written
	// (the rows are not stored).
	WrongAffected bool
}

type options struct {
	tls        *tls.Config
	user, pass string
	noRows     bool
	addr       string
}

// Option configures a Server.
type Option func(*options)

// WithTLS serves TLS with cfg (set ClientAuth and ClientCAs for mTLS).
func WithTLS(cfg *tls.Config) Option { return func(o *options) { o.tls = cfg } }

// WithAuth requires basic auth with this user and password.
func WithAuth(user, pass string) Option { return func(o *options) { o.user, o.pass = user, pass } }

// WithoutRows counts rows instead of keeping them (benchmarks).
func WithoutRows() Option { return func(o *options) { o.noRows = true } }

// WithAddr listens on addr instead of 127.0.0.1:0.
func WithAddr(addr string) Option { return func(o *options) { o.addr = addr } }

// Server is the test double.
type Server struct {
	gpb.UnimplementedGreptimeDatabaseServer
	gpb.UnimplementedHealthCheckServer

	opts options
	addr string

	smu sync.Mutex
	srv *grpc.Server

	mu       sync.Mutex
	dbs      map[string]map[string]*Table
	faults   []Fault
	delay    time.Duration
	requests int
	rows     int64
	hints    []map[string]string
}

// Start serves on a loopback port until Stop.
func Start(opts ...Option) (*Server, error) {
	s := &Server{dbs: map[string]map[string]*Table{}}
	for _, o := range opts {
		o(&s.opts)
	}
	if s.opts.addr == "" {
		s.opts.addr = "127.0.0.1:0"
	}
	if err := s.serve(s.opts.addr); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) serve(addr string) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	var sopts []grpc.ServerOption
	if s.opts.tls != nil {
		sopts = append(sopts, grpc.Creds(credentials.NewTLS(s.opts.tls)))
	}
	srv := grpc.NewServer(sopts...)
	gpb.RegisterGreptimeDatabaseServer(srv, s)
	gpb.RegisterHealthCheckServer(srv, s)
	s.smu.Lock()
	s.srv, s.addr = srv, lis.Addr().String()
	s.smu.Unlock()
	go srv.Serve(lis) //nolint:errcheck // ends with Stop
	return nil
}

// Addr is host:port.
func (s *Server) Addr() string {
	s.smu.Lock()
	defer s.smu.Unlock()
	return s.addr
}

// Stop closes the listener and every connection (an outage). The stored
// tables survive for a Restart.
func (s *Server) Stop() {
	s.smu.Lock()
	srv := s.srv
	s.srv = nil
	s.smu.Unlock()
	if srv != nil {
		srv.Stop()
	}
}

// Restart serves again on the same address after Stop.
func (s *Server) Restart() error {
	var err error
	for i := 0; i < 50; i++ { // the port may linger briefly
		if err = s.serve(s.Addr()); err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

// FailNext makes the next n requests fail with f.
func (s *Server) FailNext(n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < n; i++ {
		s.faults = append(s.faults, f)
	}
}

// SetDelay delays every request by d (slow responses).
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Requests is the number of Handle calls received (failed ones included).
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// RowsWritten is the number of rows accepted (overwrites included).
func (s *Server) RowsWritten() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rows
}

// Hints are the x-greptime-hints of every request received, parsed.
func (s *Server) Hints() []map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]string(nil), s.hints...)
}

// Table returns a table of database db ("public" when empty), nil if absent.
func (s *Server) Table(db, name string) *Table {
	if db == "" {
		db = "public"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dbs[db][name]
}

// CreateTable makes a table exist with these columns before any write, as a
// table created earlier by another writer.
func (s *Server) CreateTable(db, name string, cols ...Column) {
	if db == "" {
		db = "public"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := newTable(&s.mu, name, nil)
	for _, c := range cols {
		t.addColumn(c)
	}
	if s.dbs[db] == nil {
		s.dbs[db] = map[string]*Table{}
	}
	s.dbs[db][name] = t
}

// HealthCheck answers the health service.
func (s *Server) HealthCheck(context.Context, *gpb.HealthCheckRequest) (*gpb.HealthCheckResponse, error) {
	return &gpb.HealthCheckResponse{}, nil
}

// Handle is the unary request of GreptimeDatabase.
func (s *Server) Handle(ctx context.Context, req *gpb.GreptimeRequest) (*gpb.GreptimeResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	n, err := s.handle(ctx, req, md)
	var rs *responseStatus
	if errors.As(err, &rs) {
		return &gpb.GreptimeResponse{Header: &gpb.ResponseHeader{Status: &gpb.Status{StatusCode: uint32(rs.code), ErrMsg: rs.msg}}}, nil
	}
	if err != nil {
		return nil, err
	}
	return okResponse(n), nil
}

// HandleRequests is the client-streaming form: every request is applied as
// it arrives; the answer is the total of affected rows.
func (s *Server) HandleRequests(stream gpb.GreptimeDatabase_HandleRequestsServer) error {
	md, _ := metadata.FromIncomingContext(stream.Context())
	var total uint32
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(okResponse(total))
		}
		if err != nil {
			return err
		}
		n, err := s.handle(stream.Context(), req, md)
		var rs *responseStatus
		if errors.As(err, &rs) {
			return stream.SendAndClose(&gpb.GreptimeResponse{Header: &gpb.ResponseHeader{Status: &gpb.Status{StatusCode: uint32(rs.code), ErrMsg: rs.msg}}})
		}
		if err != nil {
			return err
		}
		total += n
	}
}

func okResponse(n uint32) *gpb.GreptimeResponse {
	return &gpb.GreptimeResponse{Header: &gpb.ResponseHeader{Status: &gpb.Status{}},
		Response: &gpb.GreptimeResponse_AffectedRows{AffectedRows: &gpb.AffectedRows{Value: n}}}
}

// statusErr is a GreptimeDB-style failure: a gRPC status plus the
// x-greptime-err-* trailers.
func statusErr(ctx context.Context, c codes.Code, gcode int, msg string) error {
	if gcode != 0 {
		_ = grpc.SetTrailer(ctx, metadata.Pairs("x-greptime-err-code", strconv.Itoa(gcode), "x-greptime-err-msg", msg))
	}
	return status.Error(c, msg)
}

type responseStatus struct {
	code int
	msg  string
}

func (e *responseStatus) Error() string { return e.msg }

func (s *Server) handle(ctx context.Context, req *gpb.GreptimeRequest, md metadata.MD) (uint32, error) {
	s.mu.Lock()
	s.requests++
	delay := s.delay
	var fault *Fault
	if len(s.faults) > 0 {
		f := s.faults[0]
		s.faults = s.faults[1:]
		fault = &f
	}
	hints := parseHints(md.Get("x-greptime-hints"))
	s.hints = append(s.hints, hints)
	s.mu.Unlock()

	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return 0, status.FromContextError(ctx.Err()).Err()
		}
	}
	if fault != nil && !fault.WrongAffected {
		if fault.Code == codes.OK {
			return 0, &responseStatus{fault.GreptimeCode, fault.Msg}
		}
		return 0, statusErr(ctx, fault.Code, fault.GreptimeCode, fault.Msg)
	}
	if err := s.checkAuth(ctx, req.GetHeader()); err != nil {
		return 0, err
	}
	ins, ok := req.GetRequest().(*gpb.GreptimeRequest_RowInserts)
	if !ok {
		return 0, statusErr(ctx, codes.Unimplemented, 1001, fmt.Sprintf("the test double accepts row inserts only, got %T", req.GetRequest()))
	}
	db := req.GetHeader().GetDbname()
	if db == "" {
		db = "public"
	}
	var rows int
	for _, in := range ins.RowInserts.GetInserts() {
		rows += len(in.GetRows().GetRows())
	}
	if fault != nil { // WrongAffected: claim one row less, store nothing
		return uint32(max(rows-1, 0)), nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dbs[db] == nil {
		s.dbs[db] = map[string]*Table{}
	}
	tables := s.dbs[db]
	// Validate everything first: the double applies a request atomically.
	for _, in := range ins.RowInserts.GetInserts() {
		if err := validate(tables[in.GetTableName()], in, hints); err != nil {
			return 0, statusErr(ctx, err.grpc, err.code, err.msg)
		}
	}
	for _, in := range ins.RowInserts.GetInserts() {
		t := tables[in.GetTableName()]
		if t == nil {
			t = newTable(&s.mu, in.GetTableName(), hints)
			tables[t.name] = t
		}
		t.apply(in.GetRows(), s.opts.noRows)
	}
	s.rows += int64(rows)
	return uint32(rows), nil
}

func (s *Server) checkAuth(ctx context.Context, h *gpb.RequestHeader) error {
	if s.opts.user == "" {
		return nil
	}
	basic := h.GetAuthorization().GetBasic()
	switch {
	case basic == nil:
		return statusErr(ctx, codes.Unauthenticated, CodeAuthHeaderAbsent, "auth header not found")
	case basic.GetUsername() != s.opts.user:
		return statusErr(ctx, codes.Unauthenticated, CodeUserNotFound, fmt.Sprintf("user %q not found", basic.GetUsername()))
	case basic.GetPassword() != s.opts.pass:
		return statusErr(ctx, codes.Unauthenticated, CodePasswordMismatch, fmt.Sprintf("password mismatch for user %q", basic.GetUsername()))
	}
	return nil
}

func parseHints(vals []string) map[string]string {
	out := map[string]string{}
	for _, v := range vals {
		for _, kv := range strings.Split(v, ",") {
			k, val, ok := strings.Cut(kv, "=")
			if ok {
				out[strings.TrimSpace(k)] = strings.TrimSpace(val)
			}
		}
	}
	return out
}

// Column is a column of a table.
type Column struct {
	Name     string
	Type     gpb.ColumnDataType
	Semantic gpb.SemanticType
}

// Table is a table of the double.
type Table struct {
	mu      *sync.Mutex // the server's
	name    string
	cols    []Column
	index   map[string]int
	options map[string]string
	keyed   map[string]int // tags + time index -> row (merge mode)
	rows    [][]any        // by column index; grows with new columns
	count   int
}

func newTable(mu *sync.Mutex, name string, hints map[string]string) *Table {
	opts := map[string]string{}
	for _, k := range []string{"ttl", "append_mode", "merge_mode"} {
		if v, ok := hints[k]; ok {
			opts[k] = v
		}
	}
	return &Table{mu: mu, name: name, index: map[string]int{}, options: opts, keyed: map[string]int{}}
}

func (t *Table) addColumn(c Column) {
	t.index[c.Name] = len(t.cols)
	t.cols = append(t.cols, c)
}

type reject struct {
	grpc codes.Code
	code int
	msg  string
}

func invalid(format string, args ...any) *reject {
	return &reject{codes.InvalidArgument, CodeInvalidArguments, fmt.Sprintf(format, args...)}
}

func validate(t *Table, in *gpb.RowInsertRequest, hints map[string]string) *reject {
	name := in.GetTableName()
	if name == "" {
		return invalid("empty table name")
	}
	if t == nil && hints["auto_create_table"] == "false" {
		return &reject{codes.NotFound, CodeTableNotFound, fmt.Sprintf("Table not found: greptime.public.%s", name)}
	}
	schema := in.GetRows().GetSchema()
	seen := map[string]bool{}
	timeIndex := ""
	for _, c := range schema {
		cn := c.GetColumnName()
		if cn == "" {
			return invalid("table %s: empty column name", name)
		}
		if seen[cn] {
			return invalid("table %s: duplicate column %s", name, cn)
		}
		seen[cn] = true
		if c.GetSemanticType() == gpb.SemanticType_TIMESTAMP {
			if timeIndex != "" {
				return invalid("table %s: more than one time index column (%s, %s)", name, timeIndex, cn)
			}
			if !isTimestamp(c.GetDatatype()) {
				return invalid("table %s: time index column %s has type %s", name, cn, c.GetDatatype())
			}
			timeIndex = cn
		}
		if t != nil {
			if i, ok := t.index[cn]; ok {
				have := t.cols[i]
				if have.Type != c.GetDatatype() {
					return invalid("Invalid request to region, reason: column %s expect type %s, given: %s", cn, have.Type, c.GetDatatype())
				}
				if have.Semantic != c.GetSemanticType() {
					return invalid("Invalid request to region, reason: column %s expect semantic type %s, given: %s", cn, have.Semantic, c.GetSemanticType())
				}
			} else if c.GetSemanticType() == gpb.SemanticType_TIMESTAMP {
				return invalid("table %s: time index is already %s, request names %s", name, t.timeIndex(), cn)
			}
		}
	}
	if timeIndex == "" {
		return invalid("table %s: no time index column", name)
	}
	if t != nil && t.timeIndex() != "" && t.timeIndex() != timeIndex {
		return invalid("table %s: time index is already %s, request names %s", name, t.timeIndex(), timeIndex)
	}
	for i, r := range in.GetRows().GetRows() {
		if len(r.GetValues()) != len(schema) {
			return invalid("table %s row %d: %d values for %d columns", name, i, len(r.GetValues()), len(schema))
		}
		for j, v := range r.GetValues() {
			if v.GetValueData() == nil {
				if schema[j].GetSemanticType() == gpb.SemanticType_TIMESTAMP {
					return invalid("table %s row %d: null time index", name, i)
				}
				continue
			}
			if !matches(schema[j].GetDatatype(), v) {
				return invalid("table %s row %d column %s: %T in a %s column", name, i, schema[j].GetColumnName(), v.GetValueData(), schema[j].GetDatatype())
			}
		}
	}
	return nil
}

func (t *Table) timeIndex() string {
	for _, c := range t.cols {
		if c.Semantic == gpb.SemanticType_TIMESTAMP {
			return c.Name
		}
	}
	return ""
}

func isTimestamp(d gpb.ColumnDataType) bool {
	return d >= gpb.ColumnDataType_TIMESTAMP_SECOND && d <= gpb.ColumnDataType_TIMESTAMP_NANOSECOND
}

func matches(d gpb.ColumnDataType, v *gpb.Value) bool {
	switch v.GetValueData().(type) {
	case *gpb.Value_I8Value:
		return d == gpb.ColumnDataType_INT8
	case *gpb.Value_I16Value:
		return d == gpb.ColumnDataType_INT16
	case *gpb.Value_I32Value:
		return d == gpb.ColumnDataType_INT32
	case *gpb.Value_I64Value:
		return d == gpb.ColumnDataType_INT64
	case *gpb.Value_U8Value:
		return d == gpb.ColumnDataType_UINT8
	case *gpb.Value_U16Value:
		return d == gpb.ColumnDataType_UINT16
	case *gpb.Value_U32Value:
		return d == gpb.ColumnDataType_UINT32
	case *gpb.Value_U64Value:
		return d == gpb.ColumnDataType_UINT64
	case *gpb.Value_F32Value:
		return d == gpb.ColumnDataType_FLOAT32
	case *gpb.Value_F64Value:
		return d == gpb.ColumnDataType_FLOAT64
	case *gpb.Value_BoolValue:
		return d == gpb.ColumnDataType_BOOLEAN
	case *gpb.Value_BinaryValue:
		return d == gpb.ColumnDataType_BINARY
	case *gpb.Value_StringValue:
		return d == gpb.ColumnDataType_STRING || d == gpb.ColumnDataType_JSON
	case *gpb.Value_DateValue:
		return d == gpb.ColumnDataType_DATE
	case *gpb.Value_DatetimeValue:
		return d == gpb.ColumnDataType_DATETIME
	case *gpb.Value_TimestampSecondValue:
		return d == gpb.ColumnDataType_TIMESTAMP_SECOND
	case *gpb.Value_TimestampMillisecondValue:
		return d == gpb.ColumnDataType_TIMESTAMP_MILLISECOND
	case *gpb.Value_TimestampMicrosecondValue:
		return d == gpb.ColumnDataType_TIMESTAMP_MICROSECOND
	case *gpb.Value_TimestampNanosecondValue:
		return d == gpb.ColumnDataType_TIMESTAMP_NANOSECOND
	}
	return false
}

func goValue(v *gpb.Value) any {
	switch x := v.GetValueData().(type) {
	case nil:
		return nil
	case *gpb.Value_I64Value:
		return x.I64Value
	case *gpb.Value_U64Value:
		return x.U64Value
	case *gpb.Value_F64Value:
		return x.F64Value
	case *gpb.Value_BoolValue:
		return x.BoolValue
	case *gpb.Value_StringValue:
		return x.StringValue
	case *gpb.Value_BinaryValue:
		return x.BinaryValue
	case *gpb.Value_TimestampSecondValue:
		return x.TimestampSecondValue
	case *gpb.Value_TimestampMillisecondValue:
		return x.TimestampMillisecondValue
	case *gpb.Value_TimestampMicrosecondValue:
		return x.TimestampMicrosecondValue
	case *gpb.Value_TimestampNanosecondValue:
		return x.TimestampNanosecondValue
	}
	return fmt.Sprint(v.GetValueData())
}

func (t *Table) apply(rows *gpb.Rows, countOnly bool) {
	schema := rows.GetSchema()
	for _, c := range schema {
		if _, ok := t.index[c.GetColumnName()]; !ok {
			t.addColumn(Column{Name: c.GetColumnName(), Type: c.GetDatatype(), Semantic: c.GetSemanticType()})
		}
	}
	t.count += len(rows.GetRows())
	if countOnly {
		return
	}
	appendMode := t.options["append_mode"] == "true"
	lastNonNull := t.options["merge_mode"] == "last_non_null"
	for _, r := range rows.GetRows() {
		row := make([]any, len(t.cols))
		for j, v := range r.GetValues() {
			row[t.index[schema[j].GetColumnName()]] = goValue(v)
		}
		if appendMode {
			t.rows = append(t.rows, row)
			continue
		}
		key := t.key(row)
		if i, ok := t.keyed[key]; ok {
			old := t.rows[i]
			for len(old) < len(row) {
				old = append(old, nil)
			}
			for j, v := range row {
				if v != nil || !lastNonNull {
					old[j] = v
				}
			}
			t.rows[i] = old
			continue
		}
		t.keyed[key] = len(t.rows)
		t.rows = append(t.rows, row)
	}
}

// key is the primary key (tags, in column order) plus the time index.
func (t *Table) key(row []any) string {
	var b strings.Builder
	for i, c := range t.cols {
		if c.Semantic != gpb.SemanticType_FIELD && i < len(row) {
			fmt.Fprintf(&b, "%v\x00", row[i])
		}
	}
	return b.String()
}

// Columns are the table's columns in creation order.
func (t *Table) Columns() []Column {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Column(nil), t.cols...)
}

// Options are the table options set from the hints of the creating request.
func (t *Table) Options() map[string]string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.options)
}

// Len is the number of stored rows (after overwrites of equal keys).
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.rows)
}

// Written is the number of rows accepted, overwrites included.
func (t *Table) Written() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.count
}

// Rows are the stored rows as column name -> value (int64, uint64,
// float64, bool, string, []byte; timestamps as int64 in the column unit),
// ordered by time index.
func (t *Table) Rows() []map[string]any {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]map[string]any, 0, len(t.rows))
	for _, r := range t.rows {
		m := map[string]any{}
		for i, v := range r {
			if v != nil {
				m[t.cols[i].Name] = v
			}
		}
		out = append(out, m)
	}
	ti := t.timeIndex()
	sort.SliceStable(out, func(i, j int) bool {
		a, _ := out[i][ti].(int64)
		b, _ := out[j][ti].(int64)
		return a < b
	})
	return out
}
