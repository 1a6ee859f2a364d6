// Package cli is the jit command line. It talks to the HTTP API only,
// through package client. Execute is the whole program; cmd/jit calls it
// with the process's arguments, streams and environment.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/client"
)

// Version is the CLI's version, set at build time with
// -ldflags "-X github.com/jitaccess/jit/cli.Version=v1.2.3". When empty,
// the module version from the build information is used.
var Version = ""

// Exit codes.
const (
	ExitOK    = 0
	ExitError = 1 // the command ran and failed (server error, denied, timeout)
	ExitUsage = 2 // the command line is wrong
)

// Options are the process's surroundings for Run.
type Options struct {
	// Args are the command-line arguments without the program name.
	Args   []string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the environment (JIT_SERVER, JIT_TOKEN, HOME,
	// XDG_CONFIG_HOME). Nil means an empty environment.
	Getenv func(string) string
	// Clock is the time relative times are printed against (default
	// jit.SystemClock).
	Clock jit.Clock
	// Location is the zone absolute times are printed in (default
	// time.Local).
	Location *time.Location
	// HTTPClient, when set, is the HTTP client the API client uses.
	HTTPClient *http.Client
}

// Execute runs the jit command line with args (without the program name)
// and returns the process exit code: 0 on success, 1 when the command
// failed, 2 for a usage error. Errors are printed as one line on stderr.
func Execute(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env func(string) string) int {
	return Run(ctx, Options{Args: args, Stdin: stdin, Stdout: stdout, Stderr: stderr, Getenv: env})
}

// Run is Execute with every dependency explicit (the clock and the time
// zone included), for tests and embedding.
func Run(ctx context.Context, o Options) int {
	if o.Stdin == nil {
		o.Stdin = strings.NewReader("")
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	if o.Getenv == nil {
		o.Getenv = func(string) string { return "" }
	}
	if o.Clock == nil {
		o.Clock = jit.SystemClock{}
	}
	if o.Location == nil {
		o.Location = time.Local
	}
	a := &app{opts: o}
	root := a.rootCommand()
	root.SetArgs(o.Args)
	root.SetIn(o.Stdin)
	root.SetOut(o.Stdout)
	root.SetErr(o.Stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var st *exitStatus
	code := ExitError
	switch {
	case errors.As(err, &st):
		code = st.code
	case !a.started:
		// Cobra and pflag fail before any command runs only for bad
		// command lines: unknown commands or flags, wrong argument counts.
		code = ExitUsage
	}
	// The message may carry text from the server: keep it to one line of
	// printable characters.
	msg := cell(oneLine(err.Error()))
	if code == ExitUsage && a.cmd != nil {
		msg += fmt.Sprintf(" (see '%s --help')", a.cmd.CommandPath())
	}
	fmt.Fprintf(o.Stderr, "jit: %s\n", msg)
	return code
}

// exitStatus is an error with its exit code.
type exitStatus struct {
	code int
	err  error
}

func (e *exitStatus) Error() string { return e.err.Error() }
func (e *exitStatus) Unwrap() error { return e.err }

// usageErrorf reports a wrong command line (exit code 2).
func usageErrorf(format string, args ...any) error {
	return &exitStatus{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// app is one run of the command line.
type app struct {
	opts Options
	// started is set when a command's own code starts, after cobra has
	// parsed and checked the command line.
	started bool
	// cmd is the command being run, for usage hints.
	cmd *cobra.Command

	// Global flags.
	server string
	token  string
	output string

	// The loaded config file, once loaded.
	cfgPath   string
	cfg       fileConfig
	cfgLoaded bool

	// The resolved server and token, once resolved.
	resolved       bool
	resolvedServer string
	resolvedToken  string
}

func (a *app) now() time.Time { return a.opts.Clock.Now() }

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "jit",
		Short: "Just-in-time access: request, approve and review time-limited access",
		Long: `jit asks for time-limited access to one resource at one access level, with a
reason; approvers approve or deny; access ends when time is up, when you
relinquish it, or when it is revoked.

The server and token come from 'jit login' (stored in the user config
directory), overridden by $JIT_SERVER and $JIT_TOKEN, overridden by
--server and --token.`,
		Args:              noArgs,
		RunE:              groupHelp,
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: true},
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if a.output != "table" && a.output != "json" {
				return usageErrorf("--output must be table or json, not %q", a.output)
			}
			return nil
		},
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		a.cmd = cmd
		return &exitStatus{code: ExitUsage, err: err}
	})
	pf := root.PersistentFlags()
	pf.StringVar(&a.server, "server", "", "jit server URL (overrides $JIT_SERVER and the config file)")
	pf.StringVar(&a.token, "token", "", "API token (overrides $JIT_TOKEN and the config file); - reads it from stdin")
	pf.StringVarP(&a.output, "output", "o", "table", "output format: table or json")

	root.AddCommand(
		a.loginCommand(), a.logoutCommand(), a.whoamiCommand(), a.resourcesCommand(),
		a.requestCommand(), a.lsCommand(), a.showCommand(),
		a.approveCommand(), a.denyCommand(), a.cancelCommand(), a.relinquishCommand(),
		a.revokeCommand(), a.extendCommand(),
		a.policyCommand(), a.auditCommand(), a.versionCommand(),
		a.keyCommand(), a.dbCommand(), a.psqlCommand(), a.mysqlCommand(),
		a.targetsCommand(), a.kubeconfigCommand(), a.sshCommand(), a.sshCertCommand(),
	)
	return root
}

