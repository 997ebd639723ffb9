package waiter

import (
	"context"

	"github.com/openblock-csi/openblock-csi/pkg/cloud"
)

// maxListPages bounds a listing walk, in case a cloud's markers loop.
const maxListPages = 10000

// ListAll walks every page of a listing, limit items a page, and returns
// the items and how many calls it took.
func ListAll[T any](ctx context.Context, list func(context.Context, cloud.ListOptions) (cloud.Page[T], error), opts cloud.ListOptions, limit int) ([]T, int, error) {
	var items []T
	calls := 0
	opts.Limit = limit
	for range maxListPages {
		page, err := list(ctx, opts)
		calls++
		if err != nil {
			return nil, calls, err
		}
		items = append(items, page.Items...)
		if page.NextMarker == "" || page.NextMarker == opts.Marker || len(page.Items) == 0 {
			break
		}
		opts.Marker = page.NextMarker
	}
	return items, calls, nil
}
