package cli

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/client"
	"github.com/jitaccess/jit/policy"
)

func (a *app) loginCommand() *cobra.Command {
	var noKey bool
	cmd := &cobra.Command{
		Use:   "login --server URL --token TOKEN",
		Short: "Check a token with the server and store it for later commands",
		Long: `login checks the token with the server (whoami) and stores the server and
token in the user config directory (jit/config.json, readable only by you).
--token - reads the token from stdin, keeping it out of shell history.

login also makes sure you have a key pair for receiving database
credentials: the first login makes one (jit/identity.txt, readable only by
you), and every login registers its public key with the server. --no-key
skips this.`,
		Example: `  jit login --server https://jit.example.com --token "$TOKEN"
  pass show jit | jit login --server https://jit.example.com --token -`,
		Args: noArgs,
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			server, token, err := a.settings(cmd)
			if err != nil {
				return err
			}
			if server == "" {
				return usageErrorf("login needs --server (or JIT_SERVER)")
			}
			if token == "" {
				return usageErrorf("login needs --token (or JIT_TOKEN)")
			}
			p, err := configPath(a.opts.Getenv)
			if err != nil {
				return err
			}
			c, err := a.newClient(server, token)
			if err != nil {
				return err
			}
			id, err := c.Whoami(cmd.Context())
			if err != nil {
				// Nothing is stored when the server refuses the token.
				return fmt.Errorf("login failed: %w", err)
			}
			if err := saveConfig(p, fileConfig{Server: c.Server(), Token: token}); err != nil {
				return err
			}
			if a.output == "json" {
				if err := writeJSON(a.opts.Stdout, id); err != nil {
					return err
				}
			} else if _, err := fmt.Fprintf(a.opts.Stdout, "Logged in to %s as %s.\n", c.Server(), id.Email); err != nil {
				return err
			}
			if noKey {
				return nil
			}
			return a.loginKey(cmd.Context(), c)
		}),
	}
	cmd.Flags().BoolVar(&noKey, "no-key", false, "do not make or register a key for receiving database credentials")
	return cmd
}

func (a *app) logoutCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Remove the stored token (the server URL is kept)",
		Args:  noArgs,
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			p, err := configPath(a.opts.Getenv)
			if err != nil {
				return err
			}
			cfg, _, err := loadConfig(p)
			if err != nil {
				return err
			}
			had := cfg.Token != ""
			if had {
				cfg.Token = ""
				if err := saveConfig(p, cfg); err != nil {
					return err
				}
			}
			if a.output == "json" {
				return writeJSON(a.opts.Stdout, map[string]any{"server": cfg.Server, "logged_out": had})
			}
			msg := "Not logged in."
			if had {
				msg = "Logged out."
				if cfg.Server != "" {
					msg = fmt.Sprintf("Logged out of %s.", cfg.Server)
				}
			}
			_, err = fmt.Fprintln(a.opts.Stdout, msg)
			return err
		}),
	}
}

func (a *app) whoamiCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show who the server takes you for",
		Args:  noArgs,
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			id, err := c.Whoami(cmd.Context())
			if err != nil {
				return a.apiError(cmd, err)
			}
			if a.output == "json" {
				return writeJSON(a.opts.Stdout, id)
			}
			t := newList(a.opts.Stdout)
			t.row("Email:", id.Email)
			t.row("Groups:", strings.Join(id.Groups, ", "))
			t.row("Admin:", yesNo(id.Admin))
			t.row("Via:", id.Via)
			t.row("Server:", c.Server())
			return t.flush()
		}),
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (a *app) resourcesCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "resources",
		Short: "List what you may request",
		Args:  noArgs,
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			offers, err := c.Resources(cmd.Context())
			if err != nil {
				return a.apiError(cmd, err)
			}
			if a.output == "json" {
				if offers == nil {
					offers = []policy.Offer{}
				}
				return writeJSON(a.opts.Stdout, map[string]any{"items": offers})
			}
			if len(offers) == 0 {
				_, err := fmt.Fprintln(a.opts.Stdout, "No resources you may request.")
				return err
			}
			t := newTable(a.opts.Stdout)
			t.row("RESOURCE", "ACCESS", "MAX", "APPROVAL", "REASON")
			for _, o := range offers {
				t.row(o.Resource, accessText(o), maxText(o.MaxDuration), approvalText(o), reasonText(o))
			}
			return t.flush()
		}),
	}
}

