package kubernetes

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/jitaccess/jit/provider"
)

// The EKS authenticator compares ARNs without case (IAM names are unique
// without case), and the last entry of an ARN wins: an entry jit adds
// for role/alice replaces someone else's mapping of role/Alice.
func TestAWSAuthARNsComparedWithoutCase(t *testing.T) {
	const existing = "- rolearn: arn:aws:iam::111122223333:role/Alice\n  username: alice-admin\n  groups:\n    - system:masters\n"
	f := newFixture(t, map[string]any{"eks": map[string]any{"aws_auth": true,
		"iam_arns": map[string]any{"alice@example.com": "arn:aws:iam::111122223333:role/alice"}}})
	ctx := context.Background()
	cms := f.client.CoreV1().ConfigMaps(AWSAuthNamespace)
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: AWSAuthName, Namespace: AWSAuthNamespace},
		Data: map[string]string{awsAuthRoles: existing}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := f.p.Grant(ctx, f.grantReq("req-case", "view", "deployments/default/web", f.now.Add(time.Hour)))
	if err == nil || !provider.IsNotApplied(err) {
		t.Fatalf("Grant = %v, want a NotApplied refusal: role/Alice is mapped to another user", err)
	}
	cm, err := cms.Get(ctx, AWSAuthName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data[awsAuthRoles] != existing || cm.Annotations[AnnotationAWSAuth] != "" {
		t.Fatalf("aws-auth changed:\n%s\nannotation %q", cm.Data[awsAuthRoles], cm.Annotations[AnnotationAWSAuth])
	}
	if l, err := parseMapList(existing); err != nil || len(l.usernames("rolearn", "arn:aws:iam::111122223333:role/ALICE")) != 1 {
		t.Fatalf("usernames: %v", err)
	}
}
