package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/jitaccess/jit/provider"
)

// The aws-auth ConfigMap and the annotation in which jit records the
// entries it added and the requests holding each.
const (
	AWSAuthNamespace  = "kube-system"
	AWSAuthName       = "aws-auth"
	AnnotationAWSAuth = "jit.dev/aws-auth"
)

// awsAuthState is the AnnotationAWSAuth annotation: the entries jit added
// to aws-auth, each with the requests that hold it. An entry jit did not
// add (the person was mapped already) is not recorded and never removed.
type awsAuthState struct {
	Entries []awsAuthOwned `json:"entries,omitempty"`
	// CreatedKeys are the data keys (mapRoles, mapUsers) jit added to the
	// ConfigMap; one is removed again when jit's last entry in it goes.
	CreatedKeys []string `json:"created_keys,omitempty"`
}

type awsAuthOwned struct {
	// Key is mapRoles or mapUsers; ARN the entry's rolearn or userarn.
	Key string `json:"key"`
	ARN string `json:"arn"`
	// Username is the Kubernetes user name mapped to; User the
	// requester's email.
	Username string `json:"username"`
	User     string `json:"user"`
	// Requests holding the entry, by request ID.
	Requests map[string]awsAuthRequest `json:"requests"`
}

type awsAuthRequest struct {
	Resource  string `json:"resource"`
	ExpiresAt string `json:"expires_at"`
}

// readAWSAuthState decodes the annotation. An annotation jit cannot read
// is an error: guessing which entries are jit's could remove someone
// else's mapping.
func readAWSAuthState(cm *corev1.ConfigMap) (awsAuthState, error) {
	var st awsAuthState
	raw := cm.Annotations[AnnotationAWSAuth]
	if raw == "" {
		return st, nil
	}
	bad := func(why string) (awsAuthState, error) {
		return awsAuthState{}, fmt.Errorf("annotation %s of ConfigMap %s/%s is unreadable (%s); jit leaves aws-auth alone until it is repaired", AnnotationAWSAuth, AWSAuthNamespace, AWSAuthName, why)
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return bad("not the JSON jit writes")
	}
	for _, e := range st.Entries {
		if e.Key != awsAuthRoles && e.Key != awsAuthUsers {
			return bad(fmt.Sprintf("unknown key %q", e.Key))
		}
		if _, err := ParseIAMARN(e.ARN); err != nil {
			return bad("an entry has an invalid ARN")
		}
		if e.Username == "" || len(e.Requests) == 0 {
			return bad("an entry has no user name or no requests")
		}
		for _, r := range e.Requests {
			if _, err := time.Parse(time.RFC3339, r.ExpiresAt); err != nil {
				return bad("an expiry is not RFC 3339")
			}
		}
	}
	for _, k := range st.CreatedKeys {
		if k != awsAuthRoles && k != awsAuthUsers {
			return bad(fmt.Sprintf("unknown created key %q", k))
		}
	}
	return st, nil
}

func writeAWSAuthState(cm *corev1.ConfigMap, st awsAuthState) error {
	if len(st.Entries) == 0 && len(st.CreatedKeys) == 0 {
		delete(cm.Annotations, AnnotationAWSAuth)
		return nil
	}
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encoding annotation %s: %w", AnnotationAWSAuth, err)
	}
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	cm.Annotations[AnnotationAWSAuth] = string(b)
	return nil
}

// find returns jit's entry for arn, compared without case as the EKS
// authenticator compares it.
func (st *awsAuthState) find(key, arn string) *awsAuthOwned {
	for i := range st.Entries {
		if st.Entries[i].Key == key && strings.EqualFold(st.Entries[i].ARN, arn) {
			return &st.Entries[i]
		}
	}
	return nil
}

// awsAuthEntryFor returns where aws-auth maps pr: mapUsers by the user's
// ARN, or mapRoles by the role's ARN without its path (see WithoutPath).
func awsAuthEntryFor(pr IAMPrincipal) (key, arn string) {
	if pr.Type == "user" {
		return awsAuthUsers, pr.String()
	}
	return awsAuthRoles, pr.WithoutPath()
}

// awsAuthBackoff spreads retries after a conflicting write: several jit
// replicas, eksctl and node group updates may write aws-auth at once.
var awsAuthBackoff = wait.Backoff{Steps: 10, Duration: 10 * time.Millisecond, Factor: 1.5, Jitter: 0.5}