// accessText lists access levels, the default marked with *.
func accessText(o policy.Offer) string {
	parts := make([]string, len(o.Access))
	for i, l := range o.Access {
		parts[i] = l
		if l == o.DefaultAccess {
			parts[i] += "*"
		}
	}
	return strings.Join(parts, ",")
}

func maxText(s string) string {
	if d, err := time.ParseDuration(s); err == nil {
		return fmtDuration(d)
	}
	return s
}

func approvalText(o policy.Offer) string {
	if !o.ApprovalRequired {
		return "auto"
	}
	return fmt.Sprintf("%d of %s", o.ApprovalsRequired, strings.Join(o.Approvers, ", "))
}

func reasonText(o policy.Offer) string {
	switch {
	case o.ReasonPattern != "":
		return o.ReasonPattern
	case o.ReasonRequired:
		return "required"
	}
	return "-"
}

func (a *app) policyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Ask the policy",
		Args:  noArgs,
		RunE:  groupHelp,
	}
	var o client.ExplainOptions
	explain := &cobra.Command{
		Use:   "explain --resource R [--access L] [--for D] [--reason R] [--as EMAIL]",
		Short: "Say whether a request would be allowed, who approves it, and why",
		Args:  noArgs,
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(o.Resource) == "" {
				return usageErrorf("%s needs --resource", name(cmd))
			}
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			d, err := c.Explain(cmd.Context(), o)
			if err != nil {
				return a.apiError(cmd, err)
			}
			if a.output == "json" {
				return writeJSON(a.opts.Stdout, d)
			}
			return a.printDecision(d)
		}),
	}
	f := explain.Flags()
	f.StringVar(&o.Resource, "resource", "", "the resource (required)")
	f.StringVar(&o.Access, "access", "", "the access level (default: the resource's default)")
	f.StringVar(&o.Duration, "for", "", "the duration (Go notation: 30m, 1h)")
	f.StringVar(&o.Reason, "reason", "", "the justification")
	f.StringVar(&o.As, "as", "", "explain for this person (admins and approvers)")
	cmd.AddCommand(explain)
	return cmd
}

