package kubernetes

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/jitaccess/jit/provider"
)

// These tests use client-go's fake clientset, which stores objects but
// enforces neither RBAC nor validation; what the API server does with the
// objects is for the tests against a real kube-apiserver.

type fixture struct {
	p      *Provider
	client *fake.Clientset
	now    time.Time
}

func newFixture(t *testing.T, settings map[string]any, access ...string) *fixture {
	t.Helper()
	return newFixtureWith(t, settings, Options{}, access...)
}

// newFixtureWith is newFixture with options (an EKS client) added.
func newFixtureWith(t *testing.T, settings map[string]any, o Options, access ...string) *fixture {
	t.Helper()
	client := fake.NewClientset(
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "view"}, Rules: viewRules()},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "edit"}, Rules: editRules()},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "admin"}, Rules: adminRules()},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "cluster-admin"}, Rules: clusterAdminRules()},
	)
	if settings == nil {
		settings = map[string]any{}
	}
	settings["kubeconfig_file"] = "/nonexistent/kubeconfig"
	if len(access) == 0 {
		access = BuiltinRoles
	}
	f := &fixture{client: client, now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	p, err := NewWithOptions(provider.Resource{Name: "cluster", Type: Type, Settings: settings, Access: access},
		Options{Client: client, Resolver: testResolver(), Now: func() time.Time { return f.now }, EKS: o.EKS})
	if err != nil {
		t.Fatalf("NewWithOptions: %v", err)
	}
	f.p = p
	return f
}

func (f *fixture) grantReq(id, access, target string, expires time.Time) provider.GrantRequest {
	return provider.GrantRequest{RequestID: id, User: "alice@example.com", Resource: "cluster", Access: access, Target: target, ExpiresAt: expires}
}

func (f *fixture) verify(t *testing.T, id string, h json.RawMessage) bool {
	t.Helper()
	v, err := f.p.Verify(context.Background(), provider.VerifyRequest{RequestID: id, Handle: h})
	if err != nil {
		t.Fatalf("Verify(%s): %v", id, err)
	}
	return v.Present
}

func TestGrantRevokeObject(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	id := "req_01/Ü"
	expires := f.now.Add(time.Hour)
	resp, err := f.p.Grant(ctx, f.grantReq(id, "edit", "deployments/default/nginx-deployment", expires))
	if err != nil {
		t.Fatalf("Grant: %v", err)
	}
	name := ObjectName(id)
	role, err := f.client.RbacV1().ClusterRoles().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("ClusterRole: %v", err)
	}
	wantRules := []rbacv1.PolicyRule{
		rule(readVerbs, l("apps"), l("deployments", "deployments/scale", "deployments/status"), "nginx-deployment"),
		rule(l("create", "delete", "deletecollection", "patch", "update"), l("apps"), l("deployments", "deployments/rollback", "deployments/scale"), "nginx-deployment"),
	}
	if !reflect.DeepEqual(role.Rules, wantRules) {
		t.Fatalf("rules = %v, want %v", role.Rules, wantRules)
	}
	if role.Labels[LabelManagedBy] != "jit" || role.Labels[LabelRequest] != "req_01" {
		t.Fatalf("labels = %v", role.Labels)
	}
	if role.Annotations[AnnotationExpiresAt] != expires.Format(time.RFC3339) || role.Annotations[AnnotationRequester] != "alice@example.com" || role.Annotations[AnnotationRequestID] != id {
		t.Fatalf("annotations = %v", role.Annotations)
	}
	rb, err := f.client.RbacV1().RoleBindings("default").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("RoleBinding: %v", err)
	}
	wantSubjects := []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: "alice@example.com"}}
	if !reflect.DeepEqual(rb.Subjects, wantSubjects) || rb.RoleRef != (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}) {
		t.Fatalf("binding = %+v %+v", rb.Subjects, rb.RoleRef)
	}
	if crbs, _ := f.client.RbacV1().ClusterRoleBindings().List(ctx, metav1.ListOptions{}); len(crbs.Items) != 0 {
		t.Fatalf("unexpected ClusterRoleBindings: %v", crbs.Items)
	}

	// Granting again changes nothing and returns the same handle.
	again, err := f.p.Grant(ctx, f.grantReq(id, "edit", "deployments/default/nginx-deployment", expires))
	if err != nil || string(again.Handle) != string(resp.Handle) {
		t.Fatalf("second Grant = %s, %v; want %s", again.Handle, err, resp.Handle)
	}
	if !f.verify(t, id, resp.Handle) || !f.verify(t, id, nil) {
		t.Fatal("Verify: not present after grant")
	}

	if _, err := f.p.Revoke(ctx, provider.RevokeRequest{RequestID: id, Handle: resp.Handle}); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if _, err := f.client.RbacV1().RoleBindings("default").Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("RoleBinding after revoke: %v", err)
	}
	if _, err := f.client.RbacV1().ClusterRoles().Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("ClusterRole after revoke: %v", err)
	}
	if f.verify(t, id, resp.Handle) {
		t.Fatal("Verify: present after revoke")
	}
	if _, err := f.p.Revoke(ctx, provider.RevokeRequest{RequestID: id, Handle: resp.Handle}); err != nil {
		t.Fatalf("second Revoke: %v", err)
	}
	if _, err := f.p.Revoke(ctx, provider.RevokeRequest{RequestID: "never-granted"}); err != nil {
		t.Fatalf("Revoke of a request never granted: %v", err)
	}
}

