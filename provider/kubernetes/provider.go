package kubernetes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery/cached/memory"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/jitaccess/jit/provider"
)

// Type is the provider type name used in jit.yaml.
const Type = "kubernetes"

func init() { provider.Register(Type, New) }

var _ provider.Provider = (*Provider)(nil)

// Labels and annotations on every object jit creates.
const (
	LabelManagedBy       = "app.kubernetes.io/managed-by"
	ManagedByValue       = "jit"
	LabelRequest         = "jit.dev/request"
	AnnotationRequestID  = "jit.dev/request-id"
	AnnotationRequester  = "jit.dev/requester"
	AnnotationExpiresAt  = "jit.dev/expires-at"
	AnnotationTarget     = "jit.dev/target"
	AnnotationAccess     = "jit.dev/access"
	AnnotationResource   = "jit.dev/resource"
	objectNamePrefix     = "jit-"
	objectNameHashLength = 20
)

// Options are what tests (and envtest-based tests) inject instead of the
// connection the settings describe.
type Options struct {
	// Client is the cluster; nil means the one the settings describe.
	Client k8s.Interface
	// Resolver maps kinds; nil means discovery through Client.
	Resolver Resolver
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Provider grants ClusterRoles, narrowed to a target, by binding a
// per-request ClusterRole to the requester. It is safe for concurrent use.
type Provider struct {
	cfg config
	now func() time.Time

	mu       sync.Mutex
	client   k8s.Interface
	resolver Resolver
}

// handle is GrantResponse.Handle.
type handle struct {
	Role        string `json:"role"`
	BindingKind string `json:"binding_kind"`
	Namespace   string `json:"namespace,omitempty"`
	Binding     string `json:"binding"`
}

// New builds the provider from r.Settings. It validates them and returns
// every problem, naming its key; it neither reads the kubeconfig nor
// contacts the cluster (that happens at first use).
func New(r provider.Resource) (provider.Provider, error) {
	return NewWithOptions(r, Options{})
}

// NewWithOptions is New with the cluster, resolver and clock given.
func NewWithOptions(r provider.Resource, o Options) (*Provider, error) {
	cfg, err := parseConfig(r)
	if err != nil {
		return nil, err
	}
	p := &Provider{cfg: cfg, now: o.Now, client: o.Client, resolver: o.Resolver}
	if p.now == nil {
		p.now = time.Now
	}
	return p, nil
}

// connect returns the client and resolver, building them on first use.
func (p *Provider) connect() (k8s.Interface, Resolver, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client == nil {
		var rc *rest.Config
		var err error
		if p.cfg.inCluster {
			rc, err = rest.InClusterConfig()
		} else {
			rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: p.cfg.kubeconfigFile}
			over := &clientcmd.ConfigOverrides{CurrentContext: p.cfg.context}
			rc, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, over).ClientConfig()
		}
		if err != nil {
			return nil, nil, fmt.Errorf("kubernetes client configuration: %w", err)
		}
		c, err := k8s.NewForConfig(rc)
		if err != nil {
			return nil, nil, fmt.Errorf("kubernetes client: %w", err)
		}
		p.client = c
	}
	if p.resolver == nil {
		// Discovery is cached for the provider's life; a policy reload
		// builds a new provider and so sees new CRDs.
		mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(p.client.Discovery()))
		p.resolver = NewMapperResolver(mapper)
	}
	return p.client, p.resolver, nil
}

// requestTarget returns the target of a grant. For Kubernetes the
// request's query carries the target ("deployments/default/web"), until
// GrantRequest has a field of its own for it.
func requestTarget(req provider.GrantRequest) string { return req.Query }

// ObjectName is the name of the ClusterRole and binding of a request:
// "jit-" and 20 hex digits of SHA-256 of the request ID.
func ObjectName(requestID string) string {
	sum := sha256.Sum256([]byte(requestID))
	return objectNamePrefix + hex.EncodeToString(sum[:])[:objectNameHashLength]
}

var labelUnsafe = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// requestLabel is the request ID made a valid label value: unsafe
// characters become '-', at most 63 characters, alphanumeric at both ends.
// Several IDs may share one; objects are found by name (ObjectName), and
// the label only lets people select them.
func requestLabel(id string) string {
	v := labelUnsafe.ReplaceAllString(id, "-")
	if len(v) > 63 {
		v = v[:63]
	}
	return strings.Trim(v, "-_.")
}

