package gcp

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	cloudasset "google.golang.org/api/cloudasset/v1"
	crm "google.golang.org/api/cloudresourcemanager/v3"
	"google.golang.org/api/googleapi"
	iam "google.golang.org/api/iam/v1"
	"google.golang.org/api/option"
)

// policyVersion is the IAM policy version that carries conditions.
// Reading with a lower version would return conditional bindings under
// mangled role names, and writing them back would fail or, worse, lose
// their conditions.
const policyVersion = 3

// clients are the Google API clients one provider uses.
type clients struct {
	crm   *crm.Service
	asset *cloudasset.Service
	iam   *iam.Service
}

func newClients(ctx context.Context, opts []option.ClientOption) (*clients, error) {
	c := &clients{}
	var err error
	if c.crm, err = crm.NewService(ctx, opts...); err != nil {
		return nil, fmt.Errorf("resource manager client: %w", err)
	}
	if c.asset, err = cloudasset.NewService(ctx, opts...); err != nil {
		return nil, fmt.Errorf("cloud asset client: %w", err)
	}
	if c.iam, err = iam.NewService(ctx, opts...); err != nil {
		return nil, fmt.Errorf("IAM client: %w", err)
	}
	return c, nil
}

// getPolicy reads the IAM policy of a project, folder or organization at
// version 3. The three kinds have the same call under another name, so
// everything above this function is one code path.
func (c *clients) getPolicy(ctx context.Context, r Resource) (*crm.Policy, error) {
	req := &crm.GetIamPolicyRequest{Options: &crm.GetPolicyOptions{RequestedPolicyVersion: policyVersion}}
	var (
		p   *crm.Policy
		err error
	)
	switch r.Kind {
	case Project:
		p, err = c.crm.Projects.GetIamPolicy(r.String(), req).Context(ctx).Do()
	case Folder:
		p, err = c.crm.Folders.GetIamPolicy(r.String(), req).Context(ctx).Do()
	case Organization:
		p, err = c.crm.Organizations.GetIamPolicy(r.String(), req).Context(ctx).Do()
	default:
		return nil, fmt.Errorf("resource %q has no IAM policy", r)
	}
	if err != nil {
		return nil, fmt.Errorf("get IAM policy of %s: %w", r, err)
	}
	return p, nil
}

// setPolicy writes p, whose Etag is that of the read it was made from,
// so that the write fails with a conflict if anyone changed the policy
// since.
func (c *clients) setPolicy(ctx context.Context, r Resource, p *crm.Policy) error {
	p.Version = policyVersion
	req := &crm.SetIamPolicyRequest{Policy: p}
	var err error
	switch r.Kind {
	case Project:
		_, err = c.crm.Projects.SetIamPolicy(r.String(), req).Context(ctx).Do()
	case Folder:
		_, err = c.crm.Folders.SetIamPolicy(r.String(), req).Context(ctx).Do()
	case Organization:
		_, err = c.crm.Organizations.SetIamPolicy(r.String(), req).Context(ctx).Do()
	default:
		return fmt.Errorf("resource %q has no IAM policy", r)
	}
	if err != nil {
		return fmt.Errorf("set IAM policy of %s: %w", r, err)
	}
	return nil
}

// parentOf returns the parent of a project or folder, and for projects
// also the name of the project by number and by ID, so that either
// spelling of a scope can be recognised.
func (c *clients) parentOf(ctx context.Context, r Resource) (parent string, aliases []string, err error) {
	switch r.Kind {
	case Project:
		p, err := c.crm.Projects.Get(r.String()).Context(ctx).Do()
		if err != nil {
			return "", nil, fmt.Errorf("get %s: %w", r, err)
		}
		aliases = []string{p.Name}
		if p.ProjectId != "" {
			aliases = append(aliases, "projects/"+p.ProjectId)
		}
		return p.Parent, aliases, nil
	case Folder:
		f, err := c.crm.Folders.Get(r.String()).Context(ctx).Do()
		if err != nil {
			return "", nil, fmt.Errorf("get %s: %w", r, err)
		}
		return f.Parent, []string{f.Name}, nil
	}
	// An organization has no parent.
	return "", []string{r.String()}, nil
}

// rolePermissions reads a role with roles.get (a predefined role by
// its name, a custom role from its project or organization) and returns
// its permissions and whether it is deleted.
func (c *clients) rolePermissions(ctx context.Context, role Role) ([]string, bool, error) {
	var (
		r   *iam.Role
		err error
	)
	switch {
	case !role.Custom():
		r, err = c.iam.Roles.Get(string(role)).Context(ctx).Do()
	case role.customParent().Kind == Project:
		r, err = c.iam.Projects.Roles.Get(string(role)).Context(ctx).Do()
	default:
		r, err = c.iam.Organizations.Roles.Get(string(role)).Context(ctx).Do()
	}
	if err != nil {
		return nil, false, fmt.Errorf("get role %s: %w", role, err)
	}
	return r.IncludedPermissions, r.Deleted, nil
}

// httpCode returns the HTTP status of a Google API error, or 0.
func httpCode(err error) int {
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return ge.Code
	}
	return 0
}

// isConflict reports whether a setIamPolicy failed because the policy
// changed since it was read: 409 ABORTED ("There were concurrent policy
// changes") or 412 FAILED_PRECONDITION (a stale etag).
func isConflict(err error) bool {
	code := httpCode(err)
	return code == http.StatusConflict || code == http.StatusPreconditionFailed
}

// isRejected reports whether the API answered err with a client error:
// it looked at the request and refused it, so it changed nothing.
func isRejected(err error) bool {
	code := httpCode(err)
	return code >= 400 && code < 500 && code != http.StatusRequestTimeout
}

// isNotFound reports a 403 or 404 on a read of a resource: the API
// answers 403 for what does not exist as well as for what jit may not
// see, and for a resource outside the scope either means "not here".
func isNotFound(err error) bool {
	code := httpCode(err)
	return code == http.StatusNotFound || code == http.StatusForbidden
}
