package cli

import (
	"context"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/jitaccess/jit"
)

func TestRequestWait(t *testing.T) {
	pending := submitted()
	pendingAgain := submitted() // a long-poll that timed out: nothing to print
	approved := withStatus(submitted(), jit.StatusApproved)
	approved.Approvals = activeRequest().Approvals
	granting := withStatus(approved, jit.StatusGranting)
	active := activeRequest()
	denied := withStatus(submitted(), jit.StatusDenied)
	denied.EndedBy, denied.EndReason = "bob@example.com", "not during the freeze"
	failed := withStatus(approved, jit.StatusFailed)
	failed.EndedBy, failed.EndReason = jit.SystemActor, "grant failed after 5 attempts: connection refused"

	// A request that needs two approvals prints the first one as progress.
	twoPending := submitted()
	twoPending.ApprovalsRequired = 2
	twoOne := twoPending.Clone()
	twoOne.Approvals = activeRequest().Approvals
	twoActive := activeRequest()
	twoActive.ApprovalsRequired = 2

	tests := []struct {
		name     string
		submit   *jit.Request
		polls    []answer
		code     int
		progress []string
		stderr   string
		final    *jit.Request
	}{
		{
			name:   "to active",
			submit: pending,
			polls:  []answer{{JSON: pendingAgain}, {JSON: approved}, {JSON: granting}, {JSON: active}},
			code:   0,
			progress: []string{
				"req_1 pending — waiting for 1 approval from group:sre",
				"req_1 approved — approved by bob@example.com; access is being granted",
				"req_1 granting — access is being granted",
				"req_1 active — expires in 42m",
			},
			final: active,
		},
		{
			name:   "second approval",
			submit: twoPending,
			polls:  []answer{{JSON: twoOne}, {JSON: twoActive}},
			code:   0,
			progress: []string{
				"req_1 pending — waiting for 2 approvals from group:sre",
				"req_1 pending — waiting for 1 more approval from group:sre (1 of 2)",
				"req_1 active — expires in 42m",
			},
			final: twoActive,
		},
		{
			name:   "denied",
			submit: pending,
			polls:  []answer{{JSON: denied}},
			code:   1,
			progress: []string{
				"req_1 pending — waiting for 1 approval from group:sre",
				"req_1 denied — by bob@example.com: not during the freeze",
			},
			stderr: "jit: req_1 denied by bob@example.com: not during the freeze\n",
			final:  denied,
		},
		{
			name:   "grant failed",
			submit: pending,
			polls:  []answer{{JSON: approved}, {JSON: failed}},
			code:   1,
			progress: []string{
				"req_1 pending — waiting for 1 approval from group:sre",
				"req_1 approved — approved by bob@example.com; access is being granted",
				"req_1 failed — grant failed after 5 attempts: connection refused",
			},
			stderr: "jit: req_1 failed: grant failed after 5 attempts: connection refused\n",
			final:  failed,
		},
		{
			name:     "auto-approved and already active",
			submit:   active,
			code:     0,
			progress: []string{"req_1 active — expires in 42m"},
			final:    active,
		},
		{
			name:   "server error while waiting",
			submit: pending,
			polls:  []answer{{Status: 503, Code: "unavailable", Detail: "the store is unreachable"}},
			code:   1,
			progress: []string{
				"req_1 pending — waiting for 1 approval from group:sre",
			},
			stderr: "jit: unavailable: the store is unreachable\n",
			final:  pending,
		},
	}
	for _, tt := range tests {
		for _, format := range []string{"table", "json"} {
			t.Run(tt.name+"/"+format, func(t *testing.T) {
				f := newFakeAPI(t, map[string][]answer{
					"POST /requests":      {{Status: 201, JSON: tt.submit}},
					"GET /requests/req_1": append([]answer(nil), tt.polls...),
				})
				e := newEnv(t, map[string]string{"JIT_SERVER": f.srv.URL, "JIT_TOKEN": "dev-alice"})
				res := e.run(t, "request", "demo-app", "--reason", "INC-42", "--wait", "-o", format)
				if res.code != tt.code {
					t.Errorf("exit %d, want %d (stderr %q)", res.code, tt.code, res.stderr)
				}
				progress := strings.Join(tt.progress, "\n") + "\n"
				if format == "table" {
					if res.stdout != progress {
						t.Errorf("stdout\n%s\nwant\n%s", res.stdout, progress)
					}
					if res.stderr != tt.stderr {
						t.Errorf("stderr = %q, want %q", res.stderr, tt.stderr)
					}
				} else {
					// stdout holds only the final document; progress goes
					// to stderr, before the error line.
					sameJSON(t, res.stdout, tt.final)
					if res.stderr != progress+tt.stderr {
						t.Errorf("stderr\n%s\nwant\n%s", res.stderr, progress+tt.stderr)
					}
				}
				// The first long-poll waits through every unfinished status;
				// later ones wait only while the status last seen holds, so
				// that each step shows.
				gets := 0
				for _, c := range f.allCalls() {
					if c.Method != "GET" {
						continue
					}
					want := url.Values{"wait": {"30s"}, "while": {"pending,approved,granting"}}
					if gets > 0 {
						if w := c.Query.Get("while"); w == "pending" || w == "approved" || w == "granting" {
							want.Set("while", w)
						}
					}
					gets++
					if !reflect.DeepEqual(c.Query, want) {
						t.Errorf("long-poll query = %v, want %v", c.Query, want)
					}
				}
			})
		}
	}
}

func TestRequestWaitTimeout(t *testing.T) {
	f := newFakeAPI(t, map[string][]answer{
		"POST /requests":      {{Status: 201, JSON: submitted()}},
		"GET /requests/req_1": {{Block: true}},
	})
	e := newEnv(t, map[string]string{"JIT_SERVER": f.srv.URL, "JIT_TOKEN": "dev-alice"})
	res := e.run(t, "request", "demo-app", "--wait", "--timeout", "50ms")
	if res.code != 1 {
		t.Errorf("exit %d, want 1", res.code)
	}
	if want := "jit: timed out after 50ms waiting for req_1 (still pending)\n"; res.stderr != want {
		t.Errorf("stderr = %q, want %q", res.stderr, want)
	}
}

func TestRequestWaitInterrupted(t *testing.T) {
	f := newFakeAPI(t, map[string][]answer{
		"POST /requests":      {{Status: 201, JSON: submitted()}},
		"GET /requests/req_1": {{Block: true}},
	})
	e := newEnv(t, map[string]string{"JIT_SERVER": f.srv.URL, "JIT_TOKEN": "dev-alice"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-f.blocked // the long-poll is being held: interrupt now
		cancel()
	}()
	res := e.runCtx(ctx, t, "request", "demo-app", "--wait")
	if res.code != 1 {
		t.Errorf("exit %d, want 1", res.code)
	}
	if want := "jit: stopped waiting for req_1 (still pending)\n"; res.stderr != want {
		t.Errorf("stderr = %q, want %q", res.stderr, want)
	}
}
