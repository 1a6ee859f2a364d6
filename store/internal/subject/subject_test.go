package subject

import (
	"reflect"
	"testing"

	"github.com/jitaccess/jit"
)

func TestRoundTrip(t *testing.T) {
	for _, r := range []jit.Request{
		{},
		{Target: "deployments.apps/default/web", TargetSummary: "get on deployments.apps web in default"},
		{SSHPublicKey: "ssh-ed25519 AAAA alice", Labels: []string{"gcp:multi-party"}, Peers: []string{"bob@example.com"}},
	} {
		text, err := Encode(&r)
		if err != nil {
			t.Fatal(err)
		}
		var got jit.Request
		if err := Decode([]byte(text), &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("round trip of %+v gave %+v (stored %s)", r, got, text)
		}
	}
}

func TestCanonical(t *testing.T) {
	a, _ := Encode(&jit.Request{Labels: []string{}})
	b, _ := Encode(&jit.Request{})
	if a != "{}" || b != "{}" {
		t.Errorf("empty subject encodes as %q and %q, want {}", a, b)
	}
}

func TestDecodeRefusesGarbage(t *testing.T) {
	var r jit.Request
	if err := Decode([]byte("not json"), &r); err == nil {
		t.Fatal("garbage decoded")
	}
}
