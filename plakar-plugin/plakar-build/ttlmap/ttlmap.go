// Package ttlmap is a small time-to-live map with the API plakar v1.1.4
// uses from go.omarpolo.com/ttlmap, whose module host the Go module proxy
// here does not serve. See ../README.md.
package ttlmap

import (
	"sync"
	"time"
)

type entry[V any] struct {
	value   V
	expires time.Time
}

// Map holds values that expire ttl after they were added.
type Map[K comparable, V any] struct {
	mu      sync.Mutex
	ttl     time.Duration
	entries map[K]entry[V]
}

func New[K comparable, V any](ttl time.Duration) *Map[K, V] {
	return &Map[K, V]{ttl: ttl, entries: make(map[K]entry[V])}
}

func (m *Map[K, V]) Add(key K, value V) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries[key] = entry[V]{value: value, expires: time.Now().Add(m.ttl)}
}

func (m *Map[K, V]) Get(key K) (V, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[key]
	if !ok || time.Now().After(e.expires) {
		var zero V
		return zero, false
	}
	return e.value, true
}

// AutoExpire drops expired entries in the background, once per ttl.
func (m *Map[K, V]) AutoExpire() {
	go func() {
		for range time.Tick(m.ttl) {
			m.mu.Lock()
			now := time.Now()
			for k, e := range m.entries {
				if now.After(e.expires) {
					delete(m.entries, k)
				}
			}
			m.mu.Unlock()
		}
	}()
}
