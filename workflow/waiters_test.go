package workflow

import (
	"testing"
	"time"

	"github.com/jitaccess/jit"
)

func TestWaitersWakeAndForget(t *testing.T) {
	w := newWaiters()
	h1, h2, hb := w.hold("a"), w.hold("a"), w.hold("b")
	ch1, gen1, _ := h1.state()
	ch2, _, _ := h2.state()
	w.notify("a", &jit.Request{ID: "a", Version: 3})
	for _, ch := range []<-chan struct{}{ch1, ch2} {
		select {
		case <-ch:
		case <-time.After(time.Second):
			t.Fatal("a change did not wake a waiter")
		}
	}
	_, gen, latest := h1.state()
	if gen != gen1+1 || latest == nil || latest.Version != 3 {
		t.Fatalf("after one change: gen %d (was %d), latest %+v", gen, gen1, latest)
	}
	// A change while the caller is busy is seen before it waits again,
	// and one without a snapshot says so (nil).
	w.notify("a", nil)
	ch, gen2, latest := h1.state()
	if gen2 != gen+1 || latest != nil {
		t.Fatalf("after a second change: gen %d, latest %+v; want %d, nil", gen2, latest, gen+1)
	}
	select {
	case <-ch:
		t.Fatal("the channel for the next change is already closed")
	default:
	}
	h1.release()
	h2.release()
	hb.release() // b never changed: releasing must forget it
	if n := w.len(); n != 0 {
		t.Fatalf("%d entries left after every waiter released", n)
	}
	// Nobody waiting: a change is dropped, and a new hold starts afresh.
	w.notify("a", nil)
	h3 := w.hold("a")
	defer h3.release()
	if _, gen, latest := h3.state(); gen != 0 || latest != nil {
		t.Fatalf("new hold: gen %d, latest %+v", gen, latest)
	}
}
