package grpc

import (
	"errors"
	"log/slog"
	"sync"

	"github.com/podtap/podtap/sidecar/statelog"
)

// lookupHealth logs the schema lookups of each server's services, one
// statelog.State per server and service: a failure, which leaves the
// service's calls undecoded, at WARN with its reason, reminded at most once
// a minute however often the lookup is retried, with the calls dropped
// meanwhile; a later success at INFO with the episode's totals. The zero
// value logs to slog.Default.
type lookupHealth struct {
	log *slog.Logger

	mu sync.Mutex
	// failing holds the state of each key whose lookup fails.
	failing map[key]*statelog.State
}

// note records the outcome of the lookup of k.
func (h *lookupHealth) note(k key, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	st, was := h.failing[k]
	if err == nil {
		if was {
			delete(h.failing, k)
			st.Recover(h.where(k)...)
		}
		return
	}
	if !was {
		if h.failing == nil {
			h.failing = map[key]*statelog.State{}
		}
		if len(h.failing) >= maxCacheEntries {
			// Bounded like the cache: forgetting a key only means its
			// failure may be logged once more.
			for old := range h.failing {
				delete(h.failing, old)
				break
			}
		}
		st = statelog.New(statelog.Config{
			Log:       h.log,
			Degraded:  "grpc schema lookup failed: calls to the service are not decoded",
			Recovered: "grpc schema lookup succeeds again",
		})
		h.failing[k] = st
	}
	reason := "error"
	if errors.Is(err, errNoReflection) {
		reason = "no_reflection"
	}
	st.Degrade(reason, append(h.where(k), "err", err.Error())...)
}

// lost counts a call of k's service dropped while its lookup fails.
func (h *lookupHealth) lost(k key, reason string) {
	h.mu.Lock()
	st := h.failing[k]
	h.mu.Unlock()
	if st != nil {
		st.Lost(reason, 1)
	}
}

func (h *lookupHealth) where(k key) []any {
	service := k.service
	if service == "" {
		service = "(all, for method inference)"
	}
	return []any{"server", k.server.String(), "service", service}
}
