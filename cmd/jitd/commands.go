package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/audit"
	"github.com/jitaccess/jit/internal/daemon"
	"github.com/jitaccess/jit/policy"
)

// exitError carries an exit code through cobra.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func run(ctx context.Context, args []string) int {
	root := rootCmd(os.Stdout, os.Stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	default:
		fmt.Fprintln(os.Stderr, "jitd:", err)
		return 1
	}
}

func rootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "jitd",
		Short:         "jit control plane: just-in-time access to infrastructure",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(devCmd(), serveCmd(), tokenCmd(), auditCmd(), policyCmd(), sshCmd())
	return root
}

func logger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})), nil
}

func devCmd() *cobra.Command {
	var addr, data, logLevel, keyFile string
	c := &cobra.Command{
		Use:   "dev",
		Short: "Run jitd with an embedded SQLite store, a demo policy and demo users (loopback only)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return fmt.Errorf("--addr %q: %w", addr, err)
			}
			if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
				return fmt.Errorf("--addr %s: jitd dev accepts fixed demo tokens, so it only listens on loopback (127.0.0.1 or ::1)", addr)
			}
			log, err := logger(cmd.ErrOrStderr(), logLevel)
			if err != nil {
				return err
			}
			path, err := daemon.WriteDevPolicy(data)
			if err != nil {
				return err
			}
			d, err := daemon.Start(cmd.Context(), daemon.Options{PolicyPath: path, Addr: addr, DataDir: data, Dev: true, Logger: log,
				WebSessionKeyFile: keyFile})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), `jitd dev is running at %[1]s (data in %[2]s, policy %[3]s)

Web app: open %[1]s/ in a browser and sign in as a demo user.

Demo users (dev tokens work only against this server, over loopback):
  alice@example.com  engineering, requester   token dev-alice
  bob@example.com    sre, approver            token dev-bob
  carol@example.com  admin                    token dev-carol

Try it:
  go run ./cmd/jit login --server %[1]s --token dev-alice
  go run ./cmd/jit resources
  go run ./cmd/jit request demo-app --for 1h --reason "INC-42"
  JIT_TOKEN=dev-bob go run ./cmd/jit ls --pending
  JIT_TOKEN=dev-bob go run ./cmd/jit approve REQUEST_ID
  curl -H 'Authorization: Bearer dev-alice' '%[1]s/api/v1/authz?resource=demo-app'

Press Ctrl-C to stop.
`, d.URL, data, path)
			<-cmd.Context().Done()
			return d.Close()
		},
	}
	c.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "listen address (loopback only)")
	c.Flags().StringVar(&data, "data", ".jit", "data folder (SQLite store and the dev policy)")
	c.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	c.Flags().StringVar(&keyFile, "session-key-file", "", "file with the key that signs web sessions (default: a key made for this process)")
	return c
}

func serveCmd() *cobra.Command {
	var config, addr, logLevel, keyFile string
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run jitd from a config file (policy, resources, identities, store, listen address)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logger(cmd.ErrOrStderr(), logLevel)
			if err != nil {
				return err
			}
			d, err := daemon.Start(cmd.Context(), daemon.Options{PolicyPath: config, Addr: addr, Logger: log, WebSessionKeyFile: keyFile})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "jitd is serving at %s\n", d.URL)
			<-cmd.Context().Done()
			return d.Close()
		},
	}
	c.Flags().StringVar(&config, "config", "jit.yaml", "config file")
	c.Flags().StringVar(&addr, "addr", "", "listen address (overrides server.addr)")
	c.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	c.Flags().StringVar(&keyFile, "session-key-file", "", "file with the key that signs web sessions, at least 32 bytes; replicas need the same one (default: a key made for this process)")
	return c
}

// storeFlags are the flags that say which store an admin command opens.
type storeFlags struct{ config, data string }

func (f *storeFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&f.config, "config", "", "config file whose store to open")
	c.Flags().StringVar(&f.data, "data", "", "data folder of a jitd dev server (default .jit when --config is not given)")
}

func (f *storeFlags) open(ctx context.Context) (jit.Store, error) {
	if f.config != "" && f.data != "" {
		return nil, errors.New("give --config or --data, not both")
	}
	if f.config != "" {
		p, err := policy.Load(f.config)
		if err != nil {
			return nil, err
		}
		defer p.Close()
		return daemon.OpenStore(ctx, p.Server(), "", nil)
	}
	data := f.data
	if data == "" {
		data = ".jit"
	}
	if _, err := os.Stat(data); err != nil {
		return nil, fmt.Errorf("data folder %s: %w", data, err)
	}
	return daemon.OpenStore(ctx, policy.ServerConfig{}, data, nil)
}

