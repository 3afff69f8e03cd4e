package webhook

import (
	"sync"
	"time"
)

// verdictCache keeps admission verdicts by owner and template, bounded in
// size.
type verdictCache struct {
	mu      sync.Mutex
	entries map[string]cachedVerdict
}

type cachedVerdict struct {
	v       Verdict
	expires time.Time
}

func (c *verdictCache) get(key string, now time.Time) (Verdict, bool) {
	if key == "" {
		return Verdict{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || now.After(e.expires) {
		return Verdict{}, false
	}
	return e.v, true
}

// put stores a verdict; when full, expired entries go first, then
// arbitrary ones: a lost entry costs one dry-run.
func (c *verdictCache) put(key string, v Verdict, expires time.Time, size int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]cachedVerdict{}
	}
	if _, ok := c.entries[key]; !ok && len(c.entries) >= size {
		now := time.Now()
		for k, e := range c.entries {
			if now.After(e.expires) {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < size {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[key] = cachedVerdict{v: v, expires: expires}
}
