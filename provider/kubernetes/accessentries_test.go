package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/jitaccess/jit/provider"
)

// fakeEKS is the EKS access entries API as its REST-JSON wire format
// describes it (the paths, bodies and error shapes the SDK's serialisers
// use): state kept in memory, one cluster.
type fakeEKS struct {
	t       *testing.T
	cluster string
	mu      sync.Mutex
	entries map[string]*fakeEntry // by principal ARN
	calls   []string
	auth    []string
	// beforeCreate runs before a create is served (a concurrent writer).
	beforeCreate func()
}

type fakeEntry struct {
	ARN, Principal, Username, Type string
	Groups                         []string
	Tags                           map[string]string
	Created                        time.Time
}

func newFakeEKS(t *testing.T) (*fakeEKS, *httptest.Server) {
	f := &fakeEKS{t: t, cluster: "prod", entries: map[string]*fakeEntry{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeEKS) fail(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Errortype", typ)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

func (f *fakeEKS) reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (e *fakeEntry) wire(cluster string) map[string]any {
	groups := e.Groups
	if groups == nil {
		groups = []string{}
	}
	return map[string]any{"accessEntry": map[string]any{
		"clusterName": cluster, "principalArn": e.Principal, "accessEntryArn": e.ARN,
		"kubernetesGroups": groups, "username": e.Username, "type": e.Type, "tags": e.Tags,
		"createdAt": float64(e.Created.Unix()), "modifiedAt": float64(e.Created.Unix()),
	}}
}

func (f *fakeEKS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var segs []string
	for _, s := range strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/") {
		u, err := url.PathUnescape(s)
		if err != nil {
			f.fail(w, 400, "InvalidRequestException", "bad path")
			return
		}
		segs = append(segs, u)
	}
	if r.Method == http.MethodPost && len(segs) == 3 && segs[2] == "access-entries" && f.beforeCreate != nil {
		hook := f.beforeCreate
		f.beforeCreate = nil
		hook()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, r.Method+" "+strings.Join(segs[:min(len(segs), 3)], "/"))
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	switch {
	case len(segs) >= 2 && segs[0] == "clusters" && segs[1] != f.cluster:
		f.fail(w, 404, "ResourceNotFoundException", "No cluster found for name: "+segs[1]+".")
	case len(segs) == 3 && segs[0] == "clusters" && segs[2] == "access-entries" && r.Method == http.MethodPost:
		var in struct {
			PrincipalArn, Username, Type, ClientRequestToken string
			KubernetesGroups                                 []string
			Tags                                             map[string]string
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.PrincipalArn == "" {
			f.fail(w, 400, "InvalidParameterException", "bad body")
			return
		}
		if _, ok := f.entries[in.PrincipalArn]; ok {
			f.fail(w, 409, "ResourceInUseException", "The specified access entry resource is already in use on this cluster.")
			return
		}
		e := &fakeEntry{ARN: fmt.Sprintf("arn:aws:eks:eu-west-1:111122223333:access-entry/%s/%d", f.cluster, len(f.calls)),
			Principal: in.PrincipalArn, Username: in.Username, Type: in.Type, Groups: in.KubernetesGroups, Tags: in.Tags, Created: time.Unix(1700000000, 0)}
		if e.Tags == nil {
			e.Tags = map[string]string{}
		}
		f.entries[in.PrincipalArn] = e
		f.reply(w, e.wire(f.cluster))
	case len(segs) == 4 && segs[0] == "clusters" && segs[2] == "access-entries":
		e, ok := f.entries[segs[3]]
		if !ok {
			f.fail(w, 404, "ResourceNotFoundException", "The specified principalArn could not be found.")
			return
		}
		switch r.Method {
		case http.MethodGet:
			f.reply(w, e.wire(f.cluster))
		case http.MethodDelete:
			delete(f.entries, segs[3])
			f.reply(w, map[string]any{})
		default:
			f.fail(w, 405, "InvalidRequestException", "method")
		}
	case len(segs) == 2 && segs[0] == "tags":
		var e *fakeEntry
		for _, x := range f.entries {
			if x.ARN == segs[1] {
				e = x
			}
		}
		if e == nil {
			f.fail(w, 404, "NotFoundException", "resource not found")
			return
		}
		switch r.Method {
		case http.MethodPost:
			var in struct{ Tags map[string]string }
			if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
				f.fail(w, 400, "BadRequestException", "bad body")
				return
			}
			for k, v := range in.Tags {
				e.Tags[k] = v
			}
		case http.MethodDelete:
			for _, k := range r.URL.Query()["tagKeys"] {
				delete(e.Tags, k)
			}
		}
		f.reply(w, map[string]any{})
	default:
		f.fail(w, 404, "UnknownOperationException", r.Method+" "+r.URL.Path)
	}
}

func (f *fakeEKS) entry(arn string) *fakeEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	if e, ok := f.entries[arn]; ok {
		c := *e
		c.Tags = map[string]string{}
		for k, v := range e.Tags {
			c.Tags[k] = v
		}
		return &c
	}
	return nil
}

func (f *fakeEKS) put(e *fakeEntry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e.ARN = "arn:aws:eks:eu-west-1:111122223333:access-entry/prod/" + e.Username
	if e.Tags == nil {
		e.Tags = map[string]string{}
	}
	f.entries[e.Principal] = e
}

func (f *fakeEKS) count(call string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == call {
			n++
		}
	}
	return n
}

