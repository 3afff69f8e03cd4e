package pods

import (
	"net/netip"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// TestIndexReusedAddress: one address, claimed by pods in the orders a
// replacement produces; the live, newest pod must own it.
func TestIndexReusedAddress(t *testing.T) {
	a := netip.MustParseAddr("10.1.0.5")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	old := func(deleting bool) *entry { return &entry{uid: "old", name: "old", created: t0, deleting: deleting} }
	repl := func(deleting bool) *entry {
		return &entry{uid: "new", name: "new", created: t0.Add(time.Minute), deleting: deleting}
	}
	type step struct {
		set    *entry
		remove types.UID
	}
	for _, tc := range []struct {
		name  string
		steps []step
		want  string // "" for none
	}{
		{"old deleted, then new", []step{{set: old(false)}, {remove: "old"}, {set: repl(false)}}, "new"},
		{"new before the old one's deletion", []step{{set: old(false)}, {set: repl(false)}, {remove: "old"}}, "new"},
		{"old terminating updated after new", []step{{set: old(false)}, {set: repl(false)}, {set: old(true)}}, "new"},
		{"new while old terminates", []step{{set: old(true)}, {set: repl(false)}}, "new"},
		{"old's late update does not win back", []step{{set: repl(false)}, {set: old(false)}}, "new"},
		{"terminating new loses to live old", []step{{set: old(false)}, {set: repl(true)}}, "old"},
		{"deleted alone", []step{{set: old(false)}, {remove: "old"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newIndex()
			for _, s := range tc.steps {
				if s.set != nil {
					x.set(s.set, []netip.Addr{a})
				} else {
					x.remove(s.remove)
				}
			}
			got := ""
			if e, ok := x.get(a); ok {
				got = e.name
			}
			if got != tc.want {
				t.Errorf("address owned by %q, want %q", got, tc.want)
			}
		})
	}
}
