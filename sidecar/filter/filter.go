// Package filter applies the keep/drop rules to pairs. The rules run in a
// fixed order, cheapest and request-side first, and the first rule that
// drops a pair names the reason: internal, path, status, content_type.
//
// A Filter is also the message.Judge the parsers consult as soon as headers
// are complete, so that the bodies of pairs it will drop are never kept.
package filter

import (
	"strconv"
	"strings"

	"github.com/podtap/podtap/config"
	"github.com/podtap/podtap/sidecar/message"
	"github.com/podtap/podtap/sidecar/metrics"
)

// Filter holds the compiled rules of config.Filter.
type Filter struct {
	enabled      bool
	userAgents   []string
	paths        map[string]bool
	statuses     map[int]bool
	classes      [6]bool
	contentTypes map[string]bool
}

// New compiles the rules; cfg has been validated by config.
func New(cfg config.Filter) *Filter {
	f := &Filter{
		enabled:      cfg.Enabled,
		userAgents:   cfg.DropUserAgents,
		paths:        make(map[string]bool, len(cfg.DropPaths)),
		statuses:     make(map[int]bool),
		contentTypes: make(map[string]bool, len(cfg.ContentTypes)),
	}
	for _, p := range cfg.DropPaths {
		f.paths[p] = true
	}
	for _, s := range cfg.DropStatuses {
		if strings.HasSuffix(s, "xx") {
			f.classes[s[0]-'0'] = true
			continue
		}
		if n, err := strconv.Atoi(s); err == nil {
			f.statuses[n] = true
		}
	}
	for _, ct := range cfg.ContentTypes {
		f.contentTypes[strings.ToLower(ct)] = true
	}
	return f
}

// JudgeRequest applies the rules that need only the request headers.
func (f *Filter) JudgeRequest(r *message.Request) string {
	if r.Headers.Has(message.InternalHeader) {
		// podtap's own traffic is dropped even with --no-filter: it is
		// never the application's.
		return metrics.ReasonInternal
	}
	if !f.enabled {
		return ""
	}
	if ua := r.Headers.Get("user-agent"); ua != "" {
		for _, prefix := range f.userAgents {
			if strings.HasPrefix(ua, prefix) {
				return metrics.ReasonInternal
			}
		}
	}
	if f.paths[r.Path] {
		return metrics.ReasonPath
	}
	return ""
}

// JudgeResponse applies the rules that need the response headers.
func (f *Filter) JudgeResponse(req *message.Request, resp *message.Response) string {
	if !f.enabled {
		return ""
	}
	if s := resp.Status; f.statuses[s] || (s >= 100 && s < 600 && f.classes[s/100]) {
		return metrics.ReasonStatus
	}
	if req == nil || req.Proto == message.ProtoGRPC {
		return ""
	}
	if !f.acceptedType(req.ContentType) && !f.acceptedType(resp.ContentType) {
		return metrics.ReasonContentType
	}
	return ""
}

// Pair applies every rule to a complete pair and returns the drop reason,
// or "" to keep it. Parsers that judged early already set Drop on the
// halves; this is the check for pairs made without a Judge.
func (f *Filter) Pair(p *message.Pair) string {
	if reason := f.JudgeRequest(p.Request); reason != "" {
		return reason
	}
	return f.JudgeResponse(p.Request, p.Response)
}

func (f *Filter) acceptedType(contentType string) bool {
	if contentType == "" {
		return false
	}
	return f.contentTypes[message.MediaType(contentType)]
}
