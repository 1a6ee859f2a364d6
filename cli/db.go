package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/client"
	"github.com/jitaccess/jit/credential"
)

func (a *app) dbCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Read the database credential of a request",
		Long: `A granted database request comes with a credential (an ephemeral user and
its password) encrypted to your public key. These commands open it with
your private key and print it for other tools. They print the password:
run them only where no one else reads your terminal.`,
		Args: noArgs,
		RunE: groupHelp,
	}
	cmd.AddCommand(a.dbEnvCommand(), a.dbURLCommand())
	return cmd
}

func (a *app) dbEnvCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "env REQUEST_ID [--format sh|json]",
		Short: "Print the credential as environment variables (PGHOST, PGPASSWORD... or MYSQL_HOST, MYSQL_PWD...)",
		Example: `  eval "$(jit db env req_01J...)" && psql
  jit db env req_01J... --format json`,
		Args: oneArg("REQUEST_ID"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("format") && a.output == "json" {
				format = "json"
			}
			if format != "sh" && format != "json" {
				return usageErrorf("--format must be sh or json, not %q", format)
			}
			p, err := a.credential(cmd, args[0])
			if err != nil {
				return err
			}
			env, err := credential.Env(p)
			if err != nil {
				return err
			}
			if format == "json" {
				v := make(map[string]string, len(env))
				for _, kv := range env {
					k, val, _ := strings.Cut(kv, "=")
					v[k] = val
				}
				return writeJSON(a.opts.Stdout, v)
			}
			var b strings.Builder
			for _, kv := range env {
				k, val, _ := strings.Cut(kv, "=")
				fmt.Fprintf(&b, "export %s=%s\n", k, shQuote(val))
			}
			if d, _ := credential.Dialect(p); d == credential.DialectMySQL {
				// The mysql client reads no user name from the environment.
				// The arguments hold no password and no control characters
				// (credential.ClientArgs checks), so the comment stays one
				// line that eval ignores.
				cargs, err := credential.ClientArgs(p)
				if err != nil {
					return err
				}
				quoted := make([]string, len(cargs))
				for i, s := range cargs {
					quoted[i] = shWord(s)
				}
				fmt.Fprintf(&b, "# connect with: mysql %s\n", strings.Join(quoted, " "))
			}
			_, err = fmt.Fprint(a.opts.Stdout, b.String())
			return err
		}),
	}
	cmd.Flags().StringVar(&format, "format", "sh", "sh (export lines for eval) or json (one object)")
	return cmd
}

func (a *app) dbURLCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "url REQUEST_ID",
		Short:   "Print the credential as a connection URL (postgres://... or mysql://...)",
		Example: `  psql "$(jit db url req_01J...)"`,
		Args:    oneArg("REQUEST_ID"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			p, err := a.credential(cmd, args[0])
			if err != nil {
				return err
			}
			u, err := credential.URL(p)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(a.opts.Stdout, u)
			return err
		}),
	}
}

// credential fetches and opens the credential of request id. The local key
// is loaded first, so that a machine without one fails before any call.
func (a *app) credential(cmd *cobra.Command, id string) (jit.CredentialPayload, error) {
	ident, _, err := a.loadIdentity()
	if err != nil {
		return jit.CredentialPayload{}, err
	}
	c, err := a.client(cmd)
	if err != nil {
		return jit.CredentialPayload{}, err
	}
	return a.openCredential(cmd, c, ident, id)
}

func (a *app) openCredential(cmd *cobra.Command, c *client.Client, ident *age.X25519Identity, id string) (jit.CredentialPayload, error) {
	env, err := c.Credential(cmd.Context(), id)
	if err != nil {
		if client.IsCode(err, jit.ECodeNotFound) {
			err = fmt.Errorf("%w (a credential exists only for database access granted after you registered a key with 'jit login')", err)
		}
		return jit.CredentialPayload{}, a.apiError(cmd, err)
	}
	mine := ident.Recipient().String()
	if env.Recipient != "" && env.Recipient != mine {
		return jit.CredentialPayload{}, fmt.Errorf("%w (it is for %s; the key here is %s)", credential.ErrWrongKey, env.Recipient, mine)
	}
	return credential.Open(ident, env.Envelope)
}

// shQuote quotes s for a POSIX shell: single quotes, with each single
// quote written as '\”. Nothing inside single quotes is special.
func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shWord is s as one shell word: as it is when no character in it is
// special to the shell, else quoted with shQuote.
func shWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:@+,%") == "" {
		return s
	}
	return shQuote(s)
}

// dbClient describes one database command-line client jit can start.
type dbClient struct {
	name    string // the command, and the binary looked up on PATH
	dialect string // credential.DialectPostgres or credential.DialectMySQL
	envVar  string // overrides the binary's path
	// managed are the variables of the parent environment that would
	// compete with the credential's; they are removed before the
	// credential's own are added. PGSERVICE would make libpq read the
	// service file ahead of the environment; PGHOSTADDR would connect to
	// another address than PGHOST.
	managed []string
}

