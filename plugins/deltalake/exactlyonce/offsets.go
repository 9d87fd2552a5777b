package exactlyonce

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// CommitInfoKey is the commitInfo field under which a commit records the
// Danube offsets whose rows it contains, as
// {"<topic-partition>": [[first,last], ...], ...}.
const CommitInfoKey = "danubeOffsets"

// AppIDPrefix starts every Delta txn appId written by danube-connect.
const AppIDPrefix = "danube-connect/"

// AppID is the Delta txn appId of one writer for one topic-partition:
// "danube-connect/<writerID>/<topic-partition>". The partition topic name
// already starts with "/" (e.g. "/default/orders-part-0"), which is kept.
func AppID(writerID, topic string) string {
	if strings.HasPrefix(topic, "/") {
		return AppIDPrefix + writerID + topic
	}
	return AppIDPrefix + writerID + "/" + topic
}

// Offsets is a set of offsets per topic-partition: the content of one commit,
// of one flush, or of what a writer has observed as committed.
type Offsets map[string]*RangeSet

// Add records one offset of topic.
func (o Offsets) Add(topic string, off uint64) {
	s := o[topic]
	if s == nil {
		s = &RangeSet{}
		o[topic] = s
	}
	s.Add(off)
}

// Contains reports whether (topic, off) is in the set.
func (o Offsets) Contains(topic string, off uint64) bool {
	return o[topic].Contains(off)
}

// Union adds every offset of p.
func (o Offsets) Union(p Offsets) {
	for topic, s := range p {
		if s.Len() == 0 {
			continue
		}
		dst := o[topic]
		if dst == nil {
			dst = &RangeSet{}
			o[topic] = dst
		}
		dst.Union(s)
	}
}

// Subtract deletes every offset of p, dropping topics that become empty.
func (o Offsets) Subtract(p Offsets) {
	for topic, s := range p {
		if dst := o[topic]; dst != nil {
			dst.Subtract(s)
			if dst.Len() == 0 {
				delete(o, topic)
			}
		}
	}
}

// Intersect returns the offsets present in both o and p.
func (o Offsets) Intersect(p Offsets) Offsets {
	out := Offsets{}
	for topic, s := range o {
		if in := s.Intersect(p[topic]); in.Len() > 0 {
			out[topic] = in
		}
	}
	return out
}

// Overlaps reports whether o and p share at least one (topic, offset).
func (o Offsets) Overlaps(p Offsets) bool {
	for topic, s := range o {
		if s.Overlaps(p[topic]) {
			return true
		}
	}
	return false
}

// Count is the number of offsets over all topics.
func (o Offsets) Count() uint64 {
	var n uint64
	for _, s := range o {
		n += s.Count()
	}
	return n
}

// Topics returns the topic-partitions with at least one offset, sorted.
func (o Offsets) Topics() []string {
	topics := make([]string, 0, len(o))
	for topic, s := range o {
		if s.Len() > 0 {
			topics = append(topics, topic)
		}
	}
	sort.Strings(topics)
	return topics
}

// Clone returns an independent copy.
func (o Offsets) Clone() Offsets {
	out := make(Offsets, len(o))
	for topic, s := range o {
		out[topic] = s.Clone()
	}
	return out
}

// TxnVersions returns the txn version per appId for a commit of o by
// writerID: the highest offset of o for that topic-partition, raised to one
// more than the version already in the table (prev) when it is not above
// it, so that versions strictly increase per appId as Delta expects (a
// commit may hold only redelivered older offsets). The version is informative (Delta readers expose it through
// transaction_version); deduplication relies on the exact offsets recorded
// under CommitInfoKey, because a redelivered older offset can arrive after a
// higher one was committed.
func (o Offsets) TxnVersions(writerID string, prev func(appID string) (int64, bool)) map[string]int64 {
	out := make(map[string]int64, len(o))
	for _, topic := range o.Topics() {
		hi, _ := o[topic].Max()
		version := int64(hi)
		appID := AppID(writerID, topic)
		if p, ok := prev(appID); ok && p >= version {
			version = p + 1
		}
		out[appID] = version
	}
	return out
}

// ParseOffsets decodes the value stored under CommitInfoKey. A missing value
// (nil or JSON null) is an empty set.
func ParseOffsets(raw json.RawMessage) (Offsets, error) {
	out := Offsets{}
	if len(raw) == 0 || string(raw) == "null" {
		return out, nil
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", CommitInfoKey, err)
	}
	for topic, s := range out {
		if topic == "" {
			return nil, fmt.Errorf("decoding %s: %w", CommitInfoKey, errEmptyTopic)
		}
		if s == nil || s.Len() == 0 {
			delete(out, topic)
		}
	}
	return out, nil
}

// OffsetsFromCommitInfo extracts the recorded offsets from a decoded
// commitInfo object (any JSON-compatible value under CommitInfoKey).
func OffsetsFromCommitInfo(commitInfo map[string]any) (Offsets, error) {
	v, ok := commitInfo[CommitInfoKey]
	if !ok || v == nil {
		return Offsets{}, nil
	}
	if raw, ok := v.(json.RawMessage); ok {
		return ParseOffsets(raw)
	}
	if o, ok := v.(Offsets); ok {
		return o.Clone(), nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", CommitInfoKey, err)
	}
	return ParseOffsets(raw)
}
