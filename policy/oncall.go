package policy

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Automatic approval for the person on call (auto_approve.oncall) and the
// PagerDuty settings it needs (server.pagerduty). Decide stays free of I/O:
// OnCallQueries says which lookups a decision may need, the caller makes
// them, and Decide reads the answers from Input.OnCall.

// Defaults and limits of server.pagerduty. They are the pagerduty
// package's own (a test keeps the two in step); policy does not import
// that adapter, so that loading a policy pulls in no API client.
const (
	DefaultPagerDutyBaseURL  = "https://api.pagerduty.com"
	DefaultPagerDutyCacheTTL = 60 * time.Second
	MaxPagerDutyCacheTTL     = time.Hour
	DefaultPagerDutyTimeout  = 5 * time.Second
	// MaxPagerDutyTimeout bounds timeout: a request being submitted waits
	// for the lookup.
	MaxPagerDutyTimeout = time.Minute
	// DefaultOnCallMaxDuration is auto_approve.max_duration for a rule
	// with oncall that sets none (or the rule's max_duration, when that is
	// shorter): being paged is a reason for short access, not a long one.
	DefaultOnCallMaxDuration = time.Hour
	// maxPagerDutyID bounds a schedule or escalation policy ID
	// (PagerDuty's are 7 to 14 characters).
	maxPagerDutyID = 64
)

// PagerDutyConfig is server.pagerduty: how jitd reaches PagerDuty's REST
// API for on-call lookups. It names where the API key is, never the key.
type PagerDutyConfig struct {
	// Token is the REST API key's file or environment variable (exactly
	// one is set); jitd reads it at start with Token.Read.
	Token SecretRef
	// BaseURL is the REST API (default DefaultPagerDutyBaseURL): https, or
	// http on a loopback address.
	BaseURL string
	// CacheTTL is how long one fetched on-call list answers lookups
	// (default DefaultPagerDutyCacheTTL, at most MaxPagerDutyCacheTTL).
	CacheTTL time.Duration
	// Timeout bounds one fetch of an on-call list, all pages included
	// (default DefaultPagerDutyTimeout, at most MaxPagerDutyTimeout).
	Timeout time.Duration
}

// OnCallQuery is one on-call lookup: is the requester on call now in one of
// these PagerDuty schedules or escalation policies? The IDs are sorted and
// distinct.
type OnCallQuery struct {
	Schedules          []string `json:"schedules,omitempty"`
	EscalationPolicies []string `json:"escalation_policies,omitempty"`
}

// Key identifies the query's set of IDs, whatever rule it comes from; it
// is the key of the query's answer in Input.OnCall.
func (q OnCallQuery) Key() string {
	return "pagerduty:schedules=" + strings.Join(q.Schedules, ",") + ";escalation_policies=" + strings.Join(q.EscalationPolicies, ",")
}

// String names the query for explanations: "PagerDuty schedule PABC123 or
// escalation policy PXYZ789".
func (q OnCallQuery) String() string { return "PagerDuty " + q.names() }

