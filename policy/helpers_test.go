package policy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/jitaccess/jit/provider"
)

// testProvider is the provider type "policytest". Its factory validates
// settings the way real factories do (known keys, types) without touching
// anything, and it records Close calls.
type testProvider struct {
	resource string
	closeErr string
}

func (t *testProvider) Grant(context.Context, provider.GrantRequest) (provider.GrantResponse, error) {
	return provider.GrantResponse{}, nil
}
func (t *testProvider) Revoke(context.Context, provider.RevokeRequest) (provider.RevokeResponse, error) {
	return provider.RevokeResponse{}, nil
}
func (t *testProvider) Verify(context.Context, provider.VerifyRequest) (provider.VerifyResponse, error) {
	return provider.VerifyResponse{}, nil
}

var (
	closedMu sync.Mutex
	closed   = map[string]int{}
)

func (t *testProvider) Close() error {
	closedMu.Lock()
	closed[t.resource]++
	closedMu.Unlock()
	if t.closeErr != "" {
		return errors.New(t.closeErr)
	}
	return nil
}

func closeCount(resource string) int {
	closedMu.Lock()
	defer closedMu.Unlock()
	return closed[resource]
}

func init() {
	provider.Register("policytest", func(r provider.Resource) (provider.Provider, error) {
		p := &testProvider{resource: r.Name}
		for k, v := range r.Settings {
			switch k {
			case "host", "path_prefix":
				if _, ok := v.(string); !ok {
					return nil, fmt.Errorf("settings.%s must be a string", k)
				}
			case "close_error":
				p.closeErr = fmt.Sprint(v)
			case "panic":
				panic("asked to panic")
			default:
				return nil, fmt.Errorf("unknown setting %q", k)
			}
		}
		return p, nil
	})
}

// mustParse parses src and closes the policy when the test ends.
func mustParse(t testing.TB, src string) *Policy {
	t.Helper()
	p, err := Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func has(lines []string, sub string) bool {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