func (a *app) printDecision(d policy.Decision) error {
	t := newList(a.opts.Stdout)
	if d.Allowed {
		t.row("Allowed:", "yes")
		t.row("Rule:", d.Rule)
		t.row("Access:", d.Access)
		switch {
		case d.AutoApproved:
			t.row("Approval:", "automatic")
		case d.ApprovalsRequired > 0:
			line := fmt.Sprintf("%d of %s", d.ApprovalsRequired, strings.Join(d.Approvers, ", "))
			if len(d.ApproverEmails) > 0 {
				line += " (" + strings.Join(d.ApproverEmails, ", ") + ")"
			}
			t.row("Approval:", line)
		default:
			t.row("Approval:", "none")
		}
		if d.SelfApproval {
			t.row("Self-approval:", "allowed")
		}
	} else {
		why := d.Message
		if d.Code != "" {
			why = d.Code + ": " + d.Message
		}
		t.row("Allowed:", "no — "+oneLine(why))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if len(d.Explanation) > 0 {
		fmt.Fprintln(a.opts.Stdout, "Explanation:")
		for _, l := range d.Explanation {
			fmt.Fprintln(a.opts.Stdout, "  "+cell(oneLine(l)))
		}
	}
	return nil
}

func (a *app) auditCommand() *cobra.Command {
	var (
		o     client.AuditOptions
		since string
		all   bool
	)
	cmd := &cobra.Command{
		Use:   "audit [--request ID] [--since T] [--limit N] [--all]",
		Short: "Read the audit log",
		Example: `  jit audit --request req_01J...
  jit audit --since 24h --all
  jit audit verify`,
		Args: noArgs,
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			if since != "" {
				t, err := parseSince(since, a.now())
				if err != nil {
					return usageErrorf("--since: %v", err)
				}
				o.Since = t
			}
			if cmd.Flags().Changed("limit") && o.Limit <= 0 {
				return usageErrorf("--limit must be positive")
			}
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			var events []jit.AuditEvent
			next := ""
			for {
				p, err := c.Audit(cmd.Context(), o)
				if err != nil {
					return a.apiError(cmd, err)
				}
				events = append(events, p.Items...)
				next = p.Next
				// A cursor that does not move would loop for ever.
				if !all || next == "" || next == o.After {
					break
				}
				o.After = next
			}
			if all {
				next = ""
			}
			if a.output == "json" {
				if events == nil {
					events = []jit.AuditEvent{}
				}
				return writeJSON(a.opts.Stdout, client.AuditPage{Items: events, Next: next})
			}
			if len(events) == 0 {
				_, err := fmt.Fprintln(a.opts.Stdout, "No events.")
				return err
			}
			t := newTable(a.opts.Stdout)
			t.row("SEQ", "TIME", "ACTOR", "ACTION", "REQUEST", "SOURCE", "REASON")
			for _, e := range events {
				t.row(fmt.Sprint(e.Seq), e.Time.In(a.opts.Location).Format("2006-01-02 15:04:05"), e.Actor, e.Action,
					e.RequestID, e.Source.Kind, truncate(e.Reason, 40))
			}
			if err := t.flush(); err != nil {
				return err
			}
			if next != "" {
				fmt.Fprintf(a.opts.Stderr, "jit: more events: add --after %s, or --all\n", next)
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&o.Request, "request", "", "only events of this request")
	f.StringVar(&o.Actor, "actor", "", "only events by this actor")
	f.StringVar(&o.Action, "action", "", "only events with this action (submit, approve, grant...)")
	f.StringVar(&since, "since", "", "only events since T: RFC 3339 time, date (2006-01-02) or age (24h)")
	f.IntVar(&o.Limit, "limit", 0, "events per page (server default)")
	f.StringVar(&o.After, "after", "", "the cursor printed by the previous page")
	f.BoolVar(&all, "all", false, "follow every page to the end")

	cmd.AddCommand(&cobra.Command{
		Use:   "verify",
		Short: "Check the audit log's hash chain (admins)",
		Args:  noArgs,
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			res, err := c.VerifyAudit(cmd.Context())
			if err != nil {
				return a.apiError(cmd, err)
			}
			if a.output == "json" {
				if err := writeJSON(a.opts.Stdout, res); err != nil {
					return err
				}
			}
			if !res.OK {
				msg := fmt.Sprintf("audit chain broken at event %d", res.BrokenAt)
				if res.Problem != "" {
					msg += ": " + res.Problem
				}
				return fmt.Errorf("%s (%d events checked)", msg, res.Checked)
			}
			if a.output == "table" {
				_, err = fmt.Fprintf(a.opts.Stdout, "Audit chain intact: %s checked.\n", plural(int(res.Checked), "event", "events"))
			}
			return err
		}),
	})
	return cmd
}

// parseSince reads --since: an RFC 3339 time, a date (midnight UTC), or an
// age such as 24h or 90m counted back from now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, errors.New("an age must be positive")
		}
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time, a date or an age like 24h", s)
}

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of jit",
		Args:  noArgs,
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			v := map[string]string{"version": version(), "go": runtime.Version(), "platform": runtime.GOOS + "/" + runtime.GOARCH}
			if a.output == "json" {
				return writeJSON(a.opts.Stdout, v)
			}
			_, err := fmt.Fprintf(a.opts.Stdout, "jit %s (%s, %s)\n", v["version"], v["go"], v["platform"])
			return err
		}),
	}
}
