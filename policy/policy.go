package policy

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/provider"
)

// Policy is one loaded, validated jit.yaml. It is immutable; a reload builds
// a new Policy and swaps it in a Holder.
type Policy struct {
	// implementation fields go here
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

// Parse parses and validates a config. name is used in error messages. On
// any problem it returns a *LoadError listing all problems found.
func Parse(name string, data []byte) (*Policy, error) { panic("unimplemented") }

// Load reads and parses the config file at path.
func Load(path string) (*Policy, error) { panic("unimplemented") }

// Server returns the server settings with defaults applied.
func (p *Policy) Server() ServerConfig { panic("unimplemented") }

// Digest is the SHA-256 hex of the config bytes (recorded on reload).
func (p *Policy) Digest() string { panic("unimplemented") }

// Decide decides whether in may be requested and how it is approved.
func (p *Policy) Decide(in Input) Decision { panic("unimplemented") }

// CheckApprover decides whether approver may approve (or deny) req now:
// the request must still be allowed by this policy and the approver must be
// eligible under the rule that allows it (users, groups, or peers: others
// eligible to request under the same rule), and not the requester unless
// the rule allows self-approval.
func (p *Policy) CheckApprover(approver jit.Identity, req *jit.Request, now time.Time) ApproveCheck {
	panic("unimplemented")
}

// Offers lists what id may request.
func (p *Policy) Offers(id jit.Identity, now time.Time) []Offer { panic("unimplemented") }

// Identity returns what config knows of email: its groups (from identities
// and groups) and whether it is an admin. Unknown emails get no groups.
func (p *Policy) Identity(email string) jit.Identity { panic("unimplemented") }

// Resource returns a configured resource.
func (p *Policy) Resource(name string) (ResourceInfo, bool) { panic("unimplemented") }

// Resources lists all configured resources in file order.
func (p *Policy) Resources() []ResourceInfo { panic("unimplemented") }

// Provider returns the provider instance built for resource.
func (p *Policy) Provider(resource string) (provider.Provider, bool) { panic("unimplemented") }

// Close releases providers that implement provider.Closer.
func (p *Policy) Close() error { panic("unimplemented") }

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

// Watch reloads path into h whenever its content changes, until ctx ends.
func Watch(ctx context.Context, path string, h *Holder, o WatchOptions) { panic("unimplemented") }
