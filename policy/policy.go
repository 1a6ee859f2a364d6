package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/provider"
)

// Policy is one loaded, validated jit.yaml. It is immutable; a reload builds
// a new Policy and swaps it in a Holder.
type Policy struct {
	name   string
	digest string
	server ServerConfig

	// admins holds lowercased emails, adminGrps group names.
	admins    map[string]bool
	adminGrps map[string]bool
	// people maps each known (lowercased) email to its sorted groups, from
	// identities and groups together; members is the reverse index and
	// known the sorted list of every known email.
	people  map[string][]string
	names   map[string]string
	members map[string][]string
	known   []string

	resources  []*resource
	byName     map[string]*resource
	rules      []*rule
	ruleByName map[string]*rule
	providers  map[string]provider.Provider
	// routes maps a forward-auth route ("host prefix") to its resource,
	// only while loading, to refuse two resources guarding one route.
	routes map[string]string
	// exclusive maps what a provider may not share with another resource
	// (provider.Exclusive) to the resource holding it.
	exclusive map[string]string

	closeOnce sync.Once
	closeErr  error
}

// Problem is one error in a config file, with its line.
type Problem struct {
	Line    int    `json:"line"`
	Message string `json:"message"`
}

// LoadError lists every problem found in a config file.
type LoadError struct {
	File     string
	Problems []Problem
}

func (e *LoadError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = fmt.Sprintf("%s:%d: %s", e.File, p.Line, p.Message)
	}
	return strings.Join(lines, "\n")
}

// Server returns the server settings with defaults applied.
func (p *Policy) Server() ServerConfig {
	s := p.server
	if s.Proxy != nil {
		pc := *s.Proxy
		s.Proxy = &pc
	}
	if s.OIDC != nil {
		oc := *s.OIDC
		oc.Scopes = slices.Clone(oc.Scopes)
		s.OIDC = &oc
	}
	if s.PagerDuty != nil {
		pc := *s.PagerDuty
		s.PagerDuty = &pc
	}
	return s
}

// Digest is the SHA-256 hex of the config bytes (recorded on reload).
func (p *Policy) Digest() string { return p.digest }

// Name is the name the config was parsed under (its path for Load).
func (p *Policy) Name() string { return p.name }

// Identity returns what config knows of email: its groups (from identities
// and groups, sorted) and whether it is an admin. Unknown emails get no
// groups. The email is compared case-insensitively and returned lowercased.
func (p *Policy) Identity(email string) jit.Identity {
	e := normEmail(email)
	gs := p.people[e]
	return jit.Identity{Email: e, Groups: append(make([]string, 0, len(gs)), gs...), Admin: p.isAdmin(e, gs)}
}

// IsAdmin reports whether email, or one of groups (config groups and
// groups asserted by a credential alike), is listed in admins.
func (p *Policy) IsAdmin(email string, groups []string) bool {
	e := normEmail(email)
	return p.isAdmin(e, groups, p.people[e])
}

// DisplayName is the name identities[].name gives email, or "".
func (p *Policy) DisplayName(email string) string { return p.names[normEmail(email)] }

// isAdmin reports whether email, or one of groups, is listed in admins.
func (p *Policy) isAdmin(email string, groups ...[]string) bool {
	if p.admins[email] {
		return true
	}
	for _, gs := range groups {
		for _, g := range gs {
			if p.adminGrps[g] {
				return true
			}
		}
	}
	return false
}

// Resource returns a configured resource. Its Settings are a copy.
func (p *Policy) Resource(name string) (ResourceInfo, bool) {
	r, ok := p.byName[name]
	if !ok {
		return ResourceInfo{}, false
	}
	return r.info(), true
}

// Resources lists all configured resources in file order.
func (p *Policy) Resources() []ResourceInfo {
	out := make([]ResourceInfo, len(p.resources))
	for i, r := range p.resources {
		out[i] = r.info()
	}
	return out
}

func (r *resource) info() ResourceInfo {
	return ResourceInfo{
		Name:          r.name,
		Description:   r.description,
		Provider:      r.providerType,
		Settings:      copyMap(r.settings),
		Access:        append([]string(nil), r.access...),
		DefaultAccess: r.defaultAccess,
		Labels:        copyStrMap(r.labels),
	}
}

// copyMap deep-copies decoded YAML so that callers cannot change the
// settings a provider was built from.
func copyMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = copyValue(v)
	}
	return out
}

func copyValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return copyMap(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = copyValue(e)
		}
		return out
	}
	return v
}

func copyStrMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Provider returns the provider instance built for resource.
func (p *Policy) Provider(resource string) (provider.Provider, bool) {
	prov, ok := p.providers[resource]
	return prov, ok
}

// Close releases providers that implement provider.Closer. It is
// idempotent: later calls return the first call's result. The policy's
// decisions keep working after Close; only its providers are gone.
func (p *Policy) Close() error {
	p.closeOnce.Do(func() { p.closeErr = p.closeProviders() })
	return p.closeErr
}

func (p *Policy) closeProviders() error {
	var errs []error
	for _, r := range p.resources {
		if c, ok := p.providers[r.name].(provider.Closer); ok {
			if err := c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close provider of resource %s: %w", r.name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Holder holds the current policy for concurrent readers.
type Holder struct{ cur atomic.Pointer[Policy] }

// NewHolder returns a Holder holding p.
func NewHolder(p *Policy) *Holder { h := &Holder{}; h.cur.Store(p); return h }

// Get returns the current policy.
func (h *Holder) Get() *Policy { return h.cur.Load() }

// Swap installs p and returns the previous policy.
func (h *Holder) Swap(p *Policy) *Policy { return h.cur.Swap(p) }

// WatchOptions configures Watch.
type WatchOptions struct {
	// Interval between checks of the file (default 2s); fsnotify events
	// trigger an earlier check where available.
	Interval time.Duration
	// OnReload is called after a new valid policy is installed, with the
	// old one (which the callback may Close when done with it).
	OnReload func(old, new *Policy)
	// OnError is called when the changed file is invalid; the old policy
	// stays in force.
	OnError func(err error)
}
