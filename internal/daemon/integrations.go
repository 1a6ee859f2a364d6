package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/pagerduty"
	"github.com/jitaccess/jit/policy"
	"github.com/jitaccess/jit/webhooks"
	"github.com/jitaccess/jit/workflow"
)

// onCallChecker builds the PagerDuty on-call lookup of server.pagerduty
// (nil without it) and the time a submit may wait for it.
func onCallChecker(srv policy.ServerConfig, clock jit.Clock) (workflow.OnCallChecker, time.Duration, error) {
	pc := srv.PagerDuty
	if pc == nil {
		return nil, 0, nil
	}
	token, err := pc.Token.Read()
	if err != nil {
		return nil, 0, fmt.Errorf("server.pagerduty: API key: %w", err)
	}
	pdc, err := pagerduty.New(pagerduty.Config{Token: token, BaseURL: pc.BaseURL, CacheTTL: pc.CacheTTL, Timeout: pc.Timeout, Clock: clock})
	if err != nil {
		return nil, 0, fmt.Errorf("server.pagerduty: %w", err)
	}
	check := workflow.OnCallFunc(func(ctx context.Context, email string, schedules, policies []string) (policy.OnCallResult, error) {
		r, err := pdc.OnCall(ctx, email, schedules, policies)
		return policy.OnCallResult{OnCall: r.OnCall, Via: r.Via, Until: r.Until}, err
	})
	// Schedules and escalation policies are asked one after the other.
	return check, 2 * pc.Timeout, nil
}

// notifiers builds the notification sinks of server.notifications, and
// how long before expiry to remind. Secrets are read here, once, at start.
func notifiers(srv policy.ServerConfig, holder *policy.Holder, clock jit.Clock, log *slog.Logger) ([]jit.Notifier, time.Duration, error) {
	nc := srv.Notifications
	if nc == nil {
		return nil, 0, nil
	}
	var out []jit.Notifier
	if len(nc.Webhooks) > 0 {
		var eps []webhooks.Endpoint
		for _, w := range nc.Webhooks {
			secret, err := w.Secret.Read()
			if err != nil {
				return nil, 0, fmt.Errorf("server.notifications.webhooks %s: secret: %w", w.Name, err)
			}
			eps = append(eps, webhooks.Endpoint{Name: w.Name, URL: w.URL, Secret: []byte(secret), Actions: w.Actions})
		}
		wh, err := webhooks.New(webhooks.Config{Endpoints: eps, Clock: clock})
		if err != nil {
			return nil, 0, fmt.Errorf("server.notifications.webhooks: %w", err)
		}
		// One sink per endpoint, so that each has its own retries.
		out = append(out, wh.Sinks()...)
	}
	if ec := nc.Email; ec != nil {
		n, err := emailNotifier(ec, srv.BaseURL, holder, clock)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, n)
	}
	return out, nc.RemindBefore, nil
}
