package kubernetes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
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
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/jitaccess/jit/provider"
)

// Type is the provider type name used in jit.yaml.
const Type = "kubernetes"

func init() { provider.Register(Type, New) }

var (
	_ provider.Provider         = (*Provider)(nil)
	_ provider.Checker          = (*Provider)(nil)
	_ provider.TargetLister     = (*Provider)(nil)
	_ provider.Lister           = (*Provider)(nil)
	_ provider.Sweeper          = (*Provider)(nil)
	_ provider.Closer           = (*Provider)(nil)
	_ provider.KubeconfigWriter = (*Provider)(nil)
)

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

// Options are what tests (and programs embedding the provider) inject
// instead of the connection the settings describe.
type Options struct {
	// Config is the connection to the cluster; nil means the one the
	// settings describe (kubeconfig_file or in_cluster). Kubeconfig takes
	// the server and certificate authority people connect to from it
	// unless the client setting names them.
	Config *rest.Config
	// Client is the cluster; nil means a client built from Config.
	Client k8s.Interface
	// Metadata lists objects by name (ListTargets); nil means one built
	// from Config.
	Metadata metadata.Interface
	// Resolver maps kinds; nil means discovery through Client.
	Resolver Resolver
	// EKS is the EKS API (access entries); nil means a client built from
	// the eks.access_entries settings.
	EKS EKSAPI
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Provider grants ClusterRoles, narrowed to a target, by binding a
// per-request ClusterRole to the requester. It is safe for concurrent use.
type Provider struct {
	cfg config
	now func() time.Time

	mu         sync.Mutex
	restConfig *rest.Config
	client     k8s.Interface
	meta       metadata.Interface
	resolver   Resolver
	// httpClient is the cluster connection's, when the provider built it.
	httpClient *http.Client

	// eksMu serialises the access entry changes of this process.
	eksMu   sync.Mutex
	eks     EKSAPI // under mu
	eksHTTP *http.Client

	// beforeAWSAuthWrite, when set, runs between reading and writing the
	// aws-auth ConfigMap (tests make concurrent writers with it).
	beforeAWSAuthWrite func()
}

// handle is GrantResponse.Handle.
type handle struct {
	Role        string `json:"role"`
	BindingKind string `json:"binding_kind"`
	Namespace   string `json:"namespace,omitempty"`
	Binding     string `json:"binding"`
	// IAMPrincipal is the ARN mapped to the requester on EKS (eks
	// setting), so that a revoke finds it even after the settings change.
	IAMPrincipal string `json:"iam_principal,omitempty"`
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
	p := &Provider{cfg: cfg, now: o.Now, restConfig: o.Config, client: o.Client, meta: o.Metadata, resolver: o.Resolver, eks: o.EKS}
	if p.now == nil {
		p.now = time.Now
	}
	return p, nil
}

// restConfigLocked returns the connection configuration, reading the
// kubeconfig (or the in-cluster service account) on first use. p.mu is
// held.
func (p *Provider) restConfigLocked() (*rest.Config, error) {
	if p.restConfig != nil {
		return p.restConfig, nil
	}
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
		return nil, fmt.Errorf("kubernetes client configuration: %w", err)
	}
	p.restConfig = rc
	return rc, nil
}

// Client-side rate limits of jit's connection, unless the configuration
// sets its own. client-go's defaults (5 requests per second, bursts of 10)
// would make a sweep or a listing of a large cluster crawl, and make one
// grant (discovery, the role, its aggregated roles, two writes) wait.
const (
	clientQPS   = 50
	clientBurst = 100
)

func withRateLimits(rc *rest.Config) *rest.Config {
	if rc.QPS != 0 || rc.RateLimiter != nil {
		return rc
	}
	rc = rest.CopyConfig(rc)
	rc.QPS, rc.Burst = clientQPS, clientBurst
	return rc
}

// connect returns the client and resolver, building them on first use.
func (p *Provider) connect() (k8s.Interface, Resolver, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client == nil {
		rc, err := p.restConfigLocked()
		if err != nil {
			return nil, nil, err
		}
		rc = withRateLimits(rc)
		hc, err := rest.HTTPClientFor(rc)
		if err != nil {
			return nil, nil, fmt.Errorf("kubernetes client: %w", err)
		}
		c, err := k8s.NewForConfigAndClient(rc, hc)
		if err != nil {
			return nil, nil, fmt.Errorf("kubernetes client: %w", err)
		}
		p.client, p.httpClient = c, hc
	}
	if p.resolver == nil {
		// Discovery is cached for the provider's life; a policy reload
		// builds a new provider and so sees new CRDs.
		mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(p.client.Discovery()))
		p.resolver = NewMapperResolver(mapper)
	}
	return p.client, p.resolver, nil
}

// metadataClient returns the client that lists objects by name only, so
// that listing targets never reads a Secret's data.
func (p *Provider) metadataClient() (metadata.Interface, error) {
	if _, _, err := p.connect(); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.meta != nil {
		return p.meta, nil
	}
	if p.restConfig == nil {
		return nil, errors.New("kubernetes: no connection configuration to list objects with")
	}
	var m metadata.Interface
	var err error
	if p.httpClient != nil {
		m, err = metadata.NewForConfigAndClient(withRateLimits(p.restConfig), p.httpClient)
	} else {
		m, err = metadata.NewForConfig(withRateLimits(p.restConfig))
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes metadata client: %w", err)
	}
	p.meta = m
	return m, nil
}

