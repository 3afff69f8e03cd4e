package config

import (
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
)

func TestGoRuntimeEnv(t *testing.T) {
	q := func(s string) *resource.Quantity { v := resource.MustParse(s); return &v }
	for _, c := range []struct {
		name string
		r    Resources
		want string
	}{
		{"none", Resources{}, "[]"},
		{"default memory limit", Resources{MemoryLimit: q("256Mi")}, "[{GOMEMLIMIT 241591905}]"},
		{"quarter core", Resources{CPULimit: q("250m"), MemoryLimit: q("64Mi")}, "[{GOMEMLIMIT 60397974} {GOMAXPROCS 1}]"},
		{"one core", Resources{CPULimit: q("1")}, "[{GOMAXPROCS 1}]"},
		{"more than one core", Resources{CPULimit: q("1001m")}, "[]"},
		{"a request is no limit", Resources{CPURequest: q("100m")}, "[]"},
	} {
		if got := fmt.Sprint(GoRuntimeEnv(c.r)); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}
