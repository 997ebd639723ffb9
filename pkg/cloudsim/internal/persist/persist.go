// Package persist writes a simulator's state file by group commit: a change
// is recorded under the owner's state lock (MarkDirty, cheap), and the file
// is written and fsynced outside that lock, one write covering every change
// made since the previous one. A caller that must not answer before its
// change is on disk waits for it (Wait), as a database client waits for its
// commit; other requests go on meanwhile.
package persist

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"time"

	"k8s.io/klog/v2"
)

// Committer persists one state file.
type Committer struct {
	path    string
	lock    sync.Locker            // the owner's state lock
	marshal func() ([]byte, error) // encodes the state as JSON; called with lock held

	// writeMu makes one writer at a time; the waiter holding it writes for
	// every change recorded so far, so the waiters queued behind it usually
	// find their change already on disk.
	writeMu sync.Mutex
	write   func(path string, data []byte) error

	mu      sync.Mutex
	dirty   uint64 // generation of the newest change
	durable uint64 // newest generation on disk

	kick chan struct{} // wakes the background writer
	stop chan struct{}
	done chan struct{}
}

// New returns a Committer of path. lock is the owner's state lock and
// marshal encodes the state as JSON; the Committer calls marshal with lock
// held and indents its output (for people reading the file) after
// releasing it. A background writer saves the changes no request waits for
// (timer-driven status transitions) until Close.
func New(path string, lock sync.Locker, marshal func() ([]byte, error)) *Committer {
	c := &Committer{
		path: path, lock: lock, marshal: marshal, write: WriteFile,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go c.background()
	return c
}

// settle is how long the background writer lets changes gather before it
// writes them: status transitions end by the hundred per second when a
// thousand volumes move at once, and a write costs the whole state. No
// one waits for these changes (a request that must waits itself), and a
// transition lost in a crash is made again on restart.
const settle = 20 * time.Millisecond

func (c *Committer) background() {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
		}
		select {
		case <-c.stop:
			return // Close writes what is left
		case <-time.After(settle):
		}
		// The change stays dirty on failure: the next Wait (or Close)
		// writes it again.
		if err := c.Wait(c.generation()); err != nil {
			klog.ErrorS(err, "saving simulator state", "path", c.path)
		}
	}
}

// MarkDirty records a change and returns its generation, for Wait. The
// caller holds the owner's lock and made the change under it, so that a
// state encoded later (under the same lock) includes the change.
func (c *Committer) MarkDirty() uint64 {
	c.mu.Lock()
	c.dirty++
	gen := c.dirty
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	return gen
}

// Wait returns once generation gen is on disk, writing it if no one else
// has; the error is that of the write that should have covered gen. The
// caller must not hold the owner's lock.
func (c *Committer) Wait(gen uint64) error {
	if c.isDurable(gen) {
		return nil
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.isDurable(gen) {
		return nil // a writer before us covered it
	}
	c.lock.Lock()
	upTo := c.generation()
	data, err := c.marshal()
	c.lock.Unlock()
	if err == nil {
		// Written as marshalled: indenting a state of 11,000 volumes for
		// every write cost as much as marshalling it (jq reads it fine).
		err = c.write(c.path, data)
	}
	if err != nil {
		return err
	}
	c.mu.Lock()
	if upTo > c.durable {
		c.durable = upTo
	}
	c.mu.Unlock()
	return nil
}

// Close stops the background writer and writes what is not on disk yet.
// Wait still works afterwards (the caller writes), so late requests keep
// their guarantee. The caller must not hold the owner's lock.
func (c *Committer) Close() error {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	<-c.done
	return c.Wait(c.generation())
}

// SetWrite replaces the function that writes the file (default WriteFile).
func (c *Committer) SetWrite(fn func(path string, data []byte) error) {
	c.writeMu.Lock()
	c.write = fn
	c.writeMu.Unlock()
}

func (c *Committer) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dirty
}

func (c *Committer) isDurable(gen uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.durable >= gen
}

// WriteFile replaces path with data atomically and durably: temporary file,
// fsync, rename, and an fsync of the directory so that the rename itself
// survives a crash.
func WriteFile(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	err = errors.Join(err, f.Close())
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