// plan is what a grant creates.
type plan struct {
	target Target
	rules  []rbacv1.PolicyRule
}

// plan checks access and target and narrows the role; it changes nothing.
func (p *Provider) plan(ctx context.Context, c k8s.Interface, res Resolver, access, target string) (plan, error) {
	if !contains(p.cfg.roles, access) {
		return plan{}, fmt.Errorf("access %q is not one of the roles %s", access, strings.Join(p.cfg.roles, ", "))
	}
	t, err := ParseTarget(target, res, p.cfg.protected)
	if err != nil {
		return plan{}, err
	}
	all, err := roleRules(ctx, c, access)
	if err != nil {
		return plan{}, err
	}
	rules, err := Narrow(all, t, res)
	if err != nil {
		return plan{}, fmt.Errorf("ClusterRole %q on %s: %w", access, t, err)
	}
	if err := Guard(rules, p.cfg.allow); err != nil {
		return plan{}, fmt.Errorf("ClusterRole %q on %s: %w", access, t, err)
	}
	return plan{target: t, rules: rules}, nil
}

// Check reports whether a request for access on target would be granted:
// the role is offered, the target parses, is not protected, the role
// grants something on it and nothing Guard refuses. It reads the role and
// discovery information and changes nothing, so the workflow can call it
// at submit (it needs a provider capability for that; none exists yet).
// Errors from ParseTarget (*TargetError), Narrow (ErrNothingGranted) and
// Guard (*EscalationError) are wrapped and safe to show to the requester.
func (p *Provider) Check(ctx context.Context, access, target string) error {
	c, res, err := p.connect()
	if err != nil {
		return err
	}
	_, err = p.plan(ctx, c, res, access, target)
	return err
}

// Grant creates the ClusterRole ObjectName(req.RequestID) with the rules of
// the ClusterRole req.Access narrowed to the target (requestTarget) and
// binds it to the user: by a RoleBinding in the target's namespace, or a
// ClusterRoleBinding for cluster-wide and cluster-scoped targets.
//
// It is idempotent: objects of the request that exist already are brought
// in line (rules, subjects, annotations). Objects of that name not made by
// jit for this request are never changed: that is an error.
//
// Errors: provider.NotApplied when nothing was created or changed (an
// invalid request, a refused target or role, no connection, the role
// could not be read or the role creation was refused). Later errors leave
// the outcome unknown.
func (p *Provider) Grant(ctx context.Context, req provider.GrantRequest) (provider.GrantResponse, error) {
	what := fmt.Sprintf("kubernetes grant %q", req.RequestID)
	if req.RequestID == "" || req.User == "" {
		return provider.GrantResponse{}, provider.NotApplied(fmt.Errorf("%s: the request has no ID or no user", what))
	}
	if req.ExpiresAt.IsZero() {
		return provider.GrantResponse{}, provider.NotApplied(fmt.Errorf("%s: the request has no expiry", what))
	}
	c, res, err := p.connect()
	if err != nil {
		return provider.GrantResponse{}, provider.NotApplied(fmt.Errorf("%s: %w", what, err))
	}
	pl, err := p.plan(ctx, c, res, req.Access, requestTarget(req))
	if err != nil {
		return provider.GrantResponse{}, provider.NotApplied(fmt.Errorf("%s: %w", what, err))
	}
	name := ObjectName(req.RequestID)
	meta := metav1.ObjectMeta{
		Name: name,
		Labels: map[string]string{
			LabelManagedBy: ManagedByValue,
			LabelRequest:   requestLabel(req.RequestID),
		},
		Annotations: map[string]string{
			AnnotationRequestID: req.RequestID,
			AnnotationRequester: req.User,
			AnnotationExpiresAt: req.ExpiresAt.UTC().Format(time.RFC3339),
			AnnotationTarget:    pl.target.String(),
			AnnotationAccess:    req.Access,
			AnnotationResource:  p.cfg.resource,
		},
	}
	role := &rbacv1.ClusterRole{ObjectMeta: meta, Rules: pl.rules}
	if err := p.upsertRole(ctx, c, role); err != nil {
		return provider.GrantResponse{}, fmt.Errorf("%s: %w", what, err)
	}
	subjects := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: p.cfg.userPrefix + req.User}}
	ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}
	h := handle{Role: name, Binding: name}
	if pl.target.Namespaced() {
		bm := *meta.DeepCopy()
		bm.Namespace = pl.target.Namespace
		h.BindingKind, h.Namespace = "RoleBinding", pl.target.Namespace
		err = upsertRoleBinding(ctx, c, &rbacv1.RoleBinding{ObjectMeta: bm, Subjects: subjects, RoleRef: ref})
	} else {
		h.BindingKind = "ClusterRoleBinding"
		err = upsertClusterRoleBinding(ctx, c, &rbacv1.ClusterRoleBinding{ObjectMeta: *meta.DeepCopy(), Subjects: subjects, RoleRef: ref})
	}
	if err != nil {
		return provider.GrantResponse{}, fmt.Errorf("%s: %w", what, err)
	}
	raw, err := json.Marshal(h)
	if err != nil {
		return provider.GrantResponse{}, fmt.Errorf("%s: encoding handle: %w", what, err)
	}
	return provider.GrantResponse{Handle: raw}, nil
}

