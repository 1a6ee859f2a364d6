package gcp

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	cloudasset "google.golang.org/api/cloudasset/v1"
)

// analysisTimeout is the time the Cloud Asset API may spend on one
// analysis (its executionTimeout; the API allows at most 60s). A person
// waits for it at submit.
const analysisTimeout = "30s"

// eligibleBinding is a role a member may activate on a resource.
type eligibleBinding struct {
	Resource    Resource
	Role        Role
	Eligibility Eligibility
}

// analyze runs one analyzeIamPolicy query over the scope.
func (p *Provider) analyze(ctx context.Context, c *clients, build func(*cloudasset.V1AnalyzeIamPolicyCall)) (*cloudasset.IamPolicyAnalysis, error) {
	call := c.asset.V1.AnalyzeIamPolicy(p.cfg.scope.String()).
		AnalysisQueryConditionContextAccessTime(p.now().UTC().Format(time.RFC3339)).
		ExecutionTimeout(analysisTimeout).
		Context(ctx)
	build(call)
	resp, err := call.Do()
	if err != nil {
		return nil, fmt.Errorf("analyze IAM policies under %s: %w", p.cfg.scope, err)
	}
	if resp.MainAnalysis == nil {
		return &cloudasset.IamPolicyAnalysis{}, nil
	}
	return resp.MainAnalysis, nil
}

// eligibleOn reports how member may activate role on r: the strongest
// eligibility of the bindings that apply to r (attached to it or
// inherited from a folder or organization above it, directly or through
// a group). complete is false when the analysis was cut short, so that a
// missing binding proves nothing.
func (p *Provider) eligibleOn(ctx context.Context, c *clients, member string, r Resource, role Role) (e Eligibility, complete bool, err error) {
	a, err := p.analyze(ctx, c, func(call *cloudasset.V1AnalyzeIamPolicyCall) {
		call.AnalysisQueryIdentitySelectorIdentity(member).
			AnalysisQueryResourceSelectorFullResourceName(r.FullName()).
			AnalysisQueryAccessSelectorRoles(string(role))
	})
	if err != nil {
		return NotEligible, false, err
	}
	for _, res := range a.AnalysisResults {
		if res.IamBinding == nil || res.IamBinding.Condition == nil || Role(res.IamBinding.Role) != role {
			continue
		}
		if got := eligibilityOf(res.IamBinding.Condition.Expression); got > e {
			e = got
		}
	}
	return e, a.FullyExplored, nil
}

// eligibleBindings lists every role member may activate on any project,
// folder or organization in the scope. With expandResources the API
// reports a binding on a folder for each project and folder below it, as
// Google's JIT Access relies on.
func (p *Provider) eligibleBindings(ctx context.Context, c *clients, member string) (bs []eligibleBinding, complete bool, err error) {
	a, err := p.analyze(ctx, c, func(call *cloudasset.V1AnalyzeIamPolicyCall) {
		call.AnalysisQueryIdentitySelectorIdentity(member).
			AnalysisQueryOptionsExpandResources(true)
	})
	if err != nil {
		return nil, false, err
	}
	best := map[Target]Eligibility{}
	for _, res := range a.AnalysisResults {
		if res.IamBinding == nil || res.IamBinding.Condition == nil {
			continue
		}
		e := eligibilityOf(res.IamBinding.Condition.Expression)
		if e == NotEligible {
			continue
		}
		role, err := ParseRole(res.IamBinding.Role)
		if err != nil {
			continue
		}
		var resources []string
		for _, acl := range res.AccessControlLists {
			for _, r := range acl.Resources {
				resources = append(resources, r.FullResourceName)
			}
		}
		if len(resources) == 0 {
			resources = []string{res.AttachedResourceFullName}
		}
		for _, name := range resources {
			// Only projects, folders and organizations have policies
			// jit writes; the expansion also lists buckets, instances
			// and the like.
			r, ok := resourceFromFullName(name)
			if !ok {
				continue
			}
			t := Target{Resource: r, Role: role}
			if e > best[t] {
				best[t] = e
			}
		}
	}
	for t, e := range best {
		bs = append(bs, eligibleBinding{Resource: t.Resource, Role: t.Role, Eligibility: e})
	}
	sort.Slice(bs, func(i, j int) bool {
		if bs[i].Resource != bs[j].Resource {
			return bs[i].Resource.String() < bs[j].Resource.String()
		}
		return bs[i].Role < bs[j].Role
	})
	return bs, a.FullyExplored, nil
}

// peers returns the people (emails) other than requester who hold a
// multi-party eligible binding of role that applies to r. Groups are
// expanded by the API (expandGroups) when jit's identity may read their
// members; a group it cannot expand contributes no one. Members are
// mapped back to people through the member template (personOf): a
// member no requester would be given, such as the requester's own
// Google account under another domain than jit knows them by, is no
// peer.
func (p *Provider) peers(ctx context.Context, c *clients, r Resource, role Role, requester, requesterMember string) ([]string, error) {
	a, err := p.analyze(ctx, c, func(call *cloudasset.V1AnalyzeIamPolicyCall) {
		call.AnalysisQueryResourceSelectorFullResourceName(r.FullName()).
			AnalysisQueryAccessSelectorRoles(string(role)).
			AnalysisQueryOptionsExpandGroups(true)
	})
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, res := range a.AnalysisResults {
		if res.IamBinding == nil || res.IamBinding.Condition == nil || Role(res.IamBinding.Role) != role {
			continue
		}
		if eligibilityOf(res.IamBinding.Condition.Expression) != MultiParty || res.IdentityList == nil {
			continue
		}
		for _, id := range res.IdentityList.Identities {
			if strings.EqualFold(id.Name, requesterMember) {
				continue
			}
			email, ok := p.cfg.personOf(id.Name)
			if !ok || strings.EqualFold(email, requester) || seen[email] {
				continue
			}
			seen[email] = true
			out = append(out, email)
		}
	}
	sort.Strings(out)
	return out, nil
}
