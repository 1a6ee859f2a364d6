package workflow

import "testing"

func TestChangeHub(t *testing.T) {
	var h changeHub
	a, b := h.subscribe(1), h.subscribe(4)
	h.publish("r1")
	h.publish("r2")
	if got := <-a.C; got != "r1" {
		t.Fatalf("a got %q, want r1", got)
	}
	if !a.Lagged() || a.Lagged() {
		t.Fatal("a full subscriber must be told once that it lagged")
	}
	if got1, got2 := <-b.C, <-b.C; got1 != "r1" || got2 != "r2" || b.Lagged() {
		t.Fatalf("b got %q, %q (lagged %v)", got1, got2, b.Lagged())
	}
	b.Close()
	h.publish("r3")
	select {
	case id := <-b.C:
		t.Fatalf("a closed subscription got %q", id)
	default:
	}
	if got := <-a.C; got != "r3" {
		t.Fatalf("a got %q, want r3", got)
	}
}
