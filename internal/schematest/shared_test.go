package schematest

import (
	"encoding/json"
	"os"
	"slices"
	"testing"
)

// TestCompatibleWithShared checks that the repository's schema extends the
// shared contract compatibly: every property and required field of the
// shared schema is kept with the same definition, and fields are only
// added.
func TestCompatibleWithShared(t *testing.T) {
	shared, err := os.ReadFile(SharedPath())
	if os.IsNotExist(err) {
		t.Skipf("no shared contract beside the repository (%s): a checkout of its own has nothing to compare", SharedPath())
	}
	if err != nil {
		t.Fatal(err)
	}
	own, err := os.ReadFile(Path())
	if err != nil {
		t.Fatal(err)
	}
	type schema struct {
		Required   []string                   `json:"required"`
		Properties map[string]json.RawMessage `json:"properties"`
		Defs       map[string]json.RawMessage `json:"$defs"`
	}
	var s, o schema
	if err := json.Unmarshal(shared, &s); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(own, &o); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Required, o.Required) {
		t.Errorf("required %v, shared %v", o.Required, s.Required)
	}
	same := func(what string, a, b map[string]json.RawMessage) {
		for k, v := range a {
			var x, y any
			_ = json.Unmarshal(v, &x)
			_ = json.Unmarshal(b[k], &y)
			xs, _ := json.Marshal(x)
			ys, _ := json.Marshal(y)
			if string(xs) != string(ys) {
				t.Errorf("%s %q differs from the shared contract's", what, k)
			}
		}
	}
	same("property", s.Properties, o.Properties)
	same("definition", s.Defs, o.Defs)
}
