package delta_test

import (
	"context"
	"fmt"
	"os"

	"github.com/danube-connect/danube-connect/plugins/deltalake/delta"
	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
)

func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "delta-example-")
	defer os.RemoveAll(dir)
	store, _ := objstore.NewLocal(dir)

	schema, _ := delta.ParseSchema([]byte(`{"type":"struct","fields":[
		{"name":"id","type":"long","nullable":true,"metadata":{}},
		{"name":"day","type":"date","nullable":true,"metadata":{}}]}`))
	tbl, created, err := delta.OpenOrCreate(ctx, store,
		delta.CreateOptions{Schema: schema, PartitionColumns: []string{"day"}},
		delta.TableOptions{EngineInfo: "danube-connect/example"})
	if err != nil {
		panic(err)
	}
	defer tbl.Close(ctx)

	// The Parquet file itself is written by the caller (parquetfile); here
	// only its add action is committed, with a txn for exactly-once.
	day := "2024-01-01"
	tx := tbl.NewTransaction()
	tx.Adds = []delta.Add{{
		Path:            delta.EncodePath("day=2024-01-01/part-00000-example.parquet"),
		PartitionValues: map[string]*string{"day": &day},
		Size:            1234, ModificationTime: 1700000000000, DataChange: true,
		Stats: `{"numRecords":10}`,
	}}
	tx.SetTxn("danube-connect/writer-1/orders-part-0", 1)
	res, err := tbl.Commit(ctx, tx)
	if err != nil {
		panic(err)
	}
	txn, _ := tbl.Txn("danube-connect/writer-1/orders-part-0")
	fmt.Println(created, res.Version, tbl.Snapshot().NumFiles(), txn.Version)
	// Output: true 1 1 1
}