// updateAWSAuth reads the aws-auth ConfigMap, lets change edit the data
// and jit's state, and writes it back with the resourceVersion it read, so
// that a concurrent writer's change is never overwritten: on a conflict it
// reads again and repeats. change reports whether it changed anything.
// create says whether a missing ConfigMap is created (a grant) or means
// there is nothing to do. wrote reports whether a write succeeded.
// Errors before any write are provider.NotApplied.
func (p *Provider) updateAWSAuth(ctx context.Context, c k8s.Interface, create bool, change func(cm *corev1.ConfigMap, st *awsAuthState) (bool, error)) (wrote bool, err error) {
	api := c.CoreV1().ConfigMaps(AWSAuthNamespace)
	where := AWSAuthNamespace + "/" + AWSAuthName
	err = retry.RetryOnConflict(awsAuthBackoff, func() error {
		cm, err := api.Get(ctx, AWSAuthName, metav1.GetOptions{})
		missing := apierrors.IsNotFound(err)
		switch {
		case missing && !create:
			return nil
		case missing:
			cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: AWSAuthName, Namespace: AWSAuthNamespace}}
		case err != nil:
			return provider.NotApplied(fmt.Errorf("reading ConfigMap %s: %w", where, err))
		}
		st, err := readAWSAuthState(cm)
		if err != nil {
			return provider.NotApplied(err)
		}
		changed, err := change(cm, &st)
		if err != nil {
			return provider.NotApplied(err)
		}
		if !changed {
			return nil
		}
		if err := writeAWSAuthState(cm, st); err != nil {
			return provider.NotApplied(err)
		}
		if p.beforeAWSAuthWrite != nil {
			p.beforeAWSAuthWrite()
		}
		if missing {
			_, err = api.Create(ctx, cm, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				// Created meanwhile by someone else: read it and edit that.
				return apierrors.NewConflict(corev1.Resource("configmaps"), AWSAuthName, err)
			}
		} else {
			// cm carries the resourceVersion read: the API server refuses
			// the update with a conflict if anyone wrote in between.
			_, err = api.Update(ctx, cm, metav1.UpdateOptions{})
		}
		switch {
		case err == nil:
			wrote = true
			return nil
		case apierrors.IsConflict(err):
			return err
		case apierrors.IsForbidden(err) || apierrors.IsInvalid(err):
			return provider.NotApplied(fmt.Errorf("writing ConfigMap %s: %w", where, err))
		}
		return fmt.Errorf("writing ConfigMap %s: %w", where, err)
	})
	if err != nil && apierrors.IsConflict(err) && !provider.IsNotApplied(err) {
		err = provider.NotApplied(fmt.Errorf("writing ConfigMap %s: still conflicting with other writers after retries: %w", where, err))
	}
	return wrote, err
}

// awsAuthGrant maps pr to the requester's user name in aws-auth for
// requestID: it adds the entry unless jit holds it already for another
// grant of the person (then it only records requestID) or it exists
// already, made by someone else (then it changes nothing, and never
// removes that entry). An ARN mapped to another user name is refused.
func (p *Provider) awsAuthGrant(ctx context.Context, c k8s.Interface, requestID, user string, pr IAMPrincipal, expires time.Time) (bool, error) {
	key, arn := awsAuthEntryFor(pr)
	field := arnField(key)
	username := p.username(user)
	hold := awsAuthRequest{Resource: p.cfg.resource, ExpiresAt: expires.UTC().Format(time.RFC3339)}
	return p.updateAWSAuth(ctx, c, true, func(cm *corev1.ConfigMap, st *awsAuthState) (bool, error) {
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		list, err := parseMapList(cm.Data[key])
		if err != nil {
			return false, fmt.Errorf("aws-auth %s %v; jit leaves it alone", key, err)
		}
		names := list.usernames(field, arn)
		if owned := st.find(key, arn); owned != nil {
			if owned.Username != username {
				return false, fmt.Errorf("jit maps %s to the Kubernetes user %q in aws-auth for other grants, not to %q", arn, owned.Username, username)
			}
			changed := false
			if owned.Requests[requestID] != hold {
				owned.Requests[requestID] = hold
				changed = true
			}
			if !slices.Contains(names, username) {
				if len(names) > 0 {
					return false, fmt.Errorf("aws-auth now maps %s to the Kubernetes user(s) %s, not by jit; jit does not change mappings it did not make", arn, quoteList(names))
				}
				// Someone removed jit's entry: restore it while grants
				// hold it.
				// Under the ARN jit recorded, so that the revoke finds it.
				text, err := appendEntry(cm.Data[key], field, owned.ARN, username)
				if err != nil {
					return false, fmt.Errorf("aws-auth %s: %v", key, err)
				}
				cm.Data[key] = text
				changed = true
			}
			return changed, nil
		}
		if len(names) > 0 {
			if len(names) == 1 && names[0] == username {
				// Mapped already by someone else: nothing to add, nothing
				// to remove later.
				return false, nil
			}
			return false, fmt.Errorf("aws-auth already maps %s to the Kubernetes user(s) %s, not by jit; jit does not change mappings it did not make", arn, quoteList(names))
		}
		if _, had := cm.Data[key]; !had && !slices.Contains(st.CreatedKeys, key) {
			st.CreatedKeys = append(st.CreatedKeys, key)
		}
		text, err := appendEntry(cm.Data[key], field, arn, username)
		if err != nil {
			return false, fmt.Errorf("aws-auth %s: %v", key, err)
		}
		cm.Data[key] = text
		st.Entries = append(st.Entries, awsAuthOwned{Key: key, ARN: arn, Username: username, User: user,
			Requests: map[string]awsAuthRequest{requestID: hold}})
		return true, nil
	})
}

