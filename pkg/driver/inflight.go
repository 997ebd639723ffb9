package driver

import "github.com/openblock-csi/openblock-csi/pkg/inflight"

// hold takes key (a volume or snapshot name or id, prefixed by what it
// guards) for an operation under way and returns the func that lets it
// go. While it is held a second request for it answers Aborted, naming
// what, instead of racing the first.
func hold(keys *inflight.Set, key, what string) (release func(), err error) {
	if !keys.Insert(key) {
		return nil, aborted(what)
	}
	return func() { keys.Delete(key) }, nil
}
