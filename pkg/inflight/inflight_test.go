package inflight

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestInsertDelete(t *testing.T) {
	var s Set
	if !s.Insert("a") {
		t.Fatal("first insert refused")
	}
	if s.Insert("a") {
		t.Fatal("second insert of a key in flight accepted")
	}
	if !s.Insert("b") {
		t.Fatal("other key refused")
	}
	s.Delete("a")
	if !s.Insert("a") {
		t.Fatal("insert after delete refused")
	}
	if s.Len() != 2 {
		t.Fatalf("Len = %d, want 2", s.Len())
	}
}

func TestConcurrentInsertOneWins(t *testing.T) {
	var s Set
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			if s.Insert("k") {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d concurrent inserts won, want 1", wins.Load())
	}
}
