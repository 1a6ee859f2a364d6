package privileges

import (
	"reflect"
	"testing"

	"github.com/jitaccess/jit"
)

func TestRoundTrip(t *testing.T) {
	ps := []jit.Privilege{
		{Action: "UPDATE", Schema: "public", Table: "orders", Columns: []string{"total", "note"}},
		{Action: "SELECT", Schema: "sales", Table: "orders"},
	}
	s, err := Encode(ps)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, ps) {
		t.Fatalf("Decode(Encode(ps)) = %+v, want %+v", got, ps)
	}
}

// The form is canonical: equal privileges encode to equal text whichever
// empty form (nil or empty) they came in, and differing ones do not.
func TestCanonical(t *testing.T) {
	enc := func(ps []jit.Privilege) string {
		t.Helper()
		s, err := Encode(ps)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if a, b := enc(nil), enc([]jit.Privilege{}); a != "[]" || b != "[]" {
		t.Fatalf("no privileges encode as %q and %q, want []", a, b)
	}
	p := jit.Privilege{Action: "SELECT", Schema: "public", Table: "t"}
	q := p
	q.Columns = []string{}
	if a, b := enc([]jit.Privilege{p}), enc([]jit.Privilege{q}); a != b {
		t.Fatalf("nil and empty columns encode differently: %q, %q", a, b)
	}
	r := p
	r.Columns = []string{"a"}
	if a, b := enc([]jit.Privilege{p}), enc([]jit.Privilege{r}); a == b {
		t.Fatalf("different columns encode the same: %q", a)
	}
	for _, s := range []string{"[]", "null"} {
		if got, err := Decode([]byte(s)); err != nil || got != nil {
			t.Fatalf("Decode(%s) = %#v, %v, want nil", s, got, err)
		}
	}
	got, err := Decode([]byte(`[{"action":"SELECT","schema":"s","table":"t","columns":[]}]`))
	if err != nil || len(got) != 1 || got[0].Columns != nil {
		t.Fatalf("Decode with empty columns = %#v, %v", got, err)
	}
	if _, err := Decode([]byte(`{"action":"SELECT"}`)); err == nil {
		t.Fatal("Decode accepted an object")
	}
}