// names is String without "PagerDuty".
func (q OnCallQuery) names() string {
	var parts []string
	if len(q.Schedules) > 0 {
		parts = append(parts, plural(len(q.Schedules), "schedule", "schedules")+" "+strings.Join(q.Schedules, ", "))
	}
	if len(q.EscalationPolicies) > 0 {
		parts = append(parts, plural(len(q.EscalationPolicies), "escalation policy", "escalation policies")+" "+strings.Join(q.EscalationPolicies, ", "))
	}
	return strings.Join(parts, " or ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func (q OnCallQuery) clone() OnCallQuery {
	return OnCallQuery{Schedules: slices.Clone(q.Schedules), EscalationPolicies: slices.Clone(q.EscalationPolicies)}
}

// OnCallResult is a definite answer to an OnCallQuery.
type OnCallResult struct {
	// OnCall is true when the requester is on call now in one of the
	// query's schedules or escalation policies.
	OnCall bool `json:"on_call"`
	// Via names what they are on call in, such as "schedule:PABC123" or
	// "escalation_policy:PXYZ789"; empty when OnCall is false.
	Via string `json:"via,omitempty"`
	// Until is the end of that on-call shift; zero when PagerDuty gives
	// none (a permanent on-call).
	Until time.Time `json:"until,omitzero"`
}

// OnCallAnswer is the outcome of one on-call lookup. A non-nil Err means
// there is no answer: the lookup failed (PagerDuty unreachable, too slow,
// refused the key, rate limited...), and Result is ignored.
type OnCallAnswer struct {
	Result OnCallResult
	Err    error
}

// OnCallQueries lists the on-call lookups deciding in may need, without
// repeats: those of the rules with auto_approve.oncall that in reaches with
// everything else about their automatic approval met (the rule allows the
// request, the duration is within auto_approve.max_duration, the
// auto_approve condition holds), up to the first rule that approves
// automatically without one. Answers already in in.OnCall are not listed
// again. It has no side effects; the result is the caller's to keep.
func (p *Policy) OnCallQueries(in Input) []OnCallQuery {
	w := p.who(in.Requester)
	var out []OnCallQuery
	seen := map[string]bool{}
	p.decideWith(&w, in, func(q *OnCallQuery) {
		if k := q.Key(); !seen[k] {
			seen[k] = true
			out = append(out, q.clone())
		}
	})
	return out
}

// onCallOutcome is what an on-call condition makes of a decision.
type onCallOutcome struct {
	// result is set when the requester is on call.
	result *OnCallResult
	// why explains the outcome for the rule's explanation line.
	why string
	// missing is set when the query has no answer in the input.
	missing bool
}

// onCall reads the answer to q from in.
func onCall(q *OnCallQuery, in Input, email string) onCallOutcome {
	ans, ok := in.OnCall[q.Key()]
	switch {
	case !ok:
		return onCallOutcome{missing: true,
			why: fmt.Sprintf("auto_approve does not apply: whether %s is on call in %s was not looked up; normal approval", email, q)}
	case ans.Err != nil:
		return onCallOutcome{why: fmt.Sprintf("auto_approve does not apply: PagerDuty could not say whether %s is on call in %s: %v; normal approval", email, q.names(), ans.Err)}
	case !ans.Result.OnCall:
		return onCallOutcome{why: fmt.Sprintf("auto_approve does not apply: %s is not on call in %s", email, q)}
	}
	res := ans.Result
	why := fmt.Sprintf("%s is on call in PagerDuty", email)
	if res.Via != "" {
		why += " via " + res.Via
	}
	if res.Until.IsZero() {
		why += " with no end of shift"
	} else {
		res.Until = res.Until.UTC()
		why += " until " + res.Until.Format(time.RFC3339)
	}
	return onCallOutcome{result: &res, why: why}
}

// pagerDuty reads server.pagerduty and applies its defaults. It returns a
// config even when the section has problems (they fail the load anyway),
// so that rules using oncall are not also told that the section is
// missing.
func (d *decoder) pagerDuty(n *yaml.Node) *PagerDutyConfig {
	line := d.keyLine
	const where = "server.pagerduty"
	pc := &PagerDutyConfig{BaseURL: DefaultPagerDutyBaseURL, CacheTTL: DefaultPagerDutyCacheTTL, Timeout: DefaultPagerDutyTimeout}
	if !d.fields(n, where, merge(map[string]func(*yaml.Node){
		"base_url": func(v *yaml.Node) {
			if t, ok := d.str(v, where+".base_url"); ok {
				u := strings.TrimRight(strings.TrimSpace(t.v), "/")
				if err := checkPagerDutyURL(u); err != nil {
					d.addf(t.line, "%s.base_url: %v", where, err)
				} else {
					pc.BaseURL = u
				}
			}
		},
		"cache_ttl": func(v *yaml.Node) {
			if dur, ok := d.duration(v, where+".cache_ttl"); ok {
				if dur > MaxPagerDutyCacheTTL {
					d.addf(d.keyLine, "%s.cache_ttl: %s is too long (at most %s: an older on-call list is too stale to approve anything on)", where, FormatDuration(dur), FormatDuration(MaxPagerDutyCacheTTL))
				} else {
					pc.CacheTTL = dur
				}
			}
		},
		"timeout": func(v *yaml.Node) {
			if dur, ok := d.duration(v, where+".timeout"); ok {
				if dur > MaxPagerDutyTimeout {
					d.addf(d.keyLine, "%s.timeout: %s is too long (at most %s: a request being submitted waits for the lookup)", where, FormatDuration(dur), FormatDuration(MaxPagerDutyTimeout))
				} else {
					pc.Timeout = dur
				}
			}
		},
	}, d.secretRef(&pc.Token, where, "token"))) {
		return pc
	}
	d.needSecret(pc.Token, line, where, "token")
	return pc
}

// checkPagerDutyURL accepts what the pagerduty package accepts as its base
// URL: the API key travels to it, so https (http on loopback only), no
// credentials, no query or fragment.
func checkPagerDutyURL(s string) error {
	if err := checkOIDCURL(s); err != nil {
		return err
	}
	u, _ := url.Parse(s)
	if u.User != nil {
		return fmt.Errorf("%q must not contain credentials (the API key goes in token_file or token_env)", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q must not have a query or fragment", s)
	}
	return nil
}

// validPagerDutyID checks the form of a schedule or escalation policy ID
// (such as PABC123): letters and digits, at most maxPagerDutyID. It is the
// check of pagerduty.ValidateID, so that a policy the loader accepts never
// fails that check at the first lookup.
func validPagerDutyID(id string) bool {
	if id == "" || len(id) > maxPagerDutyID {
		return false
	}
	for _, r := range id {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// onCall reads auto_approve.oncall. Whenever the key holds a value it
// returns a query, even one with problems (they fail the load), so that a
// faulty oncall never turns into an unconditional automatic approval.
func (d *decoder) onCall(n *yaml.Node, where string) *OnCallQuery {
	line := d.keyLine
	q := &OnCallQuery{}
	given := false
	d.fields(n, where, map[string]func(*yaml.Node){
		"pagerduty": func(v *yaml.Node) {
			given = true
			pdLine := d.keyLine
			d.fields(v, where+".pagerduty", map[string]func(*yaml.Node){
				"schedules": func(v *yaml.Node) { q.Schedules = d.pagerDutyIDs(v, where+".pagerduty.schedules", "schedule") },
				"escalation_policies": func(v *yaml.Node) {
					q.EscalationPolicies = d.pagerDutyIDs(v, where+".pagerduty.escalation_policies", "escalation policy")
				},
			})
			if len(q.Schedules) == 0 && len(q.EscalationPolicies) == 0 {
				d.addf(pdLine, "%s.pagerduty: list at least one schedule or escalation policy ID (schedules, escalation_policies)", where)
			}
		},
	})
	if !given {
		d.addf(line, "%s: pagerduty is required (schedules and escalation policies whose on-call person is approved automatically)", where)
	}
	return q
}

// pagerDutyIDs reads a list of schedule or escalation policy IDs, sorted
// and without repeats.
func (d *decoder) pagerDutyIDs(n *yaml.Node, where, what string) []string {
	var out []string
	for _, t := range d.strList(n, where) {
		id := strings.TrimSpace(t.v)
		if !validPagerDutyID(id) {
			d.addf(t.line, "%s: %q is not a PagerDuty %s ID (letters and digits, such as PABC123: the last part of its address in PagerDuty)", where, t.v, what)
			continue
		}
		out = append(out, id)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