var (
	psqlClient = dbClient{name: "psql", dialect: credential.DialectPostgres, envVar: "JIT_PSQL",
		managed: []string{"PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD", "PGSERVICE"}}
	mysqlClient = dbClient{name: "mysql", dialect: credential.DialectMySQL, envVar: "JIT_MYSQL",
		managed: []string{"MYSQL_HOST", "MYSQL_TCP_PORT", "MYSQL_PWD"}}
)

func (a *app) psqlCommand() *cobra.Command { return a.dbClientCommand(psqlClient) }

func (a *app) mysqlCommand() *cobra.Command { return a.dbClientCommand(mysqlClient) }

// dbClientCommand builds `jit psql` and `jit mysql`: find or get access,
// open its credential, and run the client with it.
func (a *app) dbClientCommand(dc dbClient) *cobra.Command {
	var (
		access, query, dur, reason, bin string
		timeout                         time.Duration
	)
	long := fmt.Sprintf(`%[1]s connects to a database resource with a credential of your own.

It uses your active access to RESOURCE when you have some at the same level
(or for the same --query; a query is scoped within the level it is asked
under, so name one with --access unless the resource has a default);
otherwise it files a request, waits until it is
granted (printing each step on stderr), and then runs %[1]s. The credential
is opened with your private key and handed to %[1]s through its environment,
never on the command line; arguments after -- go to %[1]s unchanged.

%[1]s is looked up on PATH; --bin or $%[2]s names another binary.`, dc.name, dc.envVar)
	if dc.dialect == credential.DialectMySQL {
		long += `
The host, port, user and database are passed as -h, -P, --protocol=TCP, -u
and -D; the password as MYSQL_PWD. A password in an option file such as
~/.my.cnf takes precedence over MYSQL_PWD: remove it there.`
	}
	cmd := &cobra.Command{
		Use:   dc.name + " RESOURCE [--access LEVEL] [--query SQL] [--for D] [--reason TEXT] [-- ARGS...]",
		Short: fmt.Sprintf("Run %s on a database resource with just-in-time access", dc.name),
		Long:  long,
		Example: fmt.Sprintf(`  jit %[1]s demo-db --access read --for 30m --reason INC-42
  jit %[1]s demo-db --access write --query "UPDATE orders SET total = 0 WHERE id = 7" --reason INC-42 -- -c "UPDATE orders SET total = 0 WHERE id = 7"`, dc.name),
		Args: func(cmd *cobra.Command, args []string) error {
			n := len(args)
			if d := cmd.ArgsLenAtDash(); d >= 0 {
				n = d
			}
			if n != 1 {
				return fmt.Errorf("%s needs exactly one RESOURCE before -- (usage: %s)", name(cmd), cmd.UseLine())
			}
			if strings.TrimSpace(args[0]) == "" {
				return fmt.Errorf("%s: RESOURCE is empty", name(cmd))
			}
			return nil
		},
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			resource, extra := args[0], args[1:]
			if timeout <= 0 {
				return usageErrorf("--timeout must be positive")
			}
			// Everything local is checked before anything is asked of the
			// server, so that no request is filed for nothing.
			path, err := a.clientBinary(dc, bin)
			if err != nil {
				return err
			}
			ident, _, err := a.loadIdentity()
			if err != nil {
				return err
			}
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			r, err := a.activeGrant(cmd.Context(), c, resource, access, query)
			if err != nil {
				return a.apiError(cmd, err)
			}
			if r != nil {
				fmt.Fprintf(a.opts.Stderr, "jit: using your active access %s (%s)\n", r.ID, describe(r, a.now()))
			} else {
				if err := a.checkServerKey(cmd, c, ident); err != nil {
					return err
				}
				sub, err := c.Submit(cmd.Context(), client.SubmitRequest{Resource: resource, Access: access, Duration: dur, Reason: reason, Query: query})
				if err != nil {
					return a.apiError(cmd, err)
				}
				// Progress goes to stderr: stdout belongs to the client.
				if r, err = a.await(cmd, c, sub, timeout, a.opts.Stderr); err != nil {
					return err
				}
			}
			p, err := a.openCredential(cmd, c, ident, r.ID)
			if err != nil {
				return err
			}
			if d, err := credential.Dialect(p); err != nil {
				return err
			} else if d != dc.dialect {
				other := "psql"
				if d == credential.DialectMySQL {
					other = "mysql"
				}
				return fmt.Errorf("%s is a %s database: use 'jit %s'", resource, p.Info[credential.InfoDialect], other)
			}
			env, err := credential.Env(p)
			if err != nil {
				return err
			}
			cargs, err := credential.ClientArgs(p)
			if err != nil {
				return err
			}
			return a.runClient(dc, path, append(cargs, extra...), env)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&access, "access", "", "access level (default: the resource's default level)")
	f.StringVar(&query, "query", "", "the SQL statement to run; the grant is exactly the table privileges it needs")
	f.StringVar(&dur, "for", "1h", "how long new access should last (Go notation: 30m, 1h)")
	f.StringVar(&reason, "reason", "", "justification for new access, such as a ticket or incident ID")
	f.DurationVar(&timeout, "timeout", 30*time.Minute, "how long to wait for new access at most")
	f.StringVar(&bin, "bin", "", fmt.Sprintf("path of the %s binary (default: $%s, else %s on PATH)", dc.name, dc.envVar, dc.name))
	return cmd
}