// dropRequests removes the requests drop selects from jit's entries, and
// each entry no request holds any more from the data (and a data key jit
// created, once it holds none of jit's entries and nothing else). It
// returns how many entries it removed.
func dropRequests(cm *corev1.ConfigMap, st *awsAuthState, drop func(id string, r awsAuthRequest) bool) (changed bool, removed int, err error) {
	var keep []awsAuthOwned
	for _, e := range st.Entries {
		for id, r := range e.Requests {
			if drop(id, r) {
				delete(e.Requests, id)
				changed = true
			}
		}
		if len(e.Requests) > 0 {
			keep = append(keep, e)
			continue
		}
		text, ok, empty, err := removeEntry(cm.Data[e.Key], arnField(e.Key), e.ARN, e.Username)
		if err != nil {
			return false, 0, fmt.Errorf("aws-auth %s: %v; jit leaves it alone", e.Key, err)
		}
		if ok {
			removed++
			if cm.Data == nil {
				cm.Data = map[string]string{}
			}
			cm.Data[e.Key] = text
		}
		if empty && slices.Contains(st.CreatedKeys, e.Key) && strings.TrimSpace(cm.Data[e.Key]) == "" {
			delete(cm.Data, e.Key)
		}
	}
	st.Entries = keep
	// A created key is forgotten once jit holds no entry in it.
	var created []string
	for _, k := range st.CreatedKeys {
		if _, present := cm.Data[k]; present && slices.ContainsFunc(st.Entries, func(e awsAuthOwned) bool { return e.Key == k }) {
			created = append(created, k)
		}
	}
	if len(created) != len(st.CreatedKeys) {
		changed = true
	}
	st.CreatedKeys = created
	return changed, removed, nil
}

// awsAuthRevoke drops requestID's hold on jit's aws-auth entries and
// removes an entry no grant holds any more. It is idempotent.
func (p *Provider) awsAuthRevoke(ctx context.Context, c k8s.Interface, requestID string) error {
	_, err := p.updateAWSAuth(ctx, c, false, func(cm *corev1.ConfigMap, st *awsAuthState) (bool, error) {
		changed, _, err := dropRequests(cm, st, func(id string, _ awsAuthRequest) bool { return id == requestID })
		return changed, err
	})
	if err != nil {
		return fmt.Errorf("removing the aws-auth mapping: %w", err)
	}
	return nil
}

// awsAuthSweep drops every expired request's hold and removes the entries
// no grant holds any more. It returns how many entries it removed.
func (p *Provider) awsAuthSweep(ctx context.Context, c k8s.Interface, now time.Time) (int, error) {
	removed := 0
	_, err := p.updateAWSAuth(ctx, c, false, func(cm *corev1.ConfigMap, st *awsAuthState) (bool, error) {
		changed, n, err := dropRequests(cm, st, func(_ string, r awsAuthRequest) bool {
			at, err := time.Parse(time.RFC3339, r.ExpiresAt)
			return err == nil && !now.Before(at)
		})
		removed = n
		return changed, err
	})
	if err != nil {
		return 0, fmt.Errorf("sweeping aws-auth: %w", err)
	}
	return removed, nil
}

// awsAuthMapped reports whether aws-auth maps pr to username.
func (p *Provider) awsAuthMapped(ctx context.Context, c k8s.Interface, pr IAMPrincipal, username string) (bool, error) {
	cm, err := c.CoreV1().ConfigMaps(AWSAuthNamespace).Get(ctx, AWSAuthName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading ConfigMap %s/%s: %w", AWSAuthNamespace, AWSAuthName, err)
	}
	key, arn := awsAuthEntryFor(pr)
	list, err := parseMapList(cm.Data[key])
	if err != nil {
		return false, fmt.Errorf("aws-auth %s %v", key, err)
	}
	return slices.Contains(list.usernames(arnField(key), arn), username), nil
}

// awsAuthListed returns the requests of this resource holding jit's
// aws-auth entries.
func (p *Provider) awsAuthListed(ctx context.Context, c k8s.Interface) ([]provider.ListedGrant, error) {
	cm, err := c.CoreV1().ConfigMaps(AWSAuthNamespace).Get(ctx, AWSAuthName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading ConfigMap %s/%s: %w", AWSAuthNamespace, AWSAuthName, err)
	}
	st, err := readAWSAuthState(cm)
	if err != nil {
		return nil, err
	}
	var out []provider.ListedGrant
	for _, e := range st.Entries {
		for id, r := range e.Requests {
			if r.Resource != p.cfg.resource {
				continue
			}
			at, err := time.Parse(time.RFC3339, r.ExpiresAt)
			if err != nil {
				return nil, errors.New("unreadable expiry in the aws-auth annotation")
			}
			out = append(out, provider.ListedGrant{RequestID: id, User: e.User, ExpiresAt: &at})
		}
	}
	return out, nil
}