// run wraps a command's code so that errors from it are told apart from
// command-line errors cobra finds before it runs.
func (a *app) run(f func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		a.started = true
		a.cmd = cmd
		return f(cmd, args)
	}
}

// groupHelp is the run function of commands that only group others: cobra
// checks their arguments (noArgs) only when they are runnable.
func groupHelp(cmd *cobra.Command, args []string) error { return cmd.Help() }

// name is the command's path without the program name, for messages that
// already start with "jit: ".
func name(cmd *cobra.Command) string {
	return strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
}

// noArgs refuses any positional argument; on a command with subcommands
// that is how a misspelt subcommand is reported instead of printing help.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		if cmd.HasSubCommands() {
			return fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())
		}
		return fmt.Errorf("%s takes no arguments (usage: %s)", name(cmd), cmd.UseLine())
	}
	return nil
}

// oneArg demands exactly one positional argument, described by what.
func oneArg(what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("%s needs exactly one %s (usage: %s)", name(cmd), what, cmd.UseLine())
		}
		if strings.TrimSpace(args[0]) == "" {
			return fmt.Errorf("%s: %s is empty", name(cmd), what)
		}
		return nil
	}
}

// config loads the config file once. When no config directory can be
// found (no $HOME) the config is empty: the server and token may still come
// from the environment or the flags.
func (a *app) config() (fileConfig, error) {
	if a.cfgLoaded {
		return a.cfg, nil
	}
	p, err := configPath(a.opts.Getenv)
	if err != nil {
		a.cfgLoaded = true
		return fileConfig{}, nil
	}
	cfg, insecure, err := loadConfig(p)
	if err != nil {
		return fileConfig{}, err
	}
	if insecure {
		fmt.Fprintf(a.opts.Stderr, "jit: warning: %s is accessible by other users; run: chmod 600 %s\n", p, p)
	}
	a.cfgPath, a.cfg, a.cfgLoaded = p, cfg, true
	return cfg, nil
}

// settings resolves the server and token: the config file, overridden by
// $JIT_SERVER and $JIT_TOKEN, overridden by --server and --token. The file
// is read only when something must come from it. The result is kept, so
// that a token read from stdin is read once.
func (a *app) settings(cmd *cobra.Command) (server, token string, err error) {
	if a.resolved {
		return a.resolvedServer, a.resolvedToken, nil
	}
	flags := cmd.Flags()
	pick := func(flag, flagVal, envName string) (string, bool) {
		if flags.Changed(flag) {
			return flagVal, true
		}
		if v := a.opts.Getenv(envName); v != "" {
			return v, true
		}
		return "", false
	}
	server, serverOK := pick("server", a.server, "JIT_SERVER")
	token, tokenOK := pick("token", a.token, "JIT_TOKEN")
	if !serverOK || !tokenOK {
		cfg, err := a.config()
		if err != nil {
			return "", "", err
		}
		if !serverOK {
			server = cfg.Server
		}
		if !tokenOK {
			token = cfg.Token
		}
	}
	if token == "-" {
		if token, err = readToken(a.opts.Stdin); err != nil {
			return "", "", err
		}
	}
	a.resolvedServer, a.resolvedToken = strings.TrimSpace(server), strings.TrimSpace(token)
	a.resolved = true
	return a.resolvedServer, a.resolvedToken, nil
}

// readToken reads a token from the first line of r, so that it need not
// appear on the command line (and in shell history or ps).
func readToken(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, 64<<10))
	if err != nil {
		return "", fmt.Errorf("reading the token from stdin: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimSpace(line)
	if line == "" {
		return "", errors.New("no token on stdin")
	}
	return line, nil
}

// client builds the API client from the resolved settings.
func (a *app) client(cmd *cobra.Command) (*client.Client, error) {
	server, token, err := a.settings(cmd)
	if err != nil {
		return nil, err
	}
	if server == "" {
		return nil, errors.New("no server: run 'jit login --server URL --token TOKEN' or set JIT_SERVER")
	}
	return a.newClient(server, token)
}

func (a *app) newClient(server, token string) (*client.Client, error) {
	opts := []client.Option{
		client.WithSource("cli"),
		client.WithUserAgent(fmt.Sprintf("jit-cli/%s (%s/%s)", version(), runtime.GOOS, runtime.GOARCH)),
		client.WithClock(a.opts.Clock),
	}
	if token != "" {
		opts = append(opts, client.WithToken(token))
	}
	if a.opts.HTTPClient != nil {
		opts = append(opts, client.WithHTTPClient(a.opts.HTTPClient))
	}
	c, err := client.New(server, opts...)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// apiError adds a hint to an unauthenticated error when no token was given.
func (a *app) apiError(cmd *cobra.Command, err error) error {
	if client.IsCode(err, jit.ECodeUnauthenticated) {
		if _, token, serr := a.settings(cmd); serr == nil && token == "" {
			return fmt.Errorf("%w (no token: run 'jit login' or set JIT_TOKEN)", err)
		}
	}
	return err
}

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
