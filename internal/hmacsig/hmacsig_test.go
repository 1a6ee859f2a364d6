package hmacsig

import (
	"errors"
	"strconv"
	"testing"
	"time"
)

func TestSignVerify(t *testing.T) {
	secret, old := []byte("0123456789abcdef0123456789abcdef"), []byte("an older secret, still accepted!")
	now := time.Unix(1_800_000_000, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	body := []byte(`{"id":"n1"}`)
	sig := Sign(secret, ts, body)
	if err := Verify(secret, ts, sig, body, now, 0); err != nil {
		t.Fatalf("own signature: %v", err)
	}
	// Rotation: the old and the new secret's signatures side by side.
	if err := Verify(secret, ts, Sign(old, ts, body)+", "+sig, body, now, 0); err != nil {
		t.Fatalf("rotation: %v", err)
	}
	for _, c := range []struct {
		name          string
		secret        []byte
		ts, sig, body string
		now           time.Time
		want          error
	}{
		{"no secret", nil, ts, sig, string(body), now, ErrNoSecret},
		{"tampered body", secret, ts, sig, `{"id":"n2"}`, now, ErrMismatch},
		{"tampered timestamp", secret, strconv.FormatInt(now.Unix()+1, 10), sig, string(body), now, ErrMismatch},
		{"wrong secret", old, ts, sig, string(body), now, ErrMismatch},
		{"stale", secret, ts, sig, string(body), now.Add(6 * time.Minute), ErrStale},
		{"from the future", secret, ts, sig, string(body), now.Add(-6 * time.Minute), ErrStale},
		{"bad timestamp", secret, "yesterday", sig, string(body), now, ErrMalformed},
		{"no v1", secret, ts, "v2=abcd", string(body), now, ErrMalformed},
		{"bad hex", secret, ts, "v1=zz", string(body), now, ErrMalformed},
	} {
		if err := Verify(c.secret, c.ts, c.sig, []byte(c.body), c.now, 0); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}