// ours reports whether an existing object was made by jit for requestID.
func ours(m metav1.ObjectMeta, requestID string) error {
	if m.Labels[LabelManagedBy] != ManagedByValue || m.Annotations[AnnotationRequestID] != requestID {
		return fmt.Errorf("%s exists but was not created by jit for this request; left unchanged", m.Name)
	}
	return nil
}

func (p *Provider) upsertRole(ctx context.Context, c k8s.Interface, want *rbacv1.ClusterRole) error {
	api := c.RbacV1().ClusterRoles()
	_, err := api.Create(ctx, want, metav1.CreateOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		// A refused creation (forbidden, invalid) changed nothing.
		if apierrors.IsForbidden(err) || apierrors.IsInvalid(err) {
			return provider.NotApplied(fmt.Errorf("creating ClusterRole %s: %w", want.Name, err))
		}
		return fmt.Errorf("creating ClusterRole %s: %w", want.Name, err)
	}
	got, err := api.Get(ctx, want.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading ClusterRole %s: %w", want.Name, err)
	}
	if err := ours(got.ObjectMeta, want.Annotations[AnnotationRequestID]); err != nil {
		return err
	}
	if equality.Semantic.DeepEqual(got.Rules, want.Rules) && sameMeta(got.ObjectMeta, want.ObjectMeta) {
		return nil
	}
	got.Rules = want.Rules
	mergeMeta(&got.ObjectMeta, want.ObjectMeta)
	if _, err := api.Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating ClusterRole %s: %w", want.Name, err)
	}
	return nil
}

func upsertRoleBinding(ctx context.Context, c k8s.Interface, want *rbacv1.RoleBinding) error {
	api := c.RbacV1().RoleBindings(want.Namespace)
	_, err := api.Create(ctx, want, metav1.CreateOptions{})
	if err == nil || !apierrors.IsAlreadyExists(err) {
		if err != nil {
			return fmt.Errorf("creating RoleBinding %s/%s: %w", want.Namespace, want.Name, err)
		}
		return nil
	}
	got, err := api.Get(ctx, want.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading RoleBinding %s/%s: %w", want.Namespace, want.Name, err)
	}
	if err := ours(got.ObjectMeta, want.Annotations[AnnotationRequestID]); err != nil {
		return err
	}
	if got.RoleRef != want.RoleRef {
		// roleRef is immutable; only a foreign edit could have changed it.
		return fmt.Errorf("RoleBinding %s/%s refers to %s %q, not the request's role", want.Namespace, want.Name, got.RoleRef.Kind, got.RoleRef.Name)
	}
	if equality.Semantic.DeepEqual(got.Subjects, want.Subjects) && sameMeta(got.ObjectMeta, want.ObjectMeta) {
		return nil
	}
	got.Subjects = want.Subjects
	mergeMeta(&got.ObjectMeta, want.ObjectMeta)
	if _, err := api.Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating RoleBinding %s/%s: %w", want.Namespace, want.Name, err)
	}
	return nil
}

func upsertClusterRoleBinding(ctx context.Context, c k8s.Interface, want *rbacv1.ClusterRoleBinding) error {
	api := c.RbacV1().ClusterRoleBindings()
	_, err := api.Create(ctx, want, metav1.CreateOptions{})
	if err == nil || !apierrors.IsAlreadyExists(err) {
		if err != nil {
			return fmt.Errorf("creating ClusterRoleBinding %s: %w", want.Name, err)
		}
		return nil
	}
	got, err := api.Get(ctx, want.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading ClusterRoleBinding %s: %w", want.Name, err)
	}
	if err := ours(got.ObjectMeta, want.Annotations[AnnotationRequestID]); err != nil {
		return err
	}
	if got.RoleRef != want.RoleRef {
		return fmt.Errorf("ClusterRoleBinding %s refers to %s %q, not the request's role", want.Name, got.RoleRef.Kind, got.RoleRef.Name)
	}
	if equality.Semantic.DeepEqual(got.Subjects, want.Subjects) && sameMeta(got.ObjectMeta, want.ObjectMeta) {
		return nil
	}
	got.Subjects = want.Subjects
	mergeMeta(&got.ObjectMeta, want.ObjectMeta)
	if _, err := api.Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating ClusterRoleBinding %s: %w", want.Name, err)
	}
	return nil
}