// clientBinary finds the client to run: --bin, else $JIT_PSQL or
// $JIT_MYSQL, else the name on PATH.
func (a *app) clientBinary(dc dbClient, flag string) (string, error) {
	p := flag
	if p == "" {
		p = a.opts.Getenv(dc.envVar)
	}
	if p == "" {
		p = dc.name
	}
	found, err := exec.LookPath(p)
	if err != nil {
		return "", fmt.Errorf("cannot run %s: %w (install it, or name it with --bin or $%s)", dc.name, err, dc.envVar)
	}
	return found, nil
}

// activeGrant returns the caller's newest active, unexpired request for
// resource that matches: the same query when query is set; otherwise a
// request without a query at access (any level when access is empty). It
// returns nil when there is none.
func (a *app) activeGrant(ctx context.Context, c *client.Client, resource, access, query string) (*jit.Request, error) {
	o := client.ListOptions{Scope: client.ScopeMine, Statuses: []jit.Status{jit.StatusActive}, Resource: resource}
	now := a.now()
	query = strings.TrimSpace(query)
	for {
		p, err := c.List(ctx, o)
		if err != nil {
			return nil, err
		}
		for _, r := range p.Items {
			switch {
			case r.Status != jit.StatusActive || r.Resource != resource:
			case r.ExpiresAt != nil && !r.ExpiresAt.After(now):
			case query != "":
				if strings.TrimSpace(r.Query) == query && (access == "" || r.Access == access) {
					return r, nil
				}
			case r.Query == "" && (access == "" || r.Access == access):
				return r, nil
			}
		}
		// A cursor that does not move would loop for ever.
		if p.Next == "" || p.Next == o.After {
			return nil, nil
		}
		o.After = p.Next
	}
}

// checkServerKey makes sure a credential issued now will be encrypted to
// this machine's key: it registers the key when the server has none, and
// refuses when the server has another one (the credential could not be
// read here).
func (a *app) checkServerKey(cmd *cobra.Command, c *client.Client, ident *age.X25519Identity) error {
	mine := ident.Recipient().String()
	pk, err := c.PublicKey(cmd.Context())
	switch {
	case client.IsCode(err, jit.ECodeNotFound):
		if _, err := c.RegisterPublicKey(cmd.Context(), mine); err != nil {
			return a.apiError(cmd, fmt.Errorf("registering your public key: %w", err))
		}
		return nil
	case err != nil:
		return a.apiError(cmd, err)
	case pk.Key != mine:
		return fmt.Errorf("the server has another public key for you (%s), so a credential could not be read here; run 'jit login' on this machine to register its key %s", pk.Key, mine)
	}
	return nil
}

// runClient runs the database client with the credential in its
// environment. When this process owns the real standard streams it
// replaces itself with the client (see execClient), so the client gets the
// terminal, the signals and the exit status directly. Otherwise (tests,
// embedding) it runs the client as a child wired to the given streams and
// exits with the client's status.
func (a *app) runClient(dc dbClient, path string, args, credEnv []string) error {
	env := clientEnv(os.Environ(), dc.managed, credEnv)
	if a.opts.Stdin == os.Stdin && a.opts.Stdout == os.Stdout && a.opts.Stderr == os.Stderr && canExec {
		err := execClient(path, append([]string{dc.name}, args...), env)
		// execClient returns only when the exec failed.
		return fmt.Errorf("running %s: %w", path, err)
	}
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = a.opts.Stdin, a.opts.Stdout, a.opts.Stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee):
		code := ee.ExitCode()
		if code < 0 {
			// Killed by a signal: report it the way shells do.
			code = 128 + signalNumber(ee)
			return &exitStatus{code: code, err: fmt.Errorf("%s was killed (%s)", dc.name, ee)}
		}
		return &exitStatus{code: code, err: fmt.Errorf("%s exited with status %d", dc.name, code)}
	}
	return fmt.Errorf("running %s: %w", path, err)
}

// clientEnv is base without the variables in managed or set by credEnv,
// followed by credEnv.
func clientEnv(base, managed, credEnv []string) []string {
	drop := map[string]bool{}
	key := func(k string) string {
		if runtime.GOOS == "windows" {
			// Windows environment names are case-insensitive.
			return strings.ToUpper(k)
		}
		return k
	}
	for _, k := range managed {
		drop[key(k)] = true
	}
	for _, kv := range credEnv {
		k, _, _ := strings.Cut(kv, "=")
		drop[key(k)] = true
	}
	env := make([]string, 0, len(base)+len(credEnv))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[key(k)] {
			env = append(env, kv)
		}
	}
	return append(env, credEnv...)
}
