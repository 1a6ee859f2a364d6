package azure

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2/fake"

	"github.com/jitaccess/jit/provider"
)

const (
	testTenant   = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	testClient   = "3b2f4c1a-1111-4222-8333-444455556666"
	testSecret   = "s3cr3t~Value.With+Chars=="
	testSub      = "0b1f6471-1bf0-4dda-aec3-cb9272f09590"
	aliceOID     = "aaaaaaaa-0000-4000-8000-00000000000a"
	bobOID       = "bbbbbbbb-0000-4000-8000-00000000000b"
	carolOID     = "cccccccc-0000-4000-8000-00000000000c"
	graphOnlyOID = "dddddddd-0000-4000-8000-00000000000d"
)

var testScope = "/subscriptions/" + testSub + "/resourceGroups/app"

// clock is a settable clock shared by the provider and the fakes.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// identity is the Microsoft identity platform's token endpoint and
// Microsoft Graph's user lookup, over TLS, as their documentation
// describes them: POST /TENANT/oauth2/v2.0/token with a form body, and
// GET /v1.0/users/{userPrincipalName}?$select=id with a bearer token for
// Graph.
type identity struct {
	srv *httptest.Server

	mu sync.Mutex
	// tokens counts token requests by scope.
	tokens map[string]int
	// lifetime is expires_in of the tokens issued.
	lifetime int
	// secret is the client secret accepted.
	secret string
	// users maps user principal names to object IDs.
	users map[string]string
	// issued maps tokens to the scope they were issued for.
	issued map[string]string
	// echoSecret makes failed token requests echo the secret they got.
	echoSecret bool
	lookups    int
}

func newIdentity(t *testing.T) *identity {
	id := &identity{
		tokens: map[string]int{}, lifetime: 3600, secret: testSecret,
		users:  map[string]string{"graph.only@example.com": graphOnlyOID},
		issued: map[string]string{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", id.token)
	mux.HandleFunc("GET /v1.0/users/{upn}", id.user)
	id.srv = httptest.NewTLSServer(mux)
	t.Cleanup(id.srv.Close)
	return id
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": code, "error_description": desc, "error_codes": []int{7000215}})
}

func (id *identity) token(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("tenant") != testTenant {
		oauthError(w, http.StatusBadRequest, "invalid_request", "AADSTS90002: Tenant not found.")
		return
	}
	if err := r.ParseForm(); err != nil || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "AADSTS900144: malformed request")
		return
	}
	id.mu.Lock()
	defer id.mu.Unlock()
	f := r.PostForm
	if f.Get("grant_type") != "client_credentials" || f.Get("client_id") != testClient || f.Get("scope") == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "AADSTS900144: The request body must contain grant_type, client_id and scope.")
		return
	}
	if f.Get("client_secret") != id.secret {
		desc := "AADSTS7000215: Invalid client secret provided."
		if id.echoSecret {
			desc += " Got: " + f.Get("client_secret") + " (" + r.PostForm.Encode() + ")"
		}
		oauthError(w, http.StatusUnauthorized, "invalid_client", desc)
		return
	}
	scope := f.Get("scope")
	id.tokens[scope]++
	tok := fmt.Sprintf("tok-%d-%s", id.tokens[scope], scope)
	id.issued[tok] = scope
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "expires_in": id.lifetime, "ext_expires_in": id.lifetime, "access_token": tok})
}

func (id *identity) user(w http.ResponseWriter, r *http.Request) {
	id.mu.Lock()
	defer id.mu.Unlock()
	id.lookups++
	graphError := func(status int, code, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
	}
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if id.issued[tok] != id.srv.URL+"/.default" {
		graphError(http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty or not for Graph.")
		return
	}
	if r.URL.Query().Get("$select") != "id" {
		graphError(http.StatusBadRequest, "BadRequest", "expected $select=id")
		return
	}
	oid, ok := id.users[strings.ToLower(r.PathValue("upn"))]
	if !ok {
		graphError(http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", r.PathValue("upn")))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users(id)/$entity", "id": oid})
}

func (id *identity) tokenCount(scope string) int {
	id.mu.Lock()
	defer id.mu.Unlock()
	return id.tokens[scope]
}

// authRecorder is an ARM transport that records the bearer tokens sent
// before handing the request to the fake servers.
type authRecorder struct {
	next policy.Transporter
	mu   sync.Mutex
	auth []string
}

func (a *authRecorder) Do(r *http.Request) (*http.Response, error) {
	a.mu.Lock()
	a.auth = append(a.auth, r.Header.Get("Authorization"))
	a.mu.Unlock()
	return a.next.Do(r)
}

func (a *authRecorder) headers() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.auth...)
}

// env is one test's Azure: the fake ARM, the identity servers, a clock
// and a secret file.
type env struct {
	t          *testing.T
	clock      *clock
	arm        *fakeARM
	id         *identity
	rec        *authRecorder
	secretFile string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	c := newClock()
	e := &env{t: t, clock: c, arm: newFakeARM(c.Now), id: newIdentity(t)}
	e.rec = &authRecorder{next: fake.NewServerFactoryTransport(e.arm.server())}
	e.secretFile = filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(e.secretFile, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// settings returns working settings, with over applied (a nil value
// deletes the key).
func (e *env) settings(over map[string]any) map[string]any {
	s := map[string]any{
		"tenant_id":          testTenant,
		"client_id":          testClient,
		"client_secret_file": e.secretFile,
		"scope":              testScope,
		"roles":              map[string]any{"read": "Reader", "ops": "/subscriptions/" + testSub + "/providers/Microsoft.Authorization/roleDefinitions/" + opsGUID},
		"principals": map[string]any{
			"alice@example.com": aliceOID, "Bob@Example.com": bobOID, "conformance@example.com": carolOID,
		},
		"authority_host": e.id.srv.URL,
		"graph_endpoint": e.id.srv.URL,
	}
	for k, v := range over {
		if v == nil {
			delete(s, k)
			continue
		}
		s[k] = v
	}
	return s
}

func (e *env) provider(over map[string]any, access ...string) *Provider {
	e.t.Helper()
	if len(access) == 0 {
		access = []string{"read"}
	}
	p, err := NewWithOptions(provider.Resource{Name: "az", Type: Type, Settings: e.settings(over), Access: access},
		Options{Transport: e.rec, HTTPClient: e.id.srv.Client(), Now: e.clock.Now})
	if err != nil {
		e.t.Fatalf("NewWithOptions: %v", err)
	}
	return p
}
