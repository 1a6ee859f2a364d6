package client

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"testing"

	"github.com/jitaccess/jit"
)

func TestCredentialEndpoints(t *testing.T) {
	pk := jit.PublicKey{Email: "alice@example.com", Key: "age1xyz", CreatedAt: t0}
	env := jit.CredentialEnvelope{RequestID: "req/1 x", Recipient: "age1xyz", Kind: "password",
		Envelope: "-----BEGIN AGE ENCRYPTED FILE-----\n...\n-----END AGE ENCRYPTED FILE-----\n", CreatedAt: t0}
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.Method + " " + r.URL.EscapedPath() {
		case "PUT /api/v1/me/public-key", "GET /api/v1/me/public-key":
			writeJSON(w, 200, pk)
		case "GET /api/v1/requests/req%2F1%20x/credential":
			writeJSON(w, 200, env)
		default:
			writeProblem(w, 404, "not_found", "no such endpoint", "")
		}
	})
	c := newClient(t, f)
	ctx := context.Background()

	got, err := c.RegisterPublicKey(ctx, "age1xyz")
	if err != nil || !reflect.DeepEqual(got, pk) {
		t.Errorf("RegisterPublicKey = %+v, %v", got, err)
	}
	if l := f.last(t); l.Method != "PUT" || !reflect.DeepEqual(l.Body, map[string]any{"public_key": "age1xyz"}) {
		t.Errorf("RegisterPublicKey sent %s %v", l.Method, l.Body)
	}

	got, err = c.PublicKey(ctx)
	if err != nil || !reflect.DeepEqual(got, pk) {
		t.Errorf("PublicKey = %+v, %v", got, err)
	}
	if l := f.last(t); l.Method != "GET" || l.Path != "/api/v1/me/public-key" || l.RawBody != "" {
		t.Errorf("PublicKey sent %s %s %q", l.Method, l.Path, l.RawBody)
	}

	// The ID is one path segment, however odd.
	gotEnv, err := c.Credential(ctx, "req/1 x")
	if err != nil || !reflect.DeepEqual(gotEnv, env) {
		t.Errorf("Credential = %+v, %v", gotEnv, err)
	}
	for _, id := range []string{"", " ", ".", ".."} {
		n := f.count()
		if _, err := c.Credential(ctx, id); jit.ErrorCode(err) != jit.ECodeInvalid {
			t.Errorf("Credential(%q) = %v, want %s", id, err, jit.ECodeInvalid)
		}
		if f.count() != n {
			t.Errorf("Credential(%q) called the server", id)
		}
	}
}

func TestCredentialErrors(t *testing.T) {
	tests := []struct {
		status int
		code   string
	}{
		{404, "not_found"}, {403, "forbidden"}, {409, "not_active"}, {400, "invalid_public_key"},
	}
	for _, tt := range tests {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
			writeProblem(w, tt.status, tt.code, "nope", "")
		})
		c := newClient(t, f)
		ctx := context.Background()
		_, err1 := c.PublicKey(ctx)
		_, err2 := c.RegisterPublicKey(ctx, "age1xyz")
		_, err3 := c.Credential(ctx, "req_1")
		for i, err := range []error{err1, err2, err3} {
			var e *Error
			if !IsCode(err, tt.code) || !errors.As(err, &e) || e.Status != tt.status {
				t.Errorf("call %d with %d %s: %v", i, tt.status, tt.code, err)
			}
		}
	}
}
