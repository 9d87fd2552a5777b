package objstore_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore"
	"github.com/danube-connect/danube-connect/plugins/deltalake/objstore/objstoretest"
)

// benchStores opens one store per backend for a benchmark.
func benchStores(b *testing.B) map[string]objstore.Store {
	ctx := context.Background()
	openB := func(loc string, opts objstore.Options) objstore.Store {
		st, err := objstore.Open(ctx, loc+"/bench", opts)
		if err != nil {
			b.Fatal(err)
		}
		return st
	}
	local, err := objstore.NewLocal(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	s3loc, s3opts := objstoretest.NewS3Bucket(b)
	azloc, azopts := objstoretest.NewAzureContainer(b)
	_, gsloc, gsopts := objstoretest.StartGCSEmulator(b)
	return map[string]objstore.Store{
		"local":         local,
		"s3-minio":      openB(s3loc, s3opts),
		"azure-azurite": openB(azloc, azopts),
		"gcs-emulator":  openB(gsloc, gsopts),
	}
}

// BenchmarkPutIfAbsent measures one Delta commit (a 4 KiB conditional
// create of a new _delta_log entry).
func BenchmarkPutIfAbsent(b *testing.B) {
	commit := bytes.Repeat([]byte(`{"add":{"path":"part-00000.parquet"}}`+"\n"), 110)[:4096]
	for name, st := range benchStores(b) {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			b.SetBytes(int64(len(commit)))
			for i := 0; b.Loop(); i++ {
				if err := st.PutIfAbsent(ctx, fmt.Sprintf("_delta_log/%020d.json", i), commit); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCreate measures streaming a 32 MiB data file in 1 MiB writes.
func BenchmarkCreate(b *testing.B) {
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	const chunks = 32
	for name, st := range benchStores(b) {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			b.SetBytes(int64(len(chunk) * chunks))
			for i := 0; b.Loop(); i++ {
				w, err := st.Create(ctx, fmt.Sprintf("part-%05d.parquet", i))
				if err != nil {
					b.Fatal(err)
				}
				for range chunks {
					if _, err := w.Write(chunk); err != nil {
						b.Fatal(err)
					}
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
