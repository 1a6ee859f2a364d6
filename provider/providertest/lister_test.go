package providertest

import (
	"context"
	"errors"
	"os"
	osexec "os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/jitaccess/jit/provider"
)

// listing is the memory provider with a List; its flaws are those a
// listing can have.
type listing struct {
	*memory
	revoked map[string]bool
}

func newListing(flaw string) *listing {
	return &listing{memory: &memory{grants: map[string]int{}, flaw: flaw}, revoked: map[string]bool{}}
}

func (l *listing) Revoke(ctx context.Context, req provider.RevokeRequest) (provider.RevokeResponse, error) {
	resp, err := l.memory.Revoke(ctx, req)
	if err == nil {
		l.mu.Lock()
		l.revoked[req.RequestID] = true
		l.mu.Unlock()
	}
	return resp, err
}

func (l *listing) List(ctx context.Context, req provider.ListRequest) (provider.ListResponse, error) {
	if err := ctx.Err(); err != nil && l.flaw != "list-ignores-context" {
		return provider.ListResponse{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var ids []string
	for id, n := range l.grants {
		if n > 0 || (l.flaw == "list-stale" && l.revoked[id]) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	var resp provider.ListResponse
	for i, id := range ids {
		user := "conformance@example.com"
		if l.flaw == "list-wrong-user" {
			user = "someone@example.com"
		}
		if l.flaw == "list-drops-one" && i == 0 {
			continue
		}
		resp.Grants = append(resp.Grants, provider.ListedGrant{RequestID: id, User: user})
	}
	return resp, nil
}

func listingHarness(l *listing) Harness {
	return Harness{
		New:      func(t *testing.T) provider.Provider { return l },
		Resource: "mem", Access: "rw",
		Present: func(t *testing.T, id string) bool { return l.present(id) },
	}
}

// wrapped hides the Lister behind a provider.Wrapper, as jitd's logging
// wrapper does.
type wrapped struct{ provider.Provider }

func (w wrapped) Unwrap() provider.Provider { return w.Provider }

func TestListerPasses(t *testing.T) {
	Run(t, listingHarness(newListing("")))
}

func TestListerPassesThroughWrapper(t *testing.T) {
	l := newListing("")
	h := listingHarness(l)
	h.New = func(t *testing.T) provider.Provider { return wrapped{l} }
	Run(t, h)
}

const listFlawEnv = "JIT_PROVIDERTEST_LIST_FLAW"

// TestListerFlawedHelper runs the suite against a flawed Lister; it does
// something only when started by TestSuiteCatchesListFlaws.
func TestListerFlawedHelper(t *testing.T) {
	flaw := os.Getenv(listFlawEnv)
	if flaw == "" {
		t.Skip("started by TestSuiteCatchesListFlaws only")
	}
	Run(t, listingHarness(newListing(flaw)))
}

func TestSuiteCatchesListFlaws(t *testing.T) {
	for _, flaw := range []string{"list-stale", "list-wrong-user", "list-drops-one", "list-ignores-context"} {
		t.Run(flaw, func(t *testing.T) {
			cmd := osexec.Command(os.Args[0], "-test.run=^TestListerFlawedHelper$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), listFlawEnv+"="+flaw)
			out, err := cmd.CombinedOutput()
			var exitErr *osexec.ExitError
			if !errors.As(err, &exitErr) {
				t.Fatalf("the suite passed a Lister with flaw %s (err %v):\n%s", flaw, err, out)
			}
			if !strings.Contains(string(out), "--- FAIL: TestListerFlawedHelper/ListMatchesGrants") {
				t.Errorf("flaw %s did not fail ListMatchesGrants:\n%s", flaw, out)
			}
		})
	}
}