func tokenCmd() *cobra.Command {
	c := &cobra.Command{Use: "token", Short: "Manage API tokens"}
	var sf storeFlags
	var user, name string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an API token for a user (printed once; stored only as its hash)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if user == "" {
				return errors.New("--user EMAIL is required")
			}
			if sf.config != "" {
				// Point out a probable typo: a token for someone config does
				// not know works, but grants nothing unless a proxy JWT adds
				// groups.
				if p, err := policy.Load(sf.config); err == nil {
					if id := p.Identity(user); len(id.Groups) == 0 && !id.Admin {
						fmt.Fprintf(cmd.ErrOrStderr(), "note: %s is in no group and no admin list of %s; check the spelling\n", user, sf.config)
					}
					p.Close()
				}
			}
			st, err := sf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			plain, hash, err := jit.NewTokenSecret()
			if err != nil {
				return err
			}
			now := time.Now().UTC()
			tok := &jit.Token{ID: "tok_" + hash[:12], Email: user, Name: name, Hash: hash, CreatedAt: now}
			host, _ := os.Hostname()
			ev := jit.AuditEvent{Time: now, Actor: jit.SystemActor, Action: jit.ActionTokenCreate,
				Source:  jit.Source{Kind: "cli", UserAgent: "jitd token create (" + host + ")"},
				Details: map[string]string{"token_id": tok.ID, "user": user, "name": name}}
			if err := st.Apply(cmd.Context(), &jit.Change{Token: tok, Events: []jit.AuditEvent{ev}}); err != nil {
				return fmt.Errorf("store token: %w", err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "token %s for %s created; it is shown only once:\n", tok.ID, user)
			fmt.Fprintln(cmd.OutOrStdout(), plain)
			return nil
		},
	}
	sf.add(create)
	create.Flags().StringVar(&user, "user", "", "email of the token's owner")
	create.Flags().StringVar(&name, "name", "", "what the token is for")
	c.AddCommand(create)
	return c
}

func auditCmd() *cobra.Command {
	c := &cobra.Command{Use: "audit", Short: "Verify and export the audit log"}
	var vf storeFlags
	var asJSON bool
	var anchor string
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check the audit hash chain and say where it breaks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var a *audit.Anchor
			if anchor != "" {
				parsed, err := audit.ParseAnchor(anchor)
				if err != nil {
					return fmt.Errorf("--anchor: %w", err)
				}
				a = &parsed
			}
			st, err := vf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			res, err := audit.VerifyAnchored(cmd.Context(), st, a)
			if err != nil {
				return err
			}
			if asJSON {
				json.NewEncoder(cmd.OutOrStdout()).Encode(res)
			} else if res.OK {
				fmt.Fprintf(cmd.OutOrStdout(), "audit chain OK: %d events verified\n", res.Checked)
				if res.HeadSeq > 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "head: %s\n(keep it outside jit and pass it as --anchor next time: events deleted from the end of the log show only against it)\n",
						audit.Anchor{Seq: res.HeadSeq, Hash: res.HeadHash})
				}
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "audit chain BROKEN at event %d: %s (%d events verified before it)\n", res.BrokenAt, res.Problem, res.Checked)
			}
			if !res.OK {
				return exitError{code: 1}
			}
			return nil
		},
	}
	vf.add(verify)
	verify.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	verify.Flags().StringVar(&anchor, "anchor", "", "SEQ:HASH printed by an earlier verification; the chain must still reach it")

	var ef storeFlags
	var since string
	export := &cobra.Command{
		Use:   "export",
		Short: "Write audit events as JSON lines (for a SIEM)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var t time.Time
			if since != "" {
				var err error
				if t, err = time.Parse(time.RFC3339, since); err != nil {
					return fmt.Errorf("--since %q: want RFC 3339 like 2026-01-02T15:04:05Z", since)
				}
			}
			st, err := ef.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			n, err := audit.Export(cmd.Context(), st, cmd.OutOrStdout(), t)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%d events exported\n", n)
			return nil
		},
	}
	ef.add(export)
	export.Flags().StringVar(&since, "since", "", "only events at or after this time (RFC 3339)")
	c.AddCommand(verify, export)
	return c
}

func policyCmd() *cobra.Command {
	c := &cobra.Command{Use: "policy", Short: "Work with policy files"}
	check := &cobra.Command{
		Use:   "check FILE",
		Short: "Validate a config file; print line-numbered problems and exit non-zero if any",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := policy.Load(args[0])
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return exitError{code: 1}
			}
			defer p.Close()
			n := len(p.Resources())
			noun := "resources"
			if n == 1 {
				noun = "resource"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: OK (%d %s)\n", args[0], n, noun)
			return nil
		},
	}
	c.AddCommand(check)
	return c
}