func accessEntrySettings(endpoint string) map[string]any {
	ae := map[string]any{"cluster": "prod", "region": "eu-west-1"}
	if endpoint != "" {
		ae["endpoint"] = endpoint
	}
	return map[string]any{"eks": map[string]any{
		"access_entries": ae,
		"iam_arn":        "arn:aws:iam::111122223333:role/{local}",
		"iam_arns":       map[string]any{"carol@example.com": "arn:aws:iam::111122223333:user/carol"},
	}}
}

func TestAccessEntries(t *testing.T) {
	ctx := context.Background()
	fe, srv := newFakeEKS(t)
	client := eks.New(eks.Options{Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")})
	f := newFixtureWith(t, accessEntrySettings(""), Options{EKS: client})
	const alice = "arn:aws:iam::111122223333:role/alice"
	exp := f.now.Add(time.Hour)

	// Two overlapping grants of alice hold one entry.
	r1 := f.grantReq("req-ae-1", "view", "deployments/default/web", exp)
	h1, err := f.p.Grant(ctx, r1)
	if err != nil {
		t.Fatalf("Grant r1: %v", err)
	}
	e := fe.entry(alice)
	if e == nil || e.Username != "alice@example.com" || e.Type != "STANDARD" || len(e.Groups) != 0 || e.Tags[TagManagedBy] != "jit" || e.Tags[grantTag("req-ae-1")] != exp.Format(time.RFC3339) {
		t.Fatalf("access entry after grant = %+v", e)
	}
	if !strings.Contains(string(h1.Handle), alice) {
		t.Fatalf("handle %s lacks the principal", h1.Handle)
	}
	if !strings.HasPrefix(fe.auth[0], "AWS4-HMAC-SHA256 Credential=AKIDTEST/") {
		t.Fatalf("requests are not signed with jit's key: %q", fe.auth[0])
	}
	if _, err := f.p.Grant(ctx, r1); err != nil {
		t.Fatalf("Grant r1 again: %v", err)
	}
	if n := fe.count("POST clusters/prod/access-entries"); n != 1 {
		t.Fatalf("%d creates for one grant", n)
	}
	r2 := f.grantReq("req-ae-2", "view", "team-a", exp)
	if _, err := f.p.Grant(ctx, r2); err != nil {
		t.Fatalf("Grant r2: %v", err)
	}
	if e := fe.entry(alice); len(e.Tags) != 3 {
		t.Fatalf("tags after two grants = %v", e.Tags)
	}
	if !f.verify(t, "req-ae-2", nil) {
		t.Fatal("Verify r2: not present")
	}
	if _, err := f.p.Revoke(ctx, provider.RevokeRequest{RequestID: "req-ae-1", User: "alice@example.com", Handle: h1.Handle}); err != nil {
		t.Fatalf("Revoke r1: %v", err)
	}
	if e := fe.entry(alice); e == nil || len(e.Tags) != 2 || e.Tags[grantTag("req-ae-2")] == "" {
		t.Fatalf("entry after revoking one of two grants = %+v", e)
	}
	if !f.verify(t, "req-ae-2", nil) {
		t.Fatal("Verify r2 after revoking r1: not present")
	}
	if _, err := f.p.Revoke(ctx, provider.RevokeRequest{RequestID: "req-ae-2", User: "alice@example.com"}); err != nil {
		t.Fatalf("Revoke r2: %v", err)
	}
	if e := fe.entry(alice); e != nil {
		t.Fatalf("entry after the last revoke = %+v", e)
	}
	if _, err := f.p.Revoke(ctx, provider.RevokeRequest{RequestID: "req-ae-2", User: "alice@example.com"}); err != nil {
		t.Fatalf("second Revoke r2: %v", err)
	}

	// An entry someone else made with the same user name is used and
	// never deleted; one mapping to another name is refused before
	// anything is created.
	fe.put(&fakeEntry{Principal: "arn:aws:iam::111122223333:role/bob", Username: "bob@example.com", Type: "STANDARD"})
	rb := f.grantReq("req-ae-bob", "view", "team-a", exp)
	rb.User = "bob@example.com"
	if _, err := f.p.Grant(ctx, rb); err != nil {
		t.Fatalf("Grant over a foreign entry with the same name: %v", err)
	}
	if _, err := f.p.Revoke(ctx, provider.RevokeRequest{RequestID: rb.RequestID, User: rb.User}); err != nil {
		t.Fatal(err)
	}
	if fe.entry("arn:aws:iam::111122223333:role/bob") == nil {
		t.Fatal("revoke deleted an access entry jit did not make")
	}
	fe.put(&fakeEntry{Principal: "arn:aws:iam::111122223333:user/carol", Username: "admin", Type: "STANDARD"})
	rc := f.grantReq("req-ae-carol", "view", "team-a", exp)
	rc.User = "carol@example.com"
	if _, err := f.p.Grant(ctx, rc); err == nil || !provider.IsNotApplied(err) || !strings.Contains(err.Error(), "not made by jit") {
		t.Fatalf("Grant over a foreign entry mapping to another name = %v", err)
	}
	if _, err := f.client.RbacV1().ClusterRoles().Get(ctx, ObjectName("req-ae-carol"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a refused grant created a ClusterRole: %v", err)
	}

	// Another replica creates the entry between jit's describe and its
	// create: EKS answers ResourceInUseException, and jit tags the entry.
	const dan = "arn:aws:iam::111122223333:role/dan"
	fe.beforeCreate = func() {
		fe.put(&fakeEntry{Principal: dan, Username: "dan@example.com", Type: "STANDARD",
			Tags: map[string]string{TagManagedBy: "jit", grantTag("req-ae-dan-other"): exp.Format(time.RFC3339)}})
	}
	rd := f.grantReq("req-ae-dan", "view", "team-a", exp)
	rd.User = "dan@example.com"
	if _, err := f.p.Grant(ctx, rd); err != nil {
		t.Fatalf("Grant racing another create: %v", err)
	}
	if e := fe.entry(dan); e.Tags[grantTag("req-ae-dan")] == "" || e.Tags[grantTag("req-ae-dan-other")] == "" {
		t.Fatalf("entry after the race = %+v", e)
	}
	// The other grant's revoke was lost and it has expired: revoking
	// dan's grant deletes the entry all the same.
	fe.put(&fakeEntry{Principal: dan, Username: "dan@example.com", Type: "STANDARD", Tags: map[string]string{TagManagedBy: "jit",
		grantTag("req-ae-dan"): exp.Format(time.RFC3339), grantTag("req-ae-dan-other"): f.now.Add(-time.Minute).Format(time.RFC3339)}})
	if _, err := f.p.Revoke(ctx, provider.RevokeRequest{RequestID: "req-ae-dan", User: "dan@example.com"}); err != nil {
		t.Fatal(err)
	}
	if fe.entry(dan) != nil {
		t.Fatal("an entry held only by an expired grant survived")
	}

	// No principal can be derived: refused at Check.
	_, err = f.p.Check(ctx, provider.CheckRequest{User: "d'arcy@example.com", Access: "view", Target: "team-a"})
	var re *provider.RefusedError
	if !errors.As(err, &re) || !strings.Contains(re.Reason, "IAM") {
		t.Fatalf("Check without principal = %v", err)
	}
}

// The client built from the settings: endpoint, region and credentials
// from the environment.
func TestAccessEntriesFromSettings(t *testing.T) {
	ctx := context.Background()
	fe, srv := newFakeEKS(t)
	f := newFixture(t, accessEntrySettings(srv.URL))
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "")
	t.Setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "")
	_, err := f.p.Grant(ctx, f.grantReq("req-ae-env", "view", "team-a", f.now.Add(time.Hour)))
	if err == nil || !provider.IsNotApplied(err) || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Fatalf("Grant without credentials = %v", err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENV")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "do-not-show")
	if _, err := f.p.Grant(ctx, f.grantReq("req-ae-env", "view", "team-a", f.now.Add(time.Hour))); err != nil {
		t.Fatalf("Grant: %v", err)
	}
	if fe.entry("arn:aws:iam::111122223333:role/alice") == nil {
		t.Fatal("no access entry created")
	}
	if !strings.HasPrefix(fe.auth[len(fe.auth)-1], "AWS4-HMAC-SHA256 Credential=AKIDFROMENV/") || !strings.Contains(fe.auth[len(fe.auth)-1], "/eu-west-1/eks/aws4_request") {
		t.Fatalf("signature = %q", fe.auth[len(fe.auth)-1])
	}
	if err := f.p.Close(); err != nil {
		t.Fatal(err)
	}
	// A cluster EKS does not know is an error, not a missing entry.
	settings := accessEntrySettings(srv.URL)
	settings["eks"].(map[string]any)["access_entries"].(map[string]any)["cluster"] = "staging"
	g := newFixture(t, settings)
	if _, err := g.p.Grant(ctx, g.grantReq("req-ae-staging", "view", "team-a", g.now.Add(time.Hour))); err == nil {
		t.Fatal("Grant on an unknown EKS cluster succeeded")
	}
}

// EKS Pod Identity: credentials from the container endpoint, with the
// rotated token read from its file at each refresh.
func TestAccessEntriesContainerCredentials(t *testing.T) {
	ctx := context.Background()
	fe, srv := newFakeEKS(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("pod-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var gotAuth string
	creds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		_ = json.NewEncoder(w).Encode(map[string]string{"AccessKeyId": "AKIDPOD", "SecretAccessKey": "pod-secret", "Token": "pod-session",
			"Expiration": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
	}))
	t.Cleanup(creds.Close)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", creds.URL+"/v1/credentials")
	t.Setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tokenFile)
	f := newFixture(t, accessEntrySettings(srv.URL))
	if _, err := f.p.Grant(ctx, f.grantReq("req-ae-pod", "view", "team-a", f.now.Add(time.Hour))); err != nil {
		t.Fatalf("Grant: %v", err)
	}
	if gotAuth != "pod-token" {
		t.Fatalf("the credentials endpoint got Authorization %q", gotAuth)
	}
	if a := fe.auth[len(fe.auth)-1]; !strings.HasPrefix(a, "AWS4-HMAC-SHA256 Credential=AKIDPOD/") {
		t.Fatalf("signature = %q", a)
	}

	for uri, ok := range map[string]bool{
		"http://169.254.170.23/v1/credentials": true,
		"http://127.0.0.1:9/creds":             true,
		"https://creds.example.com/":           true,
		"http://creds.example.com/":            false,
		"file:///etc/passwd":                   false,
	} {
		if err := checkContainerURI(uri); (err == nil) != ok {
			t.Errorf("checkContainerURI(%q) = %v", uri, err)
		}
	}
}
