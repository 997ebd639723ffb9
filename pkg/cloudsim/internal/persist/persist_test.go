package persist

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// owner is a state guarded by its own lock, as the simulator's.
type owner struct {
	mu sync.Mutex
	n  map[string]int
	c  *Committer
}

func newOwner(t *testing.T) (*owner, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.json")
	o := &owner{n: map[string]int{}}
	o.c = New(path, &o.mu, func() ([]byte, error) { return json.Marshal(o.n) })
	t.Cleanup(func() { _ = o.c.Close() })
	return o, path
}

// set changes one key and returns the generation to wait for.
func (o *owner) set(k string, v int) uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n[k] = v
	return o.c.MarkDirty()
}

func readState(t *testing.T, path string) map[string]int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]int
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("state file: %v", err)
	}
	return m
}

func TestWaitReturnsOnceTheChangeIsOnDisk(t *testing.T) {
	o, path := newOwner(t)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			gen := o.set("k"+strconv.Itoa(i), i)
			if err := o.c.Wait(gen); err != nil {
				t.Errorf("wait: %v", err)
				return
			}
			// What a crash would leave: the file as it is now.
			if got, ok := readState(t, path)["k"+strconv.Itoa(i)]; !ok || got != i {
				t.Errorf("k%d acknowledged but on disk %v, %v", i, got, ok)
			}
		})
	}
	wg.Wait()
}

func TestOneWriteCoversConcurrentChanges(t *testing.T) {
	o, _ := newOwner(t)
	var writes atomic.Int64
	o.c.SetWrite(func(path string, data []byte) error {
		writes.Add(1)
		time.Sleep(5 * time.Millisecond) // an fsync
		return WriteFile(path, data)
	})
	const n = 100
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := o.c.Wait(o.set("k"+strconv.Itoa(i), i)); err != nil {
				t.Errorf("wait: %v", err)
			}
		})
	}
	wg.Wait()
	if w := writes.Load(); w < 1 || w > n/4 {
		t.Fatalf("%d writes for %d changes, want at most %d", w, n, n/4)
	}
	t.Logf("%d writes for %d changes", writes.Load(), n)
}

func TestWriteIsOutsideTheOwnersLock(t *testing.T) {
	o, _ := newOwner(t)
	entered, release := make(chan struct{}), make(chan struct{})
	var first sync.Once
	o.c.SetWrite(func(path string, data []byte) error {
		first.Do(func() { close(entered) })
		<-release
		return WriteFile(path, data)
	})
	waited := make(chan error, 1)
	go func() { waited <- o.c.Wait(o.set("a", 1)) }()
	<-entered
	// The lock is free while the file is written: more changes are made.
	locked := make(chan struct{})
	go func() {
		o.set("b", 2)
		close(locked)
	}()
	select {
	case <-locked:
	case <-time.After(5 * time.Second):
		close(release)
		t.Fatal("the owner's lock is held during the write")
	}
	select {
	case err := <-waited:
		close(release)
		t.Fatalf("Wait returned (%v) before the write finished", err)
	default:
	}
	close(release)
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
}

func TestFailedWriteIsReportedAndRetried(t *testing.T) {
	o, path := newOwner(t)
	o.c.SetWrite(func(string, []byte) error { return errors.New("disk full") })
	if err := o.c.Wait(o.set("a", 1)); err == nil || err.Error() != "disk full" {
		t.Fatalf("wait = %v, want disk full", err)
	}
	o.c.SetWrite(WriteFile)
	// The failed change is still pending: the next write carries it.
	if err := o.c.Wait(o.set("b", 2)); err != nil {
		t.Fatal(err)
	}
	if m := readState(t, path); m["a"] != 1 || m["b"] != 2 {
		t.Fatalf("on disk %v", m)
	}
}

func TestCloseWritesPendingChanges(t *testing.T) {
	o, path := newOwner(t)
	// The background writer fails, so the change is pending at Close.
	failed := make(chan struct{})
	var once sync.Once
	o.c.SetWrite(func(string, []byte) error {
		once.Do(func() { close(failed) })
		return errors.New("not now")
	})
	o.set("a", 1)
	<-failed
	o.c.SetWrite(WriteFile)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("state file before Close: %v", err)
	}
	if err := o.c.Close(); err != nil {
		t.Fatal(err)
	}
	if m := readState(t, path); m["a"] != 1 {
		t.Fatalf("after Close on disk %v", m)
	}
	// Changes after Close are still written by whoever waits for them.
	if err := o.c.Wait(o.set("b", 2)); err != nil {
		t.Fatal(err)
	}
	if m := readState(t, path); m["b"] != 2 {
		t.Fatalf("after a late change on disk %v", m)
	}
	if err := o.c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestBackgroundWriterSavesUnwaitedChanges(t *testing.T) {
	o, path := newOwner(t)
	o.set("timer", 7)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil {
			var m map[string]int
			if json.Unmarshal(b, &m) == nil && m["timer"] == 7 {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("a change nobody waited for was not written")
}