// sameMeta reports whether got already has want's labels and annotations.
func sameMeta(got, want metav1.ObjectMeta) bool {
	for k, v := range want.Labels {
		if got.Labels[k] != v {
			return false
		}
	}
	for k, v := range want.Annotations {
		if got.Annotations[k] != v {
			return false
		}
	}
	return true
}

func mergeMeta(got *metav1.ObjectMeta, want metav1.ObjectMeta) {
	if got.Labels == nil {
		got.Labels = map[string]string{}
	}
	if got.Annotations == nil {
		got.Annotations = map[string]string{}
	}
	for k, v := range want.Labels {
		got.Labels[k] = v
	}
	for k, v := range want.Annotations {
		got.Annotations[k] = v
	}
}

// decodeHandle returns the handle, or nil when there is none.
func decodeHandle(raw json.RawMessage, requestID string) (*handle, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var h handle
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, fmt.Errorf("handle is not a kubernetes handle: %w", err)
	}
	// The handle comes from the store; it may only name this request's
	// objects.
	name := ObjectName(requestID)
	if h.Role != name || h.Binding != name || (h.BindingKind != "RoleBinding" && h.BindingKind != "ClusterRoleBinding") {
		return nil, errors.New("handle does not name this request's objects")
	}
	return &h, nil
}

// bindingNamespaces returns the namespaces of the request's RoleBindings:
// the handle's, or every namespace holding one (found by label, then
// checked by name and request annotation) when there is no handle.
func bindingNamespaces(ctx context.Context, c k8s.Interface, h *handle, requestID string) ([]string, error) {
	if h != nil {
		if h.BindingKind == "RoleBinding" {
			return []string{h.Namespace}, nil
		}
		return nil, nil
	}
	sel := LabelManagedBy + "=" + ManagedByValue + "," + LabelRequest + "=" + requestLabel(requestID)
	list, err := c.RbacV1().RoleBindings(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("listing RoleBindings: %w", err)
	}
	name := ObjectName(requestID)
	var out []string
	for _, b := range list.Items {
		if b.Name == name && ours(b.ObjectMeta, requestID) == nil && !slices.Contains(out, b.Namespace) {
			out = append(out, b.Namespace)
		}
	}
	return out, nil
}

// Revoke deletes the request's binding, then its ClusterRole. It is
// idempotent: objects already gone are success. Objects of the request's
// name not made by jit for this request are left alone (an error).
// Errors leave the outcome unknown; a retry finishes the job.
func (p *Provider) Revoke(ctx context.Context, req provider.RevokeRequest) (provider.RevokeResponse, error) {
	what := fmt.Sprintf("kubernetes revoke %q", req.RequestID)
	if req.RequestID == "" {
		return provider.RevokeResponse{}, fmt.Errorf("%s: the request has no ID", what)
	}
	h, err := decodeHandle(req.Handle, req.RequestID)
	if err != nil {
		return provider.RevokeResponse{}, fmt.Errorf("%s: %w", what, err)
	}
	c, _, err := p.connect()
	if err != nil {
		return provider.RevokeResponse{}, fmt.Errorf("%s: %w", what, err)
	}
	name := ObjectName(req.RequestID)
	namespaces, err := bindingNamespaces(ctx, c, h, req.RequestID)
	if err != nil {
		return provider.RevokeResponse{}, fmt.Errorf("%s: %w", what, err)
	}
	for _, ns := range namespaces {
		if err := deleteRoleBinding(ctx, c, ns, name, req.RequestID); err != nil {
			return provider.RevokeResponse{}, fmt.Errorf("%s: %w", what, err)
		}
	}
	if h == nil || h.BindingKind == "ClusterRoleBinding" {
		if err := deleteClusterRoleBinding(ctx, c, name, req.RequestID); err != nil {
			return provider.RevokeResponse{}, fmt.Errorf("%s: %w", what, err)
		}
	}
	if err := deleteClusterRole(ctx, c, name, req.RequestID); err != nil {
		return provider.RevokeResponse{}, fmt.Errorf("%s: %w", what, err)
	}
	return provider.RevokeResponse{}, nil
}

