package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/client"
)

// waitWhile are the states a request passes through on its way to active.
var waitWhile = []jit.Status{jit.StatusPending, jit.StatusApproved, jit.StatusGranting}

func (a *app) requestCommand() *cobra.Command {
	var (
		access, dur, reason, query, target string
		wait                               bool
		timeout                            time.Duration
	)
	cmd := &cobra.Command{
		Use:   "request RESOURCE",
		Short: "Ask for time-limited access to a resource",
		Example: `  jit request demo-app --for 1h --reason INC-42
  jit request demo-db --access admin --for 30m --reason INC-42 --wait
  jit request demo-db --query "UPDATE orders SET total = 0 WHERE id = 7" --reason INC-42
  jit request prod-k8s --access view --target deployments/default/nginx-deployment --reason INC-42`,
		Args: oneArg("RESOURCE"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("timeout") && !wait {
				return usageErrorf("--timeout only applies with --wait")
			}
			if timeout <= 0 {
				return usageErrorf("--timeout must be positive")
			}
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			r, err := c.Submit(cmd.Context(), client.SubmitRequest{Resource: args[0], Access: access, Duration: dur, Reason: reason, Query: query, Target: target})
			if err != nil {
				return a.apiError(cmd, err)
			}
			if !wait {
				return a.printRequestLine(cmd, r)
			}
			return a.follow(cmd, c, r, timeout)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&access, "access", "", "access level (default: the resource's default level)")
	f.StringVar(&dur, "for", "1h", "how long the access should last (Go notation: 30m, 1h, 2h30m)")
	f.StringVar(&reason, "reason", "", "justification, such as a ticket or incident ID")
	f.StringVar(&query, "query", "", "for a database: the SQL statement to run; the grant is exactly the table privileges it needs")
	f.StringVar(&target, "target", "", "narrow the request to part of the resource: for Kubernetes *, NAMESPACE, KIND/NAMESPACE, KIND/NAMESPACE/NAME or KIND/NAME (see `jit targets`)")
	f.BoolVar(&wait, "wait", false, "wait until the access is active, printing each change")
	f.DurationVar(&timeout, "timeout", 30*time.Minute, "with --wait, how long to wait at most")
	return cmd
}

// follow long-polls r until it leaves the waiting states, printing a line
// whenever its status or approval count changes. Active ends well; any other
// end, the timeout, or an interruption is an error.
func (a *app) follow(cmd *cobra.Command, c *client.Client, r *jit.Request, timeout time.Duration) error {
	// Progress goes to stdout in table mode; in JSON mode stdout carries only
	// the final document, so progress goes to stderr.
	progress := a.opts.Stdout
	if a.output == "json" {
		progress = a.opts.Stderr
	}
	final, err := a.await(cmd, c, r, timeout, progress)
	if a.output == "json" {
		if perr := writeJSON(a.opts.Stdout, final); perr != nil {
			return perr
		}
	}
	return err
}

// await long-polls r until it leaves the waiting states, printing a line
// to progress whenever its status or approval count changes. It returns
// the last state seen, with an error unless that state is active: the
// request ended otherwise, the timeout passed, or the wait was interrupted.
func (a *app) await(cmd *cobra.Command, c *client.Client, r *jit.Request, timeout time.Duration, progress io.Writer) (*jit.Request, error) {
	last := r
	fmt.Fprintln(progress, statusLine(r, a.now()))
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	defer cancel()
	var final *jit.Request
	var err error
	if slices.Contains(waitWhile, r.Status) {
		final, err = c.WaitFor(ctx, r.ID, waitWhile, func(n *jit.Request) {
			if n.Status != last.Status || n.ApprovalCount() != last.ApprovalCount() {
				fmt.Fprintln(progress, statusLine(n, a.now()))
			}
			last = n
		})
	} else {
		final = r
	}
	if err != nil {
		switch {
		case errors.Is(err, context.DeadlineExceeded) && cmd.Context().Err() == nil:
			return last, fmt.Errorf("timed out after %s waiting for %s (still %s)", fmtDuration(timeout), last.ID, last.Status)
		case errors.Is(err, context.Canceled):
			return last, fmt.Errorf("stopped waiting for %s (still %s)", last.ID, last.Status)
		}
		return last, a.apiError(cmd, err)
	}
	if final.Status != jit.StatusActive {
		return final, endedError(final)
	}
	return final, nil
}

func (a *app) printRequestLine(cmd *cobra.Command, r *jit.Request) error {
	if a.output == "json" {
		return writeJSON(a.opts.Stdout, r)
	}
	_, err := fmt.Fprintln(a.opts.Stdout, statusLine(r, a.now()))
	return err
}

func (a *app) lsCommand() *cobra.Command {
	var (
		pending, active, all bool
		statuses             []string
		resource, requester  string
		limit                int
		after                string
	)
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List requests (yours by default)",
		Example: `  jit ls
  jit ls --pending           # waiting for your review
  jit ls --all --status active,revoking --resource demo-db`,
		Args: noArgs,
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			o := client.ListOptions{Scope: client.ScopeMine, Resource: resource, Requester: requester, After: after}
			n := 0
			for _, s := range []struct {
				on    bool
				scope string
			}{{pending, client.ScopePending}, {active, client.ScopeActive}, {all, client.ScopeAll}} {
				if s.on {
					o.Scope = s.scope
					n++
				}
			}
			if n > 1 {
				return usageErrorf("--pending, --active and --all exclude each other")
			}
			for _, s := range statuses {
				for _, one := range strings.Split(s, ",") {
					st := jit.Status(strings.TrimSpace(one))
					if !st.Valid() {
						return usageErrorf("unknown status %q (one of %s)", one, statusNames())
					}
					o.Statuses = append(o.Statuses, st)
				}
			}
			if cmd.Flags().Changed("limit") && limit <= 0 {
				return usageErrorf("--limit must be positive")
			}
			o.Limit = limit
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			p, err := c.List(cmd.Context(), o)
			if err != nil {
				return a.apiError(cmd, err)
			}
			if a.output == "json" {
				return writeJSON(a.opts.Stdout, p)
			}
			if len(p.Items) == 0 {
				_, err := fmt.Fprintln(a.opts.Stdout, "No requests.")
				return err
			}
			now := a.now()
			t := newTable(a.opts.Stdout)
			t.row("ID", "STATUS", "RESOURCE", "ACCESS", "REQUESTER", "DURATION", "EXPIRES", "REASON")
			for _, r := range p.Items {
				t.row(r.ID, string(r.Status), r.Resource, r.Access, r.Requester, fmtDuration(r.Duration),
					expires(r, now), truncate(r.Reason, 40))
			}
			if err := t.flush(); err != nil {
				return err
			}
			if p.Next != "" {
				fmt.Fprintf(a.opts.Stderr, "jit: more requests: add --after %s\n", p.Next)
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.BoolVar(&pending, "pending", false, "requests waiting for your review")
	f.BoolVar(&active, "active", false, "active access")
	f.BoolVar(&all, "all", false, "every request you may see")
	f.StringSliceVar(&statuses, "status", nil, "only these statuses (comma-separated)")
	f.StringVar(&resource, "resource", "", "only this resource")
	f.StringVar(&requester, "requester", "", "only this requester's requests")
	f.IntVar(&limit, "limit", 0, "at most this many requests (server default 50)")
	f.StringVar(&after, "after", "", "the cursor printed by the previous page")
	return cmd
}

func statusNames() string {
	s := make([]string, len(jit.AllStatuses))
	for i, st := range jit.AllStatuses {
		s[i] = string(st)
	}
	return strings.Join(s, ", ")
}

// expires is the EXPIRES column: the time left while access exists.
func expires(r *jit.Request, now time.Time) string {
	if r.ExpiresAt == nil || (r.Status != jit.StatusActive && r.Status != jit.StatusRevoking) {
		return "-"
	}
	return relative(*r.ExpiresAt, now)
}

func (a *app) showCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show a request in full",
		Args:  oneArg("ID"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			r, err := c.Get(cmd.Context(), args[0])
			if err != nil {
				return a.apiError(cmd, err)
			}
			if a.output == "json" {
				return writeJSON(a.opts.Stdout, r)
			}
			return a.printRequest(r)
		}),
	}
}

