package grpc

import (
	"net/netip"
	"time"

	"github.com/podtap/podtap/sidecar/message"
)

// key names a service on one server: the same name may mean different
// schemas on different servers (or versions of one). An empty service
// names the server's catalog, every service it serves: a gRPC service name
// is never empty.
type key struct {
	server  netip.AddrPort
	service string
	// tls is set for calls read by TLS capture: the same address over TLS
	// and not is asked apart.
	tls bool
}

// keyOf is the key of a gRPC pair's service on its server.
func keyOf(p *message.Pair) key {
	return key{server: netip.AddrPortFrom(p.Server.IP.Unmap(), p.Server.Port), service: p.GRPC.Service, tls: p.TLSLibrary != ""}
}

// entry is a cached lookup: a schema (or catalog), or a failure
// remembered so that a server without reflection is not asked for every
// call.
type entry struct {
	schema  *schema
	catalog *catalog
	err     error
	expires time.Time
}

// maxCacheEntries bounds the cache whatever the number of servers seen.
const maxCacheEntries = 4096

// cache holds lookups by key until they expire. It is not safe for
// concurrent use; the Enricher locks around it.
type cache struct {
	entries map[key]entry
}

func newCache() *cache { return &cache{entries: map[key]entry{}} }

func (c *cache) get(k key, now time.Time) (entry, bool) {
	e, ok := c.entries[k]
	if ok && now.After(e.expires) {
		delete(c.entries, k)
		return entry{}, false
	}
	return e, ok
}

func (c *cache) put(k key, e entry, now time.Time) {
	if len(c.entries) >= maxCacheEntries {
		for k, old := range c.entries {
			if now.After(old.expires) {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < maxCacheEntries {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[k] = e
}
