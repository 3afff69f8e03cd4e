package grpc

import (
	"bytes"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
)

// TestLookupHealth: a failing lookup is logged at WARN with its reason
// once per server, service and reason, and its recovery at INFO.
func TestLookupHealth(t *testing.T) {
	var buf bytes.Buffer
	h := &lookupHealth{log: slog.New(slog.NewTextHandler(&buf, nil))}
	a := key{server: netip.MustParseAddrPort("10.0.0.1:50051"), service: "shop.v1.Inventory"}
	b := key{server: netip.MustParseAddrPort("10.0.0.2:50051"), service: "shop.v1.Inventory"}
	broken := errors.New(`proto: message field "shop.v1.Item.stock" is an invalid map`)
	for _, step := range []struct {
		k    key
		err  error
		want string // the line logged, "" for none
	}{
		{a, nil, ""},
		{a, broken, `level=WARN msg="grpc schema lookup failed: calls to the service are not decoded" reason=error server=10.0.0.1:50051 service=shop.v1.Inventory err="proto: message field \"shop.v1.Item.stock\" is an invalid map"`},
		{a, broken, ""},
		{b, broken, "level=WARN"},
		{a, errNoReflection, `reason=no_reflection server=10.0.0.1:50051 service=shop.v1.Inventory err="grpc: server has no reflection service"`},
		{a, errNoReflection, ""},
		{a, nil, `level=INFO msg="grpc schema lookup succeeds again" reason=no_reflection`},
		{a, nil, ""},
		{a, broken, "level=WARN"},
		{key{server: a.server}, broken, `service="(all, for method inference)"`},
	} {
		buf.Reset()
		h.note(step.k, step.err)
		got := strings.TrimSpace(buf.String())
		if step.want == "" && got != "" || !strings.Contains(got, step.want) || strings.Count(got, "\n") > 0 {
			t.Errorf("%v after %v: logged %q, want a line with %q", step.k, step.err, got, step.want)
		}
	}
}

// TestLookupHealthCountsLostCalls: the recovery line says how many calls
// were dropped while the service had no schema.
func TestLookupHealthCountsLostCalls(t *testing.T) {
	var buf bytes.Buffer
	h := &lookupHealth{log: slog.New(slog.NewTextHandler(&buf, nil))}
	k := key{server: netip.MustParseAddrPort("10.0.0.1:50051"), service: "shop.v1.Inventory"}
	h.lost(k, "grpc_no_schema") // not failing yet: not counted
	h.note(k, errNoReflection)
	h.lost(k, "grpc_no_schema")
	h.lost(k, "grpc_no_schema")
	buf.Reset()
	h.note(k, nil)
	if got := buf.String(); !strings.Contains(got, "dropped.grpc_no_schema=2") || !strings.Contains(got, `summary="dropped 2 (grpc_no_schema 2)"`) {
		t.Fatalf("recovery line %q does not count the 2 calls dropped", got)
	}
}
