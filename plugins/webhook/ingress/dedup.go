package ingress

import (
	"container/list"
	"sync"
	"time"
)

// MemoryDedup remembers delivery ids for a TTL, bounded in size (the oldest
// entry is evicted first). It is safe for concurrent use.
type MemoryDedup struct {
	mu      sync.Mutex
	ttl     time.Duration
	max     int
	now     func() time.Time
	entries map[string]*list.Element
	order   *list.List // front = oldest record
}

type dedupEntry struct {
	key     string
	expires time.Time
}

// NewMemoryDedup returns a store keeping ids for ttl, at most maxEntries.
func NewMemoryDedup(ttl time.Duration, maxEntries int) *MemoryDedup {
	if maxEntries <= 0 {
		maxEntries = 100_000
	}
	return &MemoryDedup{ttl: ttl, max: maxEntries, now: time.Now, entries: map[string]*list.Element{}, order: list.New()}
}

// Seen reports whether key was recorded and has not expired.
func (d *MemoryDedup) Seen(key string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	el, ok := d.entries[key]
	if !ok {
		return false
	}
	if d.now().After(el.Value.(*dedupEntry).expires) {
		d.order.Remove(el)
		delete(d.entries, key)
		return false
	}
	return true
}

// Record remembers key for the TTL.
func (d *MemoryDedup) Record(key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	if el, ok := d.entries[key]; ok {
		d.order.Remove(el)
	}
	d.entries[key] = d.order.PushBack(&dedupEntry{key: key, expires: now.Add(d.ttl)})
	// Records arrive in time order with one TTL, so expired ones are at the
	// front; drop them and anything over the size cap.
	for d.order.Len() > 0 {
		front := d.order.Front()
		e := front.Value.(*dedupEntry)
		if d.order.Len() <= d.max && !now.After(e.expires) {
			break
		}
		d.order.Remove(front)
		delete(d.entries, e.key)
	}
}

// Len is the number of remembered ids (expired ones may still be counted
// until the next Record).
func (d *MemoryDedup) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.order.Len()
}

// Claims tracks delivery ids currently being processed, so that two
// concurrent copies of one delivery are not both published.
type Claims struct {
	mu   sync.Mutex
	held map[string]struct{}
}

// NewClaims returns an empty claim set.
func NewClaims() *Claims { return &Claims{held: map[string]struct{}{}} }

// TryClaim claims key; false if another request holds it.
func (c *Claims) TryClaim(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.held[key]; ok {
		return false
	}
	c.held[key] = struct{}{}
	return true
}

// Release gives key back.
func (c *Claims) Release(key string) {
	c.mu.Lock()
	delete(c.held, key)
	c.mu.Unlock()
}
