package workflow

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/policy"
	"github.com/jitaccess/jit/provider"
)

// Limits of what a request names beyond its resource: both are stored with
// the request and shown to approvers.
const (
	maxTargetLen = 1024
	maxSSHKeyLen = 16 << 10
)

// checkTimeout bounds the provider's look at its target at submit.
const checkTimeout = 10 * time.Second

// subject is what a request names beyond its resource and access level,
// as the provider's check accepted it.
type subject struct {
	target, summary, sshKey string
	labels, peers           []string
	peersFromTarget         bool
}

func (c subject) apply(r *jit.Request) {
	r.Target, r.TargetSummary, r.SSHPublicKey = c.target, c.summary, c.sshKey
	r.Labels, r.Peers, r.PeersFromTarget = c.labels, c.peers, c.peersFromTarget
}

// checkSubject asks the resource's provider, when it checks requests
// (provider.Checker), whether the request could be granted exactly as
// asked. It runs before anyone is asked to approve, so a request that can
// never be granted (a Kubernetes target that would grant nothing, an SSH
// key of a refused type, a Google Cloud role the person is not eligible
// for) is refused at once with the provider's reason. A resource whose
// provider does not check takes no target and no SSH key. An extension
// names what the access it extends named; the check runs again, since
// eligibility may have changed.
//
// ok is false when there was nothing to check (the provider checks
// nothing and nothing was named).
//
// dur is how long the access would last from now: for an extension, what
// is left of the access it extends plus the extension (a certificate
// authority refuses what it could not issue).
func (s *Service) checkSubject(ctx context.Context, p *policy.Policy, who jit.Identity, in SubmitInput, access string, dur time.Duration, extends *jit.Request) (subject, bool, error) {
	target, key := strings.TrimSpace(in.Target), strings.TrimSpace(in.SSHPublicKey)
	if extends != nil {
		if target != "" && target != extends.Target {
			return subject{}, false, jit.FieldErrorf("target", jit.ECodeInvalid, "an extension keeps the target of the access it extends (%s)", orWhole(extends.Target))
		}
		if key != "" && key != extends.SSHPublicKey {
			return subject{}, false, jit.FieldErrorf("ssh_public_key", jit.ECodeInvalid, "an extension keeps the SSH key of the access it extends")
		}
		target, key = extends.Target, extends.SSHPublicKey
	}
	switch {
	case len(target) > maxTargetLen:
		return subject{}, false, jit.FieldErrorf("target", jit.ECodeInvalid, "the target is %d bytes long; at most %d are accepted", len(target), maxTargetLen)
	case len(key) > maxSSHKeyLen:
		return subject{}, false, jit.FieldErrorf("ssh_public_key", jit.ECodeInvalid, "the SSH public key is %d bytes long; at most %d are accepted", len(key), maxSSHKeyLen)
	}
	var checker provider.Checker
	if prov, ok := s.providerFor(p, in.Resource); ok {
		checker, _ = provider.As[provider.Checker](prov)
	}
	if checker == nil {
		if target != "" {
			return subject{}, false, jit.FieldErrorf("target", jit.ECodeInvalid, "resource %s does not take a target", in.Resource)
		}
		if key != "" {
			return subject{}, false, jit.FieldErrorf("ssh_public_key", jit.ECodeInvalid, "resource %s does not take an SSH public key", in.Resource)
		}
		return subject{}, false, nil
	}
	cctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	resp, err := checker.Check(cctx, provider.CheckRequest{
		Resource: in.Resource, User: who.Email, Access: access, Duration: dur,
		Target: target, SSHPublicKey: key,
	})
	var refused *provider.RefusedError
	switch {
	case errors.As(err, &refused):
		// The field the refusal most likely concerns, for forms.
		field := ""
		switch {
		case target != "":
			field = "target"
		case key != "":
			field = "ssh_public_key"
		}
		if field == "" {
			return subject{}, false, jit.Errorf(jit.ECodeRefused, "%s", refused.Reason)
		}
		return subject{}, false, jit.FieldErrorf(field, jit.ECodeRefused, "%s", refused.Reason)
	case err != nil:
		s.log.Error("check request", "resource", in.Resource, "err", err)
		return subject{}, false, jit.Errorf(jit.ECodeUnavailable, "the request could not be checked against %s; retry later", in.Resource)
	}
	c := subject{target: target, summary: resp.Summary, sshKey: key, labels: resp.Labels, peersFromTarget: resp.PeersFromTarget || len(resp.Peers) > 0}
	if resp.Target != "" {
		c.target = resp.Target
	}
	for _, e := range resp.Peers {
		if !strings.EqualFold(e, who.Email) {
			c.peers = append(c.peers, strings.ToLower(e))
		}
	}
	return c, true, nil
}

func orWhole(target string) string {
	if target == "" {
		return "the whole resource"
	}
	return target
}

// revokeRequest is the provider's view of removing r's access.
func revokeRequest(r *jit.Request) provider.RevokeRequest {
	req := provider.RevokeRequest{RequestID: r.ID, User: r.Requester, Resource: r.Resource, Access: r.Access,
		Handle: r.Handle, Target: r.Target}
	if r.ExpiresAt != nil {
		req.ExpiresAt = *r.ExpiresAt
	}
	return req
}
