//go:build lancedb

package lancestore

/*
#include <malloc.h>
*/
import "C"

import (
	"os"
	"sync"
)

// Lance allocates and frees buffers of several MiB on every add. After the
// first such free glibc raises its mmap threshold and serves later ones from
// its heap, which it seldom gives back, so the process kept ~85 MB it no
// longer used (1536-d vectors, 800-row adds). A fixed threshold keeps large
// buffers mmapped (returned on free) and a lower trim threshold returns a
// freed heap top. The glibc variables, when set, still win. Applied when
// the first LanceDB connection opens, so other pipelines of the binary keep
// glibc's defaults.
var tuneMalloc = sync.OnceFunc(func() {
	if os.Getenv("MALLOC_MMAP_THRESHOLD_") == "" {
		C.mallopt(C.M_MMAP_THRESHOLD, 1<<20)
	}
	if os.Getenv("MALLOC_TRIM_THRESHOLD_") == "" {
		C.mallopt(C.M_TRIM_THRESHOLD, 4<<20)
	}
})
