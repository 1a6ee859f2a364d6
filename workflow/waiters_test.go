package workflow

import (
	"testing"
	"time"
)

func TestWaitersWakeAndForget(t *testing.T) {
	w := newWaiters()
	ch1, rel1 := w.subscribe("a")
	ch2, rel2 := w.subscribe("a")
	_, relB := w.subscribe("b")
	w.notify("a")
	for _, ch := range []<-chan struct{}{ch1, ch2} {
		select {
		case <-ch:
		case <-time.After(time.Second):
			t.Fatal("a change did not wake a waiter")
		}
	}
	rel1()
	rel2()
	relB() // b never changed: releasing must forget it
	if n := w.len(); n != 0 {
		t.Fatalf("%d entries left after every waiter released", n)
	}
	// A waiter subscribing after a change gets a fresh channel.
	ch3, rel3 := w.subscribe("a")
	defer rel3()
	select {
	case <-ch3:
		t.Fatal("a new subscription was already closed")
	default:
	}
}
