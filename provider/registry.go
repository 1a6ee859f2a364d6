package provider

import (
	"fmt"
	"sort"
	"sync"
)

var (
	registryMu sync.RWMutex
	registry   = map[string]Factory{}
)

// Register makes a provider type available by name. It panics when name is
// empty, factory is nil, or the name is already registered, as
// database/sql.Register does: these are programming errors.
func Register(name string, factory Factory) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if name == "" || factory == nil {
		panic("provider: Register with empty name or nil factory")
	}
	if _, dup := registry[name]; dup {
		panic("provider: Register called twice for " + name)
	}
	registry[name] = factory
}

// New builds the provider for r using the factory registered for r.Type.
func New(r Resource) (Provider, error) {
	registryMu.RLock()
	f, ok := registry[r.Type]
	registryMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown provider type %q (known: %v)", r.Type, Types())
	}
	p, err := f(r)
	if err != nil {
		return nil, fmt.Errorf("provider %s for resource %s: %w", r.Type, r.Name, err)
	}
	return p, nil
}

// Types lists the registered provider type names, sorted.
func Types() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
