package jithttp

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestKRLCache(t *testing.T) {
	var c krlCache
	var builds atomic.Int32
	build := func(ctx context.Context, res string) ([]byte, error) {
		builds.Add(1)
		time.Sleep(10 * time.Millisecond)
		if res == "bad" {
			return nil, errors.New("not found")
		}
		return []byte(res), nil
	}
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if b, err := c.get(context.Background(), "web", now, build); err != nil || string(b) != "web" {
				t.Errorf("get = %q, %v", b, err)
			}
		}()
	}
	wg.Wait()
	if n := builds.Load(); n != 1 {
		t.Fatalf("20 concurrent fetches built the list %d times, want 1", n)
	}
	c.get(context.Background(), "web", now.Add(krlTTL-time.Millisecond), build)
	if n := builds.Load(); n != 1 {
		t.Fatalf("a fetch within the TTL rebuilt the list")
	}
	c.get(context.Background(), "web", now.Add(krlTTL), build)
	if n := builds.Load(); n != 2 {
		t.Fatalf("a fetch after the TTL did not rebuild (%d builds)", n)
	}
	for range 2 {
		if _, err := c.get(context.Background(), "bad", now, build); err == nil {
			t.Fatal("an error was not returned")
		}
	}
	if n := builds.Load(); n != 4 {
		t.Fatalf("errors were cached (%d builds)", n)
	}
	if _, ok := c.entries["bad"]; ok {
		t.Fatal("a failed name is kept")
	}
}
