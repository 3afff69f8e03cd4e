package grpc

import (
	"log/slog"
	"sync"
)

// lookupHealth logs the schema lookups of each server's services: a
// failure, which leaves the service's calls undecoded, at WARN with its
// reason, once per server, service and reason however often the lookup is
// retried; a later success at INFO. The zero value logs to slog.Default.
type lookupHealth struct {
	log *slog.Logger

	mu sync.Mutex
	// failing is the reason last logged of each key whose lookup fails.
	failing map[key]string
}

// note records the outcome of the lookup of k.
func (h *lookupHealth) note(k key, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	log := h.log
	if log == nil {
		log = slog.Default()
	}
	prev, was := h.failing[k]
	service := k.service
	if service == "" {
		service = "(all, for method inference)"
	}
	if err == nil {
		if was {
			delete(h.failing, k)
			log.Info("grpc schema lookup succeeds again", "server", k.server.String(), "service", service)
		}
		return
	}
	reason := err.Error()
	if was && prev == reason {
		return
	}
	if h.failing == nil {
		h.failing = map[key]string{}
	}
	if !was && len(h.failing) >= maxCacheEntries {
		// Bounded like the cache: forgetting a key only means its failure
		// may be logged once more.
		for old := range h.failing {
			delete(h.failing, old)
			break
		}
	}
	h.failing[k] = reason
	log.Warn("grpc schema lookup failed: calls to the service are not decoded", "server", k.server.String(), "service", service, "reason", reason)
}