func TestRevokeWithoutHandle(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	for _, target := range []string{"team-a", "nodes/node-1"} {
		t.Run(target, func(t *testing.T) {
			id := "req-nohandle-" + target
			access := "view"
			if target == "nodes/node-1" {
				// view grants nothing on nodes; a custom role does.
				_, err := f.client.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "node-reader"}, Rules: []rbacv1.PolicyRule{rule(readVerbs, l(""), l("nodes"))}}, metav1.CreateOptions{})
				if err != nil && !apierrors.IsAlreadyExists(err) {
					t.Fatal(err)
				}
				f2 := newFixture(t, map[string]any{"roles": []any{"node-reader"}}, "node-reader")
				f2.client = f.client
				f2.p.client = f.client
				f = f2
				access = "node-reader"
			}
			if _, err := f.p.Grant(ctx, f.grantReq(id, access, target, f.now.Add(time.Hour))); err != nil {
				t.Fatalf("Grant: %v", err)
			}
			if !f.verify(t, id, nil) {
				t.Fatal("not present after grant")
			}
			if _, err := f.p.Revoke(ctx, provider.RevokeRequest{RequestID: id}); err != nil {
				t.Fatalf("Revoke: %v", err)
			}
			if f.verify(t, id, nil) {
				t.Fatal("present after revoke without handle")
			}
			if _, err := f.client.RbacV1().ClusterRoles().Get(ctx, ObjectName(id), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Fatalf("ClusterRole after revoke: %v", err)
			}
		})
	}
}

func TestGrantRefused(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name, access, target string
		allow                []any
		want                 string
		wantTarget           bool
		wantEscalation       bool
		wantNothing          bool
	}{
		{name: "protected namespace", access: "view", target: "kube-system", want: "protected", wantTarget: true},
		{name: "no target", access: "view", target: "", want: "empty", wantTarget: true},
		{name: "view on secrets", access: "view", target: "secrets/default/db", wantNothing: true},
		{name: "edit on a namespace", access: "edit", target: "team-a", wantEscalation: true},
		{name: "cluster-admin cluster-wide", access: "cluster-admin", target: "*", wantEscalation: true},
		{name: "cluster-admin on a node", access: "cluster-admin", target: "nodes/node-1", wantEscalation: true},
		{name: "unknown role", access: "superuser", target: "default", want: "not one of the roles"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			_, err := f.p.Grant(ctx, f.grantReq("req-refused", tc.access, tc.target, f.now.Add(time.Hour)))
			if err == nil || !provider.IsNotApplied(err) {
				t.Fatalf("Grant = %v; want a NotApplied error", err)
			}
			var te *TargetError
			var ee *EscalationError
			switch {
			case tc.wantTarget && !errors.As(err, &te),
				tc.wantEscalation && !errors.As(err, &ee),
				tc.wantNothing && !errors.Is(err, ErrNothingGranted),
				!strings.Contains(err.Error(), tc.want):
				t.Fatalf("Grant error = %v", err)
			}
			_, checkErr := f.p.Check(ctx, provider.CheckRequest{Resource: "cluster", User: "alice@example.com", Access: tc.access, Target: tc.target})
			var re *provider.RefusedError
			if !errors.As(checkErr, &re) || re.Reason == "" {
				t.Fatalf("Check = %v; want a *provider.RefusedError for what Grant refused", checkErr)
			}
			for _, list := range []func() (int, error){
				func() (int, error) {
					l, err := f.client.RbacV1().ClusterRoles().List(ctx, metav1.ListOptions{})
					return len(l.Items), err
				},
				func() (int, error) {
					l, err := f.client.RbacV1().RoleBindings("").List(ctx, metav1.ListOptions{})
					return len(l.Items) + 4, err
				},
				func() (int, error) {
					l, err := f.client.RbacV1().ClusterRoleBindings().List(ctx, metav1.ListOptions{})
					return len(l.Items) + 4, err
				},
			} {
				if n, err := list(); err != nil || n != 4 {
					t.Fatalf("objects after a refused grant: %d, %v", n, err)
				}
			}
		})
	}
}

