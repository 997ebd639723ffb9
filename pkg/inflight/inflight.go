// Package inflight tracks operations under way by key (a volume name or
// id), so that a second request for the same key can be refused with
// Aborted instead of racing the first one.
package inflight

import "sync"

// Set is a set of keys in flight. The zero value is ready to use.
type Set struct {
	mu   sync.Mutex
	keys map[string]struct{}
}

// Insert adds key and reports true, or reports false when key is already
// in flight.
func (s *Set) Insert(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys == nil {
		s.keys = map[string]struct{}{}
	}
	if _, ok := s.keys[key]; ok {
		return false
	}
	s.keys[key] = struct{}{}
	return true
}

// Delete removes key.
func (s *Set) Delete(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys, key)
}

// Len returns the number of keys in flight.
func (s *Set) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys)
}