// printRequest prints every field of r as a key/value list.
func (a *app) printRequest(r *jit.Request) error {
	now := a.now()
	ts := func(t time.Time) string {
		return fmt.Sprintf("%s (%s)", t.In(a.opts.Location).Format("2006-01-02 15:04:05 MST"), relative(t, now))
	}
	t := newList(a.opts.Stdout)
	t.row("ID:", r.ID)
	t.row("Status:", fmt.Sprintf("%s — %s", r.Status, describe(r, now)))
	t.row("Requester:", r.Requester)
	t.row("Resource:", r.Resource)
	t.row("Access:", r.Access)
	if r.Target != "" {
		t.row("Target:", r.Target)
	}
	if r.TargetSummary != "" {
		t.row("Grants:", r.TargetSummary)
	}
	if r.SSHPublicKey != "" {
		t.row("SSH key:", jit.SSHKeyFingerprint(r.SSHPublicKey))
	}
	if len(r.Labels) > 0 {
		t.row("Labels:", strings.Join(r.Labels, ", "))
	}
	if len(r.Peers) > 0 {
		t.row("Peers:", strings.Join(r.Peers, ", "))
	}
	if r.Query != "" {
		t.row("Query:", r.Query)
	}
	for i, p := range r.Privileges {
		label := ""
		if i == 0 {
			label = "Privileges:"
		}
		t.row(label, p.String())
	}
	t.row("Duration:", fmtDuration(r.Duration))
	t.row("Reason:", r.Reason)
	if r.ExtendsID != "" {
		t.row("Extends:", r.ExtendsID)
	}
	t.row("Rule:", r.Rule)
	switch {
	case r.AutoApproved:
		t.row("Approval:", "automatic")
	case r.ApprovalsRequired > 0:
		t.row("Approval:", fmt.Sprintf("%d of %s", r.ApprovalsRequired, strings.Join(r.Approvers, ", ")))
	default:
		t.row("Approval:", "none")
	}
	for i, ap := range r.Approvals {
		label := ""
		if i == 0 {
			label = "Approvals:"
		}
		verb := "approved"
		if !ap.Approved {
			verb = "denied"
		}
		line := fmt.Sprintf("%s %s %s", ap.Approver, verb, relative(ap.At, now))
		if ap.Comment != "" {
			line += ": " + oneLine(ap.Comment)
		}
		t.row(label, line)
	}
	t.row("Created:", ts(r.CreatedAt))
	if r.Status == jit.StatusPending && !r.LapsesAt.IsZero() {
		t.row("Lapses:", ts(r.LapsesAt))
	}
	if r.GrantedAt != nil {
		t.row("Granted:", ts(*r.GrantedAt))
	}
	if r.ExpiresAt != nil && r.Status.Terminal() && r.Status != jit.StatusExpired {
		// Ended early: the expiry no longer applies.
		t.row("Expires:", r.ExpiresAt.In(a.opts.Location).Format("2006-01-02 15:04:05 MST")+" (ended before)")
	} else if r.ExpiresAt != nil {
		t.row("Expires:", ts(*r.ExpiresAt))
	}
	if r.EndedAt != nil {
		t.row("Ended:", ts(*r.EndedAt))
	}
	if r.EndedBy != "" {
		t.row("Ended by:", r.EndedBy)
	}
	if r.EndReason != "" {
		t.row("End reason:", oneLine(r.EndReason))
	}
	return t.flush()
}

