package waiter

import (
	"context"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// maxListPages bounds a listing walk, in case a cloud's markers loop.
const maxListPages = 10000

// maxListRestarts bounds how often a walk starts over because the item
// its marker named was deleted meanwhile.
const maxListRestarts = 3

// ListAll walks every page of a listing, limit items a page, and returns
// the items and how many calls it took. A walk whose marker was deleted
// between two pages (the cloud answers not found) starts over: in a busy
// project a walk of many pages often outlives the item ending a page.
func ListAll[T any](ctx context.Context, list func(context.Context, cloud.ListOptions) (cloud.Page[T], error), opts cloud.ListOptions, limit int) ([]T, int, error) {
	return ListKeep(ctx, list, opts, limit, nil)
}

// ListKeep is ListAll keeping only the items keep accepts (all when keep
// is nil): a poll over a project of thousands of volumes needs the few it
// waits for, not all of them in memory at once. opts.Keep, when set, lets
// the provider drop the others before converting them; a page may then
// come back empty with more to follow.
func ListKeep[T any](ctx context.Context, list func(context.Context, cloud.ListOptions) (cloud.Page[T], error), opts cloud.ListOptions, limit int, keep func(*T) bool) ([]T, int, error) {
	items, calls, _, err := walk(ctx, list, opts, limit, keep, nil)
	return items, calls, err
}

// ListWanted walks a listing for the items whose ids are in want and
// stops once it has seen every one of them: only a wanted item that is
// missing needs the walk to the end, where its absence is the answer.
// Listed newest first, as Cinder lists by default, the volumes a burst
// of requests waits for are on the first page of a project of
// thousands, not spread over all of its pages. complete says whether the
// walk reached the end.
func ListWanted[T any](ctx context.Context, list func(context.Context, cloud.ListOptions) (cloud.Page[T], error), limit int, want map[string]bool, id func(*T) string) (items []T, calls int, complete bool, err error) {
	opts := cloud.ListOptions{Keep: func(id, _ string) bool { return want[id] }}
	keep := func(it *T) bool { return want[id(it)] }
	seenAll := func(items []T) bool {
		seen := make(map[string]bool, len(want))
		for i := range items {
			seen[id(&items[i])] = true
		}
		return len(seen) == len(want)
	}
	return walk(ctx, list, opts, limit, keep, seenAll)
}

// walk is ListKeep stopping early, after a page, when stop (if set)
// says the items kept so far are enough; complete is false then.
func walk[T any](ctx context.Context, list func(context.Context, cloud.ListOptions) (cloud.Page[T], error), opts cloud.ListOptions, limit int, keep func(*T) bool, stop func([]T) bool) (items []T, calls int, complete bool, err error) {
	restarts := 0
	opts.Limit = limit
	first := opts.Marker
	for range maxListPages {
		page, err := list(ctx, opts)
		calls++
		if err != nil && cloud.IsNotFound(err) && opts.Marker != first && restarts < maxListRestarts {
			restarts++
			items, opts.Marker = nil, first
			continue
		}
		if err != nil {
			return nil, calls, false, err
		}
		for i := range page.Items {
			if keep == nil || keep(&page.Items[i]) {
				items = append(items, page.Items[i])
			}
		}
		if page.NextMarker == "" || page.NextMarker == opts.Marker || (len(page.Items) == 0 && opts.Keep == nil) {
			return items, calls, true, nil
		}
		if stop != nil && stop(items) {
			return items, calls, false, nil
		}
		opts.Marker = page.NextMarker
	}
	return items, calls, true, nil
}