func TestGrantClusterWideAllowed(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, map[string]any{"allow_escalation": []any{"*"}, "user_prefix": "oidc:"})
	if _, err := f.p.Check(ctx, provider.CheckRequest{User: "alice@example.com", Access: "cluster-admin", Target: "*"}); err != nil {
		t.Fatalf("Check: %v", err)
	}
	resp, err := f.p.Grant(ctx, f.grantReq("req-ca", "cluster-admin", "*", f.now.Add(time.Hour)))
	if err != nil {
		t.Fatalf("Grant: %v", err)
	}
	crb, err := f.client.RbacV1().ClusterRoleBindings().Get(ctx, ObjectName("req-ca"), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("ClusterRoleBinding: %v", err)
	}
	if len(crb.Subjects) != 1 || crb.Subjects[0].Name != "oidc:alice@example.com" {
		t.Fatalf("subjects = %v", crb.Subjects)
	}
	var h handle
	if err := json.Unmarshal(resp.Handle, &h); err != nil || h.BindingKind != "ClusterRoleBinding" || h.Namespace != "" {
		t.Fatalf("handle = %s, %v", resp.Handle, err)
	}
}

func TestGrantUpdatesAndRefusesForeign(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	id := "req-update"
	name := ObjectName(id)
	if _, err := f.p.Grant(ctx, f.grantReq(id, "view", "configmaps/default/settings", f.now.Add(time.Hour))); err != nil {
		t.Fatalf("Grant: %v", err)
	}
	// Someone edits the role; a second grant brings it back in line.
	role, _ := f.client.RbacV1().ClusterRoles().Get(ctx, name, metav1.GetOptions{})
	role.Rules = append(role.Rules, rule(l("delete"), l(""), l("configmaps")))
	if _, err := f.client.RbacV1().ClusterRoles().Update(ctx, role, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	later := f.now.Add(2 * time.Hour)
	if _, err := f.p.Grant(ctx, f.grantReq(id, "view", "configmaps/default/settings", later)); err != nil {
		t.Fatalf("second Grant: %v", err)
	}
	role, _ = f.client.RbacV1().ClusterRoles().Get(ctx, name, metav1.GetOptions{})
	if len(role.Rules) != 1 || role.Annotations[AnnotationExpiresAt] != later.Format(time.RFC3339) {
		t.Fatalf("role after second grant: %v %v", role.Rules, role.Annotations)
	}

	// An object of the request's name that jit did not make is left alone.
	foreign := "req-foreign"
	fr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: ObjectName(foreign)}, Rules: []rbacv1.PolicyRule{rule(l("get"), l(""), l("pods"))}}
	if _, err := f.client.RbacV1().ClusterRoles().Create(ctx, fr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.p.Grant(ctx, f.grantReq(foreign, "view", "default", f.now.Add(time.Hour))); err == nil || !strings.Contains(err.Error(), "not created by jit") {
		t.Fatalf("Grant over a foreign role = %v", err)
	}
	if _, err := f.p.Revoke(ctx, provider.RevokeRequest{RequestID: foreign}); err == nil {
		t.Fatal("Revoke deleted a foreign role")
	}
	if _, err := f.client.RbacV1().ClusterRoles().Get(ctx, ObjectName(foreign), metav1.GetOptions{}); err != nil {
		t.Fatalf("foreign role: %v", err)
	}
}

