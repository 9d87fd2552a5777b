package chsink

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	chproto "github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2"
)

// captureInsertQuery serves one native connection as a 22.8 server: it
// answers the client's hello and returns the bytes the client sends up to
// and including the query text want, then hangs up. What the driver puts
// on the wire is what a server would see, settings included.
func captureInsertQuery(t *testing.T, ln net.Listener, want string) <-chan []byte {
	t.Helper()
	out := make(chan []byte, 1)
	go func() {
		defer close(out)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		var hello chproto.Buffer
		hello.PutUVarInt(0) // ServerHello
		hello.PutString("ClickHouse")
		hello.PutUVarInt(22)
		hello.PutUVarInt(8)
		hello.PutUVarInt(54460) // below the password-rules and nonce extensions
		hello.PutString("UTC")
		hello.PutString("fake")
		hello.PutUVarInt(1)
		if _, err := c.Write(hello.Buf); err != nil {
			return
		}
		var got []byte
		buf := make([]byte, 4096)
		for !bytes.Contains(got, []byte(want)) {
			n, err := c.Read(buf)
			got = append(got, buf[:n]...)
			if err == io.EOF || err != nil && n == 0 {
				break
			}
		}
		out <- got
	}()
	return out
}

// wireSetting reads the value of setting name from a query packet sent as
// strings (revision >= 54429): name, flags, value.
func wireSetting(pkt []byte, name string) (string, bool) {
	var key chproto.Buffer
	key.PutString(name)
	i := bytes.Index(pkt, key.Buf)
	if i < 0 {
		return "", false
	}
	r := chproto.NewReader(bytes.NewReader(pkt[i+len(key.Buf):]))
	if _, err := r.UVarInt(); err != nil { // flags
		return "", false
	}
	v, err := r.Str()
	return v, err == nil
}

// The INSERT carries async_insert, wait_for_async_insert and the block's
// insert_deduplication_token on the wire, from the sink's options.
func TestInsertSettingsReachTheServer(t *testing.T) {
	for _, tc := range []struct {
		name  string
		o     Options
		want  map[string]string // "" means absent
		token string            // prefix of the token
	}{
		{"async, wait, content token", Options{AsyncInsert: true, WaitAsyncInsert: true, Dedup: DedupContent},
			map[string]string{"async_insert": "1", "wait_for_async_insert": "1"}, "sha256:"},
		{"async without wait, offsets token", Options{AsyncInsert: true, Dedup: DedupOffsets},
			map[string]string{"async_insert": "1", "wait_for_async_insert": "0"}, "danube:/default/ev:7-8:2:`db`.`t`"},
		{"plain", Options{}, map[string]string{"async_insert": "", "wait_for_async_insert": ""}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			got := captureInsertQuery(t, ln, "INSERT INTO `db`.`t` (`id`)")
			conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{ln.Addr().String()}, DialTimeout: 10 * time.Second,
				Compression: &clickhouse.Compression{Method: clickhouse.CompressionNone}})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			o := tc.o
			o.Retry = Retry{MaxRetries: 0}
			s := newSink(conn, o, modernVersion, nopMetrics{})
			sch, err := newSchema("db", "t", []describeRow{{name: "id", typ: "UInt64"}})
			if err != nil {
				t.Fatal(err)
			}
			s.cache.put(sch)
			batch := msgs(`{"id":1}`, `{"id":2}`)
			for i := range batch {
				batch[i].Topic, batch[i].Offset, batch[i].HasOffset = "/default/ev", uint64(7+i), true
			}
			if errs := s.Write(context.Background(), batch, group(2)); errs[0] == nil {
				t.Fatal("the fake server cannot accept an INSERT")
			}
			pkt := <-got
			if !bytes.Contains(pkt, []byte("INSERT INTO `db`.`t` (`id`)")) {
				t.Fatalf("no INSERT query captured (%d bytes)", len(pkt))
			}
			for name, want := range tc.want {
				v, ok := wireSetting(pkt, name)
				if want == "" && ok || want != "" && v != want {
					t.Errorf("%s = %q (sent %v), want %q", name, v, ok, want)
				}
			}
			tok, ok := wireSetting(pkt, "insert_deduplication_token")
			if tc.token == "" && ok || !strings.HasPrefix(tok, tc.token) {
				t.Errorf("insert_deduplication_token = %q (sent %v), want %q...", tok, ok, tc.token)
			}
		})
	}
}
