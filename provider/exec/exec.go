// Package exec is the provider for small custom setups (type "exec"): each
// Grant, Revoke and Verify runs a configured command, without a shell, with
// the same JSON document a webhook receives on its standard input and
// JIT_ACTION in its environment. The contract (stdin, stdout, exit codes) is
// documented in docs/providers.md (section "exec").
package exec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/jitaccess/jit/provider"
	"github.com/jitaccess/jit/provider/internal/callout"
)

// Type is the provider type name used in jit.yaml.
const Type = "exec"

const (
	// DefaultTimeout bounds one run of the command.
	DefaultTimeout = 30 * time.Second
	// ExitTempFail is EX_TEMPFAIL from sysexits.h: the command did nothing
	// and asks to be run again later.
	ExitTempFail = 75
	// maxStdout is the most of the command's output that is kept; answers
	// are small JSON documents.
	maxStdout = 64 << 10
	// stderrTail is how much of the end of stderr an error shows.
	stderrTail = 512
	// waitDelay bounds how long a run waits, after the command has exited
	// or been killed, for processes it left behind to close its output.
	waitDelay = 5 * time.Second
)

// inheritedEnv are the only variables of jitd's environment a command
// sees: jitd's environment can hold secrets (database DSNs, webhook
// secrets) that a script has no business reading. Anything else is given
// explicitly with the env setting.
var inheritedEnv = []string{"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "TZ"}

func init() { provider.Register(Type, New) }

var (
	_ provider.Provider = (*Provider)(nil)
	_ provider.Lister   = (*Provider)(nil)
)

// Provider runs one command. It is safe for concurrent use; concurrent
// calls run concurrent processes, so a command that keeps state must lock
// it itself.
type Provider struct {
	path    string
	args    []string
	timeout time.Duration
	env     []string
	dir     string
	// list says the command implements the "list" action.
	list bool
}

// New builds the provider from r.Settings:
//
//	command: argv list, required; the first element is an absolute path or
//	         a name found in PATH now
//	timeout: per run, default 30s
//	env:     map of extra environment variables
//	dir:     working directory (absolute, must exist), default jitd's
//	list:    true when the command implements the "list" action (so
//	         that the reconciler can find access left behind), default
//	         false
//
// New looks the command up locally but never runs it. Errors name the
// offending setting.
func New(r provider.Resource) (provider.Provider, error) {
	s := provider.NewSettings(r.Settings)
	argv := s.StringList("command", true)
	timeout := s.Duration("timeout", DefaultTimeout)
	env := s.StringMap("env")
	dir := s.String("dir", false)
	list := s.Bool("list", false)

	p := &Provider{timeout: timeout, list: list}
	if len(argv) > 0 {
		path, err := lookCommand(argv[0])
		if err != nil {
			s.Errorf("command", "%v", err)
		}
		p.path, p.args = path, argv
	}
	if s.Has("dir") {
		if err := checkDir(dir); err != nil {
			s.Errorf("dir", "%v", err)
		}
		p.dir = dir
	}
	for _, name := range inheritedEnv {
		if v, ok := os.LookupEnv(name); ok {
			p.env = append(p.env, name+"="+v)
		}
	}
	names := make([]string, 0, len(env))
	for name := range env {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := checkEnvName(name); err != nil {
			s.Errorf("env", "%v", err)
			continue
		}
		p.env = append(p.env, name+"="+env[name])
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

func lookCommand(name string) (string, error) {
	if name == "" {
		return "", errors.New("the program (first element) is empty")
	}
	if strings.Contains(name, "/") && !filepath.IsAbs(name) {
		return "", fmt.Errorf("program %q must be an absolute path or a name found in PATH, not relative to jitd's working directory", name)
	}
	path, err := osexec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("program %q: %w", name, err)
	}
	return path, nil
}

func checkDir(dir string) error {
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("must be an absolute path, got %q", dir)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}

func checkEnvName(name string) error {
	if name == "" {
		return errors.New("variable name is empty")
	}
	if strings.ContainsAny(name, "=\x00") {
		return fmt.Errorf("variable name %q contains '=' or NUL", name)
	}
	if strings.HasPrefix(strings.ToUpper(name), "JIT_") {
		return fmt.Errorf("variable %s: names starting with JIT_ are set by jit", name)
	}
	return nil
}

// Grant runs the command with a grant document. Exit 0 means the access
// exists; stdout may be empty or {"handle": ...}, which is stored and
// passed back on revoke and verify. The command must be idempotent on
// request_id.
//
// Errors: provider.NotApplied when the command certainly did nothing (ctx
// already ended, the program could not be started, or it exited with 75);
// any other failure (another exit code, a timeout, unreadable output)
// leaves the outcome unknown.
func (p *Provider) Grant(ctx context.Context, req provider.GrantRequest) (provider.GrantResponse, error) {
	out, err := p.run(ctx, callout.Grant(req), maxStdout)
	if err != nil {
		return provider.GrantResponse{}, err
	}
	handle, err := callout.ParseGrant(out)
	if err != nil {
		return provider.GrantResponse{}, fmt.Errorf("exec grant %s: %w", req.RequestID, err)
	}
	return provider.GrantResponse{Handle: handle}, nil
}

// Revoke runs the command with a revoke document. Exit 0 means the access
// is gone (or never existed); stdout is ignored. Errors as for Grant.
func (p *Provider) Revoke(ctx context.Context, req provider.RevokeRequest) (provider.RevokeResponse, error) {
	if _, err := p.run(ctx, callout.Revoke(req), maxStdout); err != nil {
		return provider.RevokeResponse{}, err
	}
	return provider.RevokeResponse{}, nil
}

// Verify runs the command with a verify document; on exit 0 stdout must be
// {"present": bool} with an optional RFC 3339 "expires_at".
func (p *Provider) Verify(ctx context.Context, req provider.VerifyRequest) (provider.VerifyResponse, error) {
	out, err := p.run(ctx, callout.Verify(req), maxStdout)
	if err != nil {
		return provider.VerifyResponse{}, err
	}
	resp, err := callout.ParseVerify(out)
	if err != nil {
		return provider.VerifyResponse{}, fmt.Errorf("exec verify %s: %w", req.RequestID, err)
	}
	return resp, nil
}

// List runs the command with a list document (JIT_ACTION=list, an empty
// JIT_REQUEST_ID); on exit 0 stdout must be {"grants": [{"request_id": ...,
// "user": ..., "access": ..., "expires_at": ...}]} naming every access jit
// created in the target. The command must not change anything.
//
// Errors: provider.ErrListUnsupported, without running anything, unless
// the list setting is on; any other failure (an exit code other than 0, a
// timeout, an answer that is not such a document) is an error, and nothing
// may be concluded from the listing.
func (p *Provider) List(ctx context.Context, req provider.ListRequest) (provider.ListResponse, error) {
	if !p.list {
		return provider.ListResponse{}, fmt.Errorf("exec list %s: %w (set list: true once the command implements it)", req.Resource, provider.ErrListUnsupported)
	}
	out, err := p.run(ctx, callout.List(req), callout.MaxListAnswer)
	if err != nil {
		return provider.ListResponse{}, err
	}
	resp, err := callout.ParseList(out)
	if err != nil {
		return provider.ListResponse{}, fmt.Errorf("exec list %s: %w", req.Resource, err)
	}
	return resp, nil
}

// run runs the command for doc and returns its stdout after exit 0; stdout
// longer than limit bytes is an error.
func (p *Provider) run(ctx context.Context, doc callout.Document, limit int) ([]byte, error) {
	what := fmt.Sprintf("exec %s %s", doc.Action, doc.RequestID)
	if doc.RequestID == "" {
		what = fmt.Sprintf("exec %s %s", doc.Action, doc.Resource)
	}
	if err := ctx.Err(); err != nil {
		return nil, provider.NotApplied(fmt.Errorf("%s: not run: %w", what, err))
	}
	input, err := doc.Encode()
	if err != nil {
		return nil, provider.NotApplied(fmt.Errorf("%s: %w", what, err))
	}
	runCtx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()

	cmd := osexec.CommandContext(runCtx, p.path, p.args[1:]...)
	cmd.Args[0] = p.args[0]
	cmd.Dir = p.dir
	cmd.Env = append(append([]string(nil), p.env...),
		"JIT_ACTION="+doc.Action,
		"JIT_REQUEST_ID="+doc.RequestID,
		"JIT_USER="+doc.User,
		"JIT_RESOURCE="+doc.Resource,
		"JIT_ACCESS="+doc.Access,
	)
	cmd.Stdin = bytes.NewReader(input)
	stdout := &callout.LimitBuffer{Max: limit}
	stderr := &callout.TailBuffer{N: stderrTail}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	killGroupOnCancel(cmd)
	cmd.WaitDelay = waitDelay

	if err := cmd.Start(); err != nil {
		// Nothing ran: the program is missing, not executable, or the
		// system is out of processes.
		return nil, provider.NotApplied(fmt.Errorf("%s: start %s: %w", what, p.args[0], err))
	}
	waitErr := cmd.Wait()

	// The exit status decides when the command exited by itself, even if
	// the deadline passed meanwhile; only a command killed by a signal is
	// judged by the context.
	var exitErr *osexec.ExitError
	switch {
	case waitErr == nil:
	case errors.As(waitErr, &exitErr) && exitErr.ExitCode() >= 0:
		code := exitErr.ExitCode()
		if code == ExitTempFail {
			return nil, provider.NotApplied(fmt.Errorf("%s: exit code 75 (temporary failure, nothing done)%s", what, stderrSuffix(stderr)))
		}
		return nil, fmt.Errorf("%s: exit code %d%s", what, code, stderrSuffix(stderr))
	case runCtx.Err() != nil:
		cause := "cancelled"
		if errors.Is(runCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			cause = fmt.Sprintf("timed out after %s", p.timeout)
		}
		return nil, fmt.Errorf("%s: %s and was killed, outcome unknown%s: %w", what, cause, stderrSuffix(stderr), runCtx.Err())
	case errors.Is(waitErr, osexec.ErrWaitDelay):
		return nil, fmt.Errorf("%s: exited, but processes it started kept its output open for %s; outcome unknown", what, waitDelay)
	default:
		// Killed by a signal from elsewhere (the OOM killer, an operator).
		return nil, fmt.Errorf("%s: %v, outcome unknown%s", what, waitErr, stderrSuffix(stderr))
	}
	if stdout.Overflow {
		return nil, fmt.Errorf("%s: output is over %d bytes", what, limit)
	}
	return stdout.Bytes(), nil
}

func stderrSuffix(t *callout.TailBuffer) string {
	b := bytes.TrimSpace(t.Bytes())
	if len(b) == 0 {
		return ""
	}
	if t.Truncated() {
		return fmt.Sprintf("; stderr (last %d bytes): %q", len(t.Bytes()), b)
	}
	return fmt.Sprintf("; stderr: %q", b)
}