// Each delete reads the object first and deletes it with its UID as a
// precondition, so that only the object checked is deleted. requestID ""
// (Sweep) accepts any jit object.

func deleteRoleBinding(ctx context.Context, c k8s.Interface, ns, name, requestID string) error {
	api := c.RbacV1().RoleBindings(ns)
	got, err := api.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading RoleBinding %s/%s: %w", ns, name, err)
	}
	if err := checkOwned(got.ObjectMeta, requestID); err != nil {
		return err
	}
	return ignoreNotFound(api.Delete(ctx, name, deleteOpts(got.UID)), "RoleBinding "+ns+"/"+name)
}

func deleteClusterRoleBinding(ctx context.Context, c k8s.Interface, name, requestID string) error {
	api := c.RbacV1().ClusterRoleBindings()
	got, err := api.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading ClusterRoleBinding %s: %w", name, err)
	}
	if err := checkOwned(got.ObjectMeta, requestID); err != nil {
		return err
	}
	return ignoreNotFound(api.Delete(ctx, name, deleteOpts(got.UID)), "ClusterRoleBinding "+name)
}

func deleteClusterRole(ctx context.Context, c k8s.Interface, name, requestID string) error {
	api := c.RbacV1().ClusterRoles()
	got, err := api.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading ClusterRole %s: %w", name, err)
	}
	if err := checkOwned(got.ObjectMeta, requestID); err != nil {
		return err
	}
	return ignoreNotFound(api.Delete(ctx, name, deleteOpts(got.UID)), "ClusterRole "+name)
}

func checkOwned(m metav1.ObjectMeta, requestID string) error {
	if requestID == "" {
		if m.Labels[LabelManagedBy] != ManagedByValue {
			return fmt.Errorf("%s is not managed by jit; left alone", m.Name)
		}
		return nil
	}
	return ours(m, requestID)
}

func deleteOpts(uid types.UID) metav1.DeleteOptions {
	if uid == "" {
		return metav1.DeleteOptions{}
	}
	return metav1.DeleteOptions{Preconditions: metav1.NewUIDPreconditions(string(uid))}
}

func ignoreNotFound(err error, what string) error {
	if err == nil || apierrors.IsNotFound(err) {
		return nil
	}
	return fmt.Errorf("deleting %s: %w", what, err)
}

// Verify reports whether the request's binding and ClusterRole exist. The
// cluster enforces no expiry by itself, so ExpiresAt is nil. It has no
// side effects.
func (p *Provider) Verify(ctx context.Context, req provider.VerifyRequest) (provider.VerifyResponse, error) {
	what := fmt.Sprintf("kubernetes verify %q", req.RequestID)
	if req.RequestID == "" {
		return provider.VerifyResponse{}, fmt.Errorf("%s: the request has no ID", what)
	}
	h, err := decodeHandle(req.Handle, req.RequestID)
	if err != nil {
		return provider.VerifyResponse{}, fmt.Errorf("%s: %w", what, err)
	}
	c, _, err := p.connect()
	if err != nil {
		return provider.VerifyResponse{}, fmt.Errorf("%s: %w", what, err)
	}
	name := ObjectName(req.RequestID)
	bound := false
	namespaces, err := bindingNamespaces(ctx, c, h, req.RequestID)
	if err != nil {
		return provider.VerifyResponse{}, fmt.Errorf("%s: %w", what, err)
	}
	for _, ns := range namespaces {
		b, err := c.RbacV1().RoleBindings(ns).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return provider.VerifyResponse{}, fmt.Errorf("%s: reading RoleBinding %s/%s: %w", what, ns, name, err)
		case ours(b.ObjectMeta, req.RequestID) == nil:
			bound = true
		}
	}
	if !bound && (h == nil || h.BindingKind == "ClusterRoleBinding") {
		b, err := c.RbacV1().ClusterRoleBindings().Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return provider.VerifyResponse{}, fmt.Errorf("%s: reading ClusterRoleBinding %s: %w", what, name, err)
		case ours(b.ObjectMeta, req.RequestID) == nil:
			bound = true
		}
	}
	if !bound {
		return provider.VerifyResponse{}, nil
	}
	r, err := c.RbacV1().ClusterRoles().Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return provider.VerifyResponse{}, nil
	case err != nil:
		return provider.VerifyResponse{}, fmt.Errorf("%s: reading ClusterRole %s: %w", what, name, err)
	}
	return provider.VerifyResponse{Present: ours(r.ObjectMeta, req.RequestID) == nil}, nil
}