// Close releases the idle connections of the clients the provider built
// (to the cluster and to the EKS API). It never fails; the provider must
// not be used after.
func (p *Provider) Close() error {
	p.mu.Lock()
	hc, ec := p.httpClient, p.eksHTTP
	p.mu.Unlock()
	if hc != nil {
		hc.CloseIdleConnections()
	}
	if ec != nil {
		ec.CloseIdleConnections()
	}
	return nil
}

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

// Grant creates the ClusterRole ObjectName(req.RequestID) with the rules of
// the ClusterRole req.Access narrowed to req.Target and binds it to the
// user: by a RoleBinding in the target's namespace, or a
// ClusterRoleBinding for cluster-wide and cluster-scoped targets. With the
// eks setting it first maps the requester's IAM principal to their
// Kubernetes user name (aws-auth entry or access entry), shared by all of
// that person's grants.
//
// It is idempotent: objects of the request that exist already are brought
// in line (rules, subjects, annotations). Objects of that name not made by
// jit for this request are never changed: that is an error.
//
// Errors: provider.NotApplied when nothing was created or changed (an
// invalid request, a refused target or role, no connection, the role
// could not be read, the IAM principal is mapped to someone else, the role
// creation was refused). Later errors leave the outcome unknown.
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
	pl, err := p.plan(ctx, c, res, req.User, req.Access, req.Target)
	if err != nil {
		return provider.GrantResponse{}, provider.NotApplied(fmt.Errorf("%s: %w", what, err))
	}
	// The identity mapping first: its refusals (the principal is mapped to
	// someone else) then leave nothing behind.
	mapped := false
	if p.cfg.eks != nil {
		mapped, err = p.mapIdentity(ctx, c, req.RequestID, req.User, pl.principal, req.ExpiresAt)
		if err != nil {
			return provider.GrantResponse{}, fmt.Errorf("%s: %w", what, err)
		}
	}
	resp, err := p.grantRBAC(ctx, c, req, pl)
	if err != nil && mapped && provider.IsNotApplied(err) {
		// The mapping was written: this call did change the cluster.
		err = errors.New(err.Error())
	}
	return resp, err
}

// grantRBAC creates (or brings in line) the request's ClusterRole and
// binding.
func (p *Provider) grantRBAC(ctx context.Context, c k8s.Interface, req provider.GrantRequest, pl plan) (provider.GrantResponse, error) {
	what := fmt.Sprintf("kubernetes grant %q", req.RequestID)
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
	subjects := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: p.username(req.User)}}
	ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}
	h := handle{Role: name, Binding: name}
	if p.cfg.eks != nil {
		h.IAMPrincipal = pl.principal.String()
	}
	var err error
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
	if h.IAMPrincipal != "" {
		if _, err := ParseIAMARN(h.IAMPrincipal); err != nil {
			return nil, fmt.Errorf("handle: %w", err)
		}
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

// Revoke deletes the request's binding, then its ClusterRole, then (with
// the eks setting) the request's share of the IAM principal's mapping:
// the aws-auth entry or access entry goes when no other grant of the
// person holds it. The objects are found by the handle or, without one, by
// their labels and annotations; req.Target is not needed, so a revoke
// succeeds even when the target no longer parses (its kind was removed).
// It is idempotent: objects already gone are success. Objects of the
// request's name not made by jit for this request are left alone (an
// error). Errors leave the outcome unknown; a retry finishes the job.
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
	if p.cfg.eks != nil {
		if err := p.unmapIdentity(ctx, c, req.RequestID, req.User, h); err != nil {
			return provider.RevokeResponse{}, fmt.Errorf("%s: %w", what, err)
		}
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

// Verify reports whether the request's binding and ClusterRole exist and,
// with the eks setting, whether the requester's IAM principal is mapped to
// their Kubernetes user name. The cluster enforces no expiry by itself, so
// ExpiresAt is nil. It has no side effects; errors mean nothing could be
// concluded.
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
	if ours(r.ObjectMeta, req.RequestID) != nil {
		return provider.VerifyResponse{}, nil
	}
	if p.cfg.eks != nil {
		user := req.User
		if user == "" {
			user = r.Annotations[AnnotationRequester]
		}
		ok, err := p.identityMapped(ctx, c, user, h)
		if err != nil {
			return provider.VerifyResponse{}, fmt.Errorf("%s: %w", what, err)
		}
		return provider.VerifyResponse{Present: ok}, nil
	}
	return provider.VerifyResponse{Present: true}, nil
}

// Sweep implements provider.Sweeper. It deletes every jit-labelled binding
// and ClusterRole whose expiry annotation has passed (by the provider's
// clock), bindings first, whichever resource or jit installation made
// them: an expired object is never wanted. With eks.aws_auth it also
// removes the expired requests' shares of the aws-auth entries, and the
// entries no grant holds any more. (Access entries are not swept: EKS
// cannot list them by tag; an entry left behind maps a person who has no
// binding, and the next grant or revoke of that person tidies it.)
//
// It is the cluster-side backstop for revokes the scheduler could not make
// (Kubernetes has no expiry of its own for bindings). An object with a
// missing or unreadable expiry is left alone and reported. It returns how
// many objects (and aws-auth entries) it deleted; it is idempotent and
// safe to run concurrently with grants and revokes. An error means the
// sweep was incomplete; the next run continues.
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
	if p.cfg.eks != nil && p.cfg.eks.mode == modeAWSAuth {
		n, err := p.awsAuthSweep(ctx, c, now)
		deleted += n
		if err != nil {
			errs = append(errs, err)
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
