package jit_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit"
)

func TestRequestJSONRoundTrip(t *testing.T) {
	exp := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	in := jit.Request{ID: "r1", Requester: "a@x", Duration: 90 * time.Minute, Status: jit.StatusActive, ExpiresAt: &exp}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["duration"] != "1h30m0s" || m["duration_seconds"] != float64(5400) || m["status"] != "active" {
		t.Fatalf("unexpected JSON %s", b)
	}
	var out jit.Request
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.Duration != in.Duration || out.ID != "r1" || !out.ExpiresAt.Equal(exp) {
		t.Fatalf("round trip lost data: %+v", out)
	}
}

func TestAuditHashDetectsChange(t *testing.T) {
	e := jit.AuditEvent{Time: time.Now(), Actor: "a", Action: jit.ActionSubmit, Details: map[string]string{"k": "v"}}
	e.Seal(0, "")
	h := e.Hash
	if e.ComputeHash() != h {
		t.Fatal("hash not stable")
	}
	e.Details["k"] = "w"
	if e.ComputeHash() == h {
		t.Fatal("changed details kept the hash")
	}
	e.Details["k"] = "v"
	e.Actor = "ab"
	e.Action = jit.ActionSubmit[1:]
	if e.ComputeHash() == h {
		t.Fatal("moved bytes between fields kept the hash")
	}
}

func TestRequestJSONListsAreArrays(t *testing.T) {
	b, err := json.Marshal(jit.Request{ID: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); !strings.Contains(s, `"approvals":[]`) || !strings.Contains(s, `"approvers":[]`) {
		t.Fatalf("nil lists not written as arrays: %s", s)
	}
}
