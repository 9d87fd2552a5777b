package greptimetest

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	greptime "github.com/GreptimeTeam/greptimedb-ingester-go"
	ictx "github.com/GreptimeTeam/greptimedb-ingester-go/context"
	"github.com/GreptimeTeam/greptimedb-ingester-go/table"
	"github.com/GreptimeTeam/greptimedb-ingester-go/table/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The double decodes what the official Go ingester sends, unary and
// streaming, and enforces the schema rules on it.
func TestIngesterClientAgainstTheDouble(t *testing.T) {
	s, err := Start(WithAuth("u", "p"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	host, port, _ := net.SplitHostPort(s.Addr())
	p, _ := strconv.Atoi(port)
	cli, err := greptime.NewClient(greptime.NewConfig(host).WithPort(p).WithDatabase("public").WithAuth("u", "p"))
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	mk := func(valType types.ColumnType, v any) *table.Table {
		tbl, _ := table.New("monitor")
		_ = tbl.AddTagColumn("host", types.STRING)
		_ = tbl.AddFieldColumn("cpu", valType)
		_ = tbl.AddTimestampColumn("ts", types.TIMESTAMP_MILLISECOND)
		if err := tbl.AddRow("h1", v, time.UnixMilli(1000)); err != nil {
			t.Fatal(err)
		}
		return tbl
	}
	ctx := ictx.New(context.Background(), ictx.WithHints("ttl=3d"))
	resp, err := cli.Write(ctx, mk(types.FLOAT64, 0.5))
	if err != nil || resp.GetAffectedRows().GetValue() != 1 {
		t.Fatalf("write: %v %v", resp, err)
	}
	if got := s.Table("", "monitor").Options()["ttl"]; got != "3d" {
		t.Errorf("ttl option %q", got)
	}
	_, err = cli.Write(ctx, mk(types.STRING, "high"))
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("type change accepted: %v", err)
	}
	if err := cli.StreamWrite(ctx, mk(types.FLOAT64, 0.7)); err != nil {
		t.Fatal(err)
	}
	if n, err := cli.CloseStream(ctx); err != nil || n.GetValue() != 1 {
		t.Fatalf("stream: %v %v", n, err)
	}
	rows := s.Table("", "monitor").Rows()
	if len(rows) != 1 || rows[0]["cpu"] != 0.7 {
		t.Fatalf("the streamed row overwrites the first one (same tags and time): %v", rows)
	}
	bad, _ := greptime.NewClient(greptime.NewConfig(host).WithPort(p).WithDatabase("public").WithAuth("u", "wrong"))
	defer bad.Close()
	if _, err := bad.Write(ctx, mk(types.FLOAT64, 1.0)); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("wrong password: %v", err)
	}
}