// Sweep deletes every jit-labelled binding and ClusterRole whose expiry
// annotation has passed (by the provider's clock), bindings first. It is
// the cluster-side backstop for revokes the scheduler could not make. An
// object with a missing or unreadable expiry is left alone and reported.
// It returns how many objects it deleted; it is idempotent.
func (p *Provider) Sweep(ctx context.Context) (int, error) {
	c, _, err := p.connect()
	if err != nil {
		return 0, fmt.Errorf("kubernetes sweep: %w", err)
	}
	now := p.now()
	sel := metav1.ListOptions{LabelSelector: LabelManagedBy + "=" + ManagedByValue}
	var errs []error
	deleted := 0
	expired := func(m metav1.ObjectMeta) bool {
		at, err := time.Parse(time.RFC3339, m.Annotations[AnnotationExpiresAt])
		if err != nil {
			errs = append(errs, fmt.Errorf("%s/%s: expiry annotation %q unreadable", m.Namespace, m.Name, AnnotationExpiresAt))
			return false
		}
		return !now.Before(at)
	}
	done := func(err error) {
		if err != nil {
			errs = append(errs, err)
		} else {
			deleted++
		}
	}
	rbs, err := c.RbacV1().RoleBindings(metav1.NamespaceAll).List(ctx, sel)
	if err != nil {
		return 0, fmt.Errorf("kubernetes sweep: listing RoleBindings: %w", err)
	}
	for _, b := range rbs.Items {
		if expired(b.ObjectMeta) {
			done(deleteRoleBinding(ctx, c, b.Namespace, b.Name, ""))
		}
	}
	crbs, err := c.RbacV1().ClusterRoleBindings().List(ctx, sel)
	if err != nil {
		return deleted, fmt.Errorf("kubernetes sweep: listing ClusterRoleBindings: %w", err)
	}
	for _, b := range crbs.Items {
		if expired(b.ObjectMeta) {
			done(deleteClusterRoleBinding(ctx, c, b.Name, ""))
		}
	}
	roles, err := c.RbacV1().ClusterRoles().List(ctx, sel)
	if err != nil {
		return deleted, fmt.Errorf("kubernetes sweep: listing ClusterRoles: %w", err)
	}
	for _, r := range roles.Items {
		if expired(r.ObjectMeta) {
			done(deleteClusterRole(ctx, c, r.Name, ""))
		}
	}
	if len(errs) > 0 {
		return deleted, fmt.Errorf("kubernetes sweep: %w", errors.Join(errs...))
	}
	return deleted, nil
}

// roleRules returns the rules of ClusterRole name, following aggregation:
// a role with an aggregationRule (admin, edit, view) is the union of the
// ClusterRoles its selectors match. A cluster's aggregation controller
// copies those rules into the role, but it runs in kube-controller-manager,
// which may lag or be absent; reading the sources directly gives the role
// as it is defined, now.
func roleRules(ctx context.Context, c k8s.Interface, name string) ([]rbacv1.PolicyRule, error) {
	role, err := c.RbacV1().ClusterRoles().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading ClusterRole %q: %w", name, err)
	}
	if role.AggregationRule == nil || len(role.AggregationRule.ClusterRoleSelectors) == 0 {
		return role.Rules, nil
	}
	rules := append([]rbacv1.PolicyRule(nil), role.Rules...)
	seen := map[string]bool{role.Name: true}
	for _, sel := range role.AggregationRule.ClusterRoleSelectors {
		s, err := metav1.LabelSelectorAsSelector(&sel)
		if err != nil {
			return nil, fmt.Errorf("ClusterRole %q: aggregation selector: %w", name, err)
		}
		list, err := c.RbacV1().ClusterRoles().List(ctx, metav1.ListOptions{LabelSelector: s.String()})
		if err != nil {
			return nil, fmt.Errorf("listing the ClusterRoles aggregated into %q: %w", name, err)
		}
		for _, r := range list.Items {
			if seen[r.Name] {
				continue
			}
			seen[r.Name] = true
			rules = append(rules, r.Rules...)
		}
	}
	return rules, nil
}