func TestSweep(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	soon, late := f.now.Add(time.Hour), f.now.Add(3*time.Hour)
	for id, g := range map[string]provider.GrantRequest{
		"req-soon": f.grantReq("req-soon", "view", "pods/team-a", soon),
		"req-late": f.grantReq("req-late", "view", "team-b", late),
	} {
		if _, err := f.p.Grant(ctx, g); err != nil {
			t.Fatalf("Grant %s: %v", id, err)
		}
	}
	if n, err := f.p.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("Sweep before expiry = %d, %v", n, err)
	}
	f.now = soon
	if n, err := f.p.Sweep(ctx); err != nil || n != 2 {
		t.Fatalf("Sweep at first expiry = %d, %v; want 2 (binding and role)", n, err)
	}
	if f.verify(t, "req-soon", nil) || !f.verify(t, "req-late", nil) {
		t.Fatal("Sweep removed the wrong grant")
	}
	if n, err := f.p.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("second Sweep = %d, %v", n, err)
	}
	f.now = late.Add(time.Second)
	if n, err := f.p.Sweep(ctx); err != nil || n != 2 {
		t.Fatalf("Sweep at second expiry = %d, %v", n, err)
	}
	if f.verify(t, "req-late", nil) {
		t.Fatal("late grant survived its expiry")
	}
}

func TestSettings(t *testing.T) {
	tests := []struct {
		name     string
		settings map[string]any
		access   []string
		want     string
	}{
		{name: "neither", settings: map[string]any{}, want: "kubeconfig_file"},
		{name: "both", settings: map[string]any{"kubeconfig_file": "/k", "in_cluster": true}, want: "in_cluster"},
		{name: "context in cluster", settings: map[string]any{"in_cluster": true, "context": "x"}, want: "context"},
		{name: "unknown access", settings: map[string]any{"in_cluster": true}, access: l("owner"), want: "owner"},
		{name: "bad namespace", settings: map[string]any{"in_cluster": true, "protected_namespaces": []any{"Bad_NS"}}, want: "protected_namespaces"},
		{name: "misspelt", settings: map[string]any{"in_cluster": true, "allow_escalations": []any{"*"}}, want: "allow_escalations"},
		{name: "ok", settings: map[string]any{"in_cluster": true, "roles": []any{"owner"}}, access: l("owner", "view")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(provider.Resource{Name: "c", Type: Type, Settings: tc.settings, Access: tc.access})
			if tc.want == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			var se *provider.SettingError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v; want a setting error about %q", err, tc.want)
			}
		})
	}
}

