package coverage

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable prints the report in value as tables, for people; a record
// that is not a coverage report (a pair, when both share a topic) prints
// nothing and is not an error.
func WriteTable(w io.Writer, value []byte) error {
	var r Report
	if err := json.Unmarshal(value, &r); err != nil {
		return fmt.Errorf("coverage report: %w", err)
	}
	if r.Schema != Schema {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "pod %s\tat %s\tsince %s\tkernel_drops %d\n", podName(r.Pod), r.At.Format(time.RFC3339), r.StartedAt.Format(time.RFC3339), r.KernelDrops)
	fmt.Fprintf(tw, "\nSERVER\tCONNECTIONS\tPAIRS\tDROPS\tUNRESOLVED_HEADERS\n")
	for _, s := range r.Servers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", s.Server, pairs(s.Connections), pairs(s.Pairs), pairs(s.Drops), s.UnresolvedHeaders)
	}
	if len(r.TLS) > 0 {
		fmt.Fprintf(tw, "\nTLS NOT READ\tSNI\tALPN\tREASON\tCONNECTIONS\n")
		for _, t := range r.TLS {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", t.Server, dash(t.SNI), dash(t.ALPN), t.Reason, t.Connections)
		}
	}
	if len(r.GRPC) > 0 {
		fmt.Fprintf(tw, "\nGRPC SERVER\tSERVICE\tWITH_SCHEMA\tWITHOUT_SCHEMA\t\n")
		for _, s := range r.GRPC {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t\n", s.Server, dash(s.Service), s.WithSchema, s.WithoutSchema)
		}
	}
	if len(r.Sensitive) > 0 {
		fmt.Fprintf(tw, "\nSENSITIVE SERVER\tENDPOINT\tTYPES\t\t\n")
		for _, e := range r.Sensitive {
			fmt.Fprintf(tw, "%s\t%s\t%s\t\t\n", e.Server, e.Endpoint, pairs(e.Types))
		}
	}
	fmt.Fprintf(tw, "\nhttp2\tlate_joins=%d streams_joined_late=%d unresolved_header_fields=%d\t\t\t\n", r.HTTP2.LateJoins, r.HTTP2.StreamsJoinedLate, r.HTTP2.UnresolvedHeaderFields)
	fmt.Fprintf(tw, "drops (all stages)\t%s\t\t\t\n\n", pairs(r.Drops))
	return tw.Flush()
}

func podName(p Pod) string {
	switch {
	case p.Namespace != "" && p.Name != "":
		return p.Namespace + "/" + p.Name
	case p.Name != "":
		return p.Name
	}
	return "-"
}

// pairs prints counts as name=n, sorted by name.
func pairs(m map[string]uint64) string {
	if len(m) == 0 {
		return "-"
	}
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", k, m[k])
	}
	return b.String()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