// actionCommand builds approve, deny, cancel, relinquish and revoke: one
// call on one request, printing the request as it is afterwards.
func (a *app) actionCommand(use, short, textFlag, textHelp string, required bool,
	do func(ctx context.Context, c *client.Client, id, text string) (*jit.Request, error)) *cobra.Command {
	var text string
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  oneArg("ID"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			if required && strings.TrimSpace(text) == "" {
				return usageErrorf("%s needs --%s", name(cmd), textFlag)
			}
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			r, err := do(cmd.Context(), c, args[0], text)
			if err != nil {
				return a.apiError(cmd, err)
			}
			return a.printRequestLine(cmd, r)
		}),
	}
	if textFlag != "" {
		cmd.Flags().StringVar(&text, textFlag, "", textHelp)
	}
	return cmd
}

func (a *app) approveCommand() *cobra.Command {
	return a.actionCommand("approve ID [--comment TEXT]", "Approve a request", "comment", "a comment for the requester", false,
		func(ctx context.Context, c *client.Client, id, text string) (*jit.Request, error) {
			return c.Approve(ctx, id, text)
		})
}

func (a *app) denyCommand() *cobra.Command {
	return a.actionCommand("deny ID --reason TEXT", "Deny a pending request", "reason", "why (required)", true,
		func(ctx context.Context, c *client.Client, id, text string) (*jit.Request, error) {
			return c.Deny(ctx, id, text)
		})
}

func (a *app) cancelCommand() *cobra.Command {
	return a.actionCommand("cancel ID", "Cancel your own pending or approved request", "", "", false,
		func(ctx context.Context, c *client.Client, id, _ string) (*jit.Request, error) {
			return c.Cancel(ctx, id)
		})
}

func (a *app) relinquishCommand() *cobra.Command {
	return a.actionCommand("relinquish ID", "Give up your active access early", "", "", false,
		func(ctx context.Context, c *client.Client, id, _ string) (*jit.Request, error) {
			return c.Relinquish(ctx, id)
		})
}

func (a *app) revokeCommand() *cobra.Command {
	return a.actionCommand("revoke ID --reason TEXT", "End someone's access", "reason", "why (required)", true,
		func(ctx context.Context, c *client.Client, id, text string) (*jit.Request, error) {
			return c.Revoke(ctx, id, text)
		})
}

func (a *app) extendCommand() *cobra.Command {
	var dur, reason string
	cmd := &cobra.Command{
		Use:     "extend ID --for DURATION [--reason TEXT]",
		Short:   "Ask for more time on access (files a new, linked request)",
		Example: `  jit extend req_01J... --for 30m --reason "INC-42 still open"`,
		Args:    oneArg("ID"),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(dur) == "" {
				return usageErrorf("%s needs --for", name(cmd))
			}
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			r, err := c.Extend(cmd.Context(), args[0], dur, reason)
			if err != nil {
				return a.apiError(cmd, err)
			}
			return a.printRequestLine(cmd, r)
		}),
	}
	cmd.Flags().StringVar(&dur, "for", "", "how much longer (Go notation: 30m, 1h)")
	cmd.Flags().StringVar(&reason, "reason", "", "justification")
	return cmd
}