func TestObjectNameAndLabel(t *testing.T) {
	if a, b := ObjectName("a"), ObjectName("b"); a == b || !strings.HasPrefix(a, "jit-") || len(a) != 24 {
		t.Fatalf("ObjectName: %q %q", a, b)
	}
	for in, want := range map[string]string{
		"req_01":                "req_01",
		"req 01/x":              "req-01-x",
		"--x--":                 "x",
		strings.Repeat("a", 70): strings.Repeat("a", 63),
		"é":                     "",
	} {
		if got := requestLabel(in); got != want {
			t.Errorf("requestLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSettingsEKSAndClient(t *testing.T) {
	caData := base64.StdEncoding.EncodeToString(testCA(t))
	ok := func(m map[string]any) map[string]any {
		m["in_cluster"] = true
		return m
	}
	tests := []struct {
		name     string
		settings map[string]any
		want     string
	}{
		{name: "aws_auth", settings: ok(map[string]any{"eks": map[string]any{"aws_auth": true, "iam_arn": "arn:aws:iam::111122223333:role/{local}"}})},
		{name: "access entries", settings: ok(map[string]any{"eks": map[string]any{"access_entries": map[string]any{"cluster": "prod", "region": "eu-west-1", "credentials": "container"}, "iam_arns": map[string]any{"a@example.com": "arn:aws:iam::111122223333:user/a"}}})},
		{name: "eks not a map", settings: ok(map[string]any{"eks": true}), want: `"eks"`},
		{name: "neither mode", settings: ok(map[string]any{"eks": map[string]any{"iam_arn": "arn:aws:iam::111122223333:role/{local}"}}), want: "eks.aws_auth"},
		{name: "both modes", settings: ok(map[string]any{"eks": map[string]any{"aws_auth": true, "access_entries": map[string]any{"cluster": "prod", "region": "eu-west-1"}, "iam_arn": "arn:aws:iam::111122223333:role/{local}"}}), want: "eks.access_entries"},
		{name: "no arn", settings: ok(map[string]any{"eks": map[string]any{"aws_auth": true}}), want: "eks.iam_arn"},
		{name: "bad template", settings: ok(map[string]any{"eks": map[string]any{"aws_auth": true, "iam_arn": "arn:aws:iam::111122223333:role/{name}"}}), want: "eks.iam_arn"},
		{name: "bad arn in map", settings: ok(map[string]any{"eks": map[string]any{"aws_auth": true, "iam_arns": map[string]any{"a@example.com": "arn:aws:sts::111122223333:assumed-role/a/b"}}}), want: "eks.iam_arns"},
		{name: "bad email in map", settings: ok(map[string]any{"eks": map[string]any{"aws_auth": true, "iam_arns": map[string]any{"nobody": "arn:aws:iam::111122223333:user/a"}}}), want: "eks.iam_arns"},
		{name: "no cluster", settings: ok(map[string]any{"eks": map[string]any{"access_entries": map[string]any{"region": "eu-west-1"}, "iam_arn": "arn:aws:iam::111122223333:role/{local}"}}), want: "eks.access_entries.cluster"},
		{name: "bad region", settings: ok(map[string]any{"eks": map[string]any{"access_entries": map[string]any{"cluster": "prod", "region": "Europe"}, "iam_arn": "arn:aws:iam::111122223333:role/{local}"}}), want: "eks.access_entries.region"},
		{name: "bad credentials", settings: ok(map[string]any{"eks": map[string]any{"access_entries": map[string]any{"cluster": "prod", "region": "eu-west-1", "credentials": "magic"}, "iam_arn": "arn:aws:iam::111122223333:role/{local}"}}), want: "eks.access_entries.credentials"},
		{name: "misspelt eks key", settings: ok(map[string]any{"eks": map[string]any{"aws_auth": true, "iam_arn": "arn:aws:iam::111122223333:role/{local}", "iam_role": "x"}}), want: "eks.iam_role"},
		{name: "client", settings: ok(map[string]any{"client": map[string]any{"server": "https://k8s.example.com", "certificate_authority_data": caData, "user": map[string]any{"exec": map[string]any{"command": "kubectl", "args": []any{"oidc-login", "get-token"}, "api_version": "client.authentication.k8s.io/v1", "interactive_mode": "Always"}}}})},
		{name: "http server", settings: ok(map[string]any{"client": map[string]any{"server": "http://k8s.example.com"}}), want: "client.server"},
		{name: "bad ca data", settings: ok(map[string]any{"client": map[string]any{"certificate_authority_data": "bm90IGEgY2VydA=="}}), want: "client.certificate_authority_data"},
		{name: "ca data and file", settings: ok(map[string]any{"client": map[string]any{"certificate_authority_data": caData, "certificate_authority_file": "/ca.pem"}}), want: "client.certificate_authority_file"},
		{name: "exec without command", settings: ok(map[string]any{"client": map[string]any{"user": map[string]any{"exec": map[string]any{"args": []any{"x"}}}}}), want: "client.user.exec.command"},
		{name: "exec api version", settings: ok(map[string]any{"client": map[string]any{"user": map[string]any{"exec": map[string]any{"command": "aws", "api_version": "v1"}}}}), want: "client.user.exec.api_version"},
		{name: "exec env name", settings: ok(map[string]any{"client": map[string]any{"user": map[string]any{"exec": map[string]any{"command": "aws", "env": map[string]any{"A-B": "x"}}}}}), want: "client.user.exec.env"},
		{name: "user token", settings: ok(map[string]any{"client": map[string]any{"user": map[string]any{"token": "x"}}}), want: "client.user.token"},
		{name: "list", settings: ok(map[string]any{"list": "no"}), want: `"list"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(provider.Resource{Name: "c", Type: Type, Settings: tc.settings})
			if tc.want == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			var se *provider.SettingError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v; want a setting error about %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "bm90IGEgY2VydA") {
				t.Fatalf("the error echoes a setting's value: %v", err)
			}
		})
	}
}
