package waiter_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/fake"
	"github.com/openblock-csi/openblock-csi/pkg/cloud/waiter"
)

// learningOpts start checking early, as the defaults do, at a test's scale.
func learningOpts() waiter.Options {
	return waiter.Options{Mode: waiter.Batched, InitialDelay: 20 * time.Millisecond, MinStep: 20 * time.Millisecond,
		Coalesce: 30 * time.Millisecond, Interval: time.Second, MaxBackoff: time.Second}
}

// waitAll starts a wait for each volume at once and returns when all are
// done.
func waitAll(t *testing.T, w *waiter.Waiter, ids []string) {
	t.Helper()
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			v, err := w.WaitVolumeOp(context.Background(), waiter.OpCreate, id, waiter.VolumeReady(cloud.StatusAvailable))
			if err != nil || v.Status != cloud.StatusAvailable {
				t.Errorf("wait %s: %+v, %v", id, v, err)
			}
		})
	}
	wg.Wait()
}

// Once a create has been seen, the next create's wait checks the volume
// once, right after the cloud is done: no check before (a wasted call),
// none long after (latency).
func TestWaitCheckedWhenItsOperationIsLikelyDone(t *testing.T) {
	const took = 200 * time.Millisecond
	c := fake.New(fake.Config{Delay: took})
	w := waiter.New(c, learningOpts())
	defer w.Close()
	waitAll(t, w, []string{newVolume(t, c, "first").ID}) // learns how long a create takes
	for i := range 3 {
		c.ResetCalls()
		v := newVolume(t, c, fmt.Sprintf("v%d", i))
		start := time.Now()
		waitAll(t, w, []string{v.ID})
		waited := time.Since(start)
		if n := c.Calls("GetVolume"); n != 1 {
			t.Errorf("wait %d: %d GetVolume calls, want 1 (checked when done)", i, n)
		}
		if limit := took + took/2; waited > limit {
			t.Errorf("wait %d took %v for a %v create", i, waited, took)
		}
	}
}

// Waits that fall due together share one listing; waits due apart are
// each checked on their own, none held back for the other.
func TestWaitsDueTogetherShareOneListing(t *testing.T) {
	c := fake.New(fake.Config{Delay: 150 * time.Millisecond})
	w := waiter.New(c, learningOpts())
	defer w.Close()
	waitAll(t, w, []string{newVolume(t, c, "first").ID})

	c.ResetCalls()
	var ids []string
	for i := range 5 { // with the 2 below, fewer than a probe's turn: all first checked when due
		ids = append(ids, newVolume(t, c, fmt.Sprintf("together%d", i)).ID)
	}
	waitAll(t, w, ids)
	if l, g := c.Calls("ListVolumes"), c.Calls("GetVolume"); l != 1 || g != 0 {
		t.Errorf("5 waits due together: %d listings and %d Gets, want one listing", l, g)
	}

	c.ResetCalls()
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			time.Sleep(time.Duration(i) * 100 * time.Millisecond) // due 100ms apart
			waitAll(t, w, []string{newVolume(t, c, fmt.Sprintf("apart%d", i)).ID})
		})
	}
	wg.Wait()
	if l, g := c.Calls("ListVolumes"), c.Calls("GetVolume"); l != 0 || g != 2 {
		t.Errorf("2 waits due apart: %d listings and %d Gets, want a Get each", l, g)
	}
}

// When fewer waits are due than a listing takes pages, each is checked
// with a Get: in a project of 40 volumes listed 5 a page, 3 waits cost 3
// calls, not 8.
func TestFewDueWaitsAreCheckedWithGetsWhenAListingTakesMorePages(t *testing.T) {
	c := fake.New(fake.Config{Delay: 100 * time.Millisecond, MaxPage: 5})
	opts := learningOpts()
	opts.PageLimit = 5
	w := waiter.New(c, opts)
	defer w.Close()
	var ids []string
	for i := range 37 {
		ids = append(ids, newVolume(t, c, fmt.Sprintf("idle%d", i)).ID)
	}
	waitAll(t, w, ids) // lists, and learns a listing takes 8 pages

	c.ResetCalls()
	ids = nil
	for i := range 3 {
		ids = append(ids, newVolume(t, c, fmt.Sprintf("v%d", i)).ID)
	}
	waitAll(t, w, ids)
	if l, g := c.Calls("ListVolumes"), c.Calls("GetVolume"); l != 0 || g != 3 {
		t.Errorf("3 waits due, listing 8 pages: %d list calls and %d Gets, want 3 Gets", l, g)
	}
}
