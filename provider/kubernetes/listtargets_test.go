package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	metadatafake "k8s.io/client-go/metadata/fake"

	"github.com/jitaccess/jit/provider"
)

func TestParseParent(t *testing.T) {
	res := testResolver()
	deploy := APIResource{Group: "apps", Resource: "deployments", Namespaced: true}
	tests := []struct {
		in      string
		want    parent
		wantErr string
	}{
		{in: "", want: parent{kind: parentNamespaces}},
		{in: "deployments/default", want: parent{kind: parentObjects, resource: deploy, namespace: "default"}},
		{in: "Deployment.apps/team-a", want: parent{kind: parentObjects, resource: deploy, namespace: "team-a"}},
		{in: "deployments", want: parent{kind: parentKindInNamespaces, resource: deploy}},
		{in: "nodes", want: parent{kind: parentObjects, resource: APIResource{Resource: "nodes"}}},
		{in: "namespaces", want: parent{kind: parentObjects, resource: APIResource{Resource: "namespaces"}}},
		{in: "*", wantErr: "complete target"},
		{in: "kube-system", wantErr: "protected"},
		{in: "deployments/kube-system", wantErr: "protected"},
		{in: "deployments/default/web", wantErr: "3 segments"},
		{in: "nodes/node-1", wantErr: "cluster-scoped"},
		{in: "default", wantErr: "not a kind"},
		{in: "widgets/default", wantErr: "no such resource"},
		{in: "events", wantErr: "not a kind"}, // ambiguous: core and events.k8s.io
		{in: "pods/*", wantErr: "wildcards"},
		{in: "pod*", wantErr: "wildcards"},
		{in: "pods/Default", wantErr: "not a valid namespace"},
		{in: " pods", wantErr: "white space"},
		{in: strings.Repeat("a", maxTarget+1), wantErr: "longer"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseParent(tc.in, res, DefaultProtectedNamespaces)
			if tc.wantErr != "" {
				var te *TargetError
				if !errors.As(err, &te) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseParent(%q) = %+v, %v; want *TargetError with %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseParent(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
		})
	}
}

func FuzzParseParent(f *testing.F) {
	for _, s := range []string{"", "deployments/default", "nodes", "kube-system", "deployments/kube-system", "a/b/c", "*", "Deployment"} {
		f.Add(s)
	}
	res := testResolver()
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseParent(s, res, DefaultProtectedNamespaces)
		if err != nil {
			var te *TargetError
			if !errors.As(err, &te) {
				t.Fatalf("parseParent(%q): error %T is not a *TargetError", s, err)
			}
			return
		}
		if contains(DefaultProtectedNamespaces, got.namespace) {
			t.Fatalf("parseParent(%q) accepted protected namespace %q", s, got.namespace)
		}
		// What is listed under an accepted parent is a target that parses.
		var child string
		switch got.kind {
		case parentNamespaces:
			child = "default"
		case parentKindInNamespaces:
			child = got.resource.String() + "/default"
		case parentObjects:
			child = got.resource.String() + "/x"
			if got.namespace != "" {
				child = got.resource.String() + "/" + got.namespace + "/x"
			}
		}
		if _, err := ParseTarget(child, res, DefaultProtectedNamespaces); err != nil {
			t.Fatalf("under parent %q, %q does not parse: %v", s, child, err)
		}
	})
}

func TestListTargetsTruncates(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	for i := range 600 {
		if _, err := f.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("ns-%03d", i)}}, createOpts); err != nil {
			t.Fatal(err)
		}
	}
	for _, ns := range DefaultProtectedNamespaces {
		if _, err := f.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, createOpts); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := f.p.ListTargets(ctx, provider.ListTargetsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Targets) != MaxTargets || !resp.Truncated || resp.Targets[0] != "*" {
		t.Fatalf("ListTargets = %d targets, truncated %v, first %q", len(resp.Targets), resp.Truncated, resp.Targets[0])
	}
	for _, tg := range resp.Targets {
		if contains(DefaultProtectedNamespaces, tg) {
			t.Fatalf("protected namespace %s listed", tg)
		}
	}

	// Objects, listed by metadata only.
	var objs []runtime.Object
	for i := range 501 {
		objs = append(objs, &metav1.PartialObjectMetadata{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%03d", i), Namespace: "ns-001"},
		})
	}
	objs = append(objs, &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: "elsewhere", Namespace: "ns-002"},
	})
	scheme := metadatafake.NewTestScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	f.p.meta = metadatafake.NewSimpleMetadataClient(scheme, objs...)
	resp, err = f.p.ListTargets(ctx, provider.ListTargetsRequest{Parent: "configmap/ns-001"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Targets) != MaxTargets || !resp.Truncated || !slices.Contains(resp.Targets, "configmaps/ns-001/cm-000") || slices.Contains(resp.Targets, "configmaps/ns-002/elsewhere") {
		t.Fatalf("ListTargets(configmap/ns-001) = %d targets, truncated %v: %v", len(resp.Targets), resp.Truncated, resp.Targets[:3])
	}
	resp, err = f.p.ListTargets(ctx, provider.ListTargetsRequest{Parent: "configmaps/ns-002"})
	if err != nil || resp.Truncated || !slices.Equal(resp.Targets, []string{"configmaps/ns-002/elsewhere"}) {
		t.Fatalf("ListTargets(configmaps/ns-002) = %+v, %v", resp, err)
	}

	_, err = f.p.ListTargets(ctx, provider.ListTargetsRequest{Parent: "secrets/kube-system"})
	var re *provider.RefusedError
	if !errors.As(err, &re) || !strings.Contains(re.Reason, "protected") {
		t.Fatalf("ListTargets(secrets/kube-system) = %v", err)
	}
}
