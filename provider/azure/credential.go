package azure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// DefaultAuthorityHost is the Microsoft identity platform of Azure's
// public cloud.
const DefaultAuthorityHost = "https://login.microsoftonline.com"

// defaultRefreshMargin is how long before its expiry a cached token is
// replaced, so that a request never leaves with a token about to lapse.
const defaultRefreshMargin = 5 * time.Minute

// maxTokenResponse bounds what is read from the token endpoint.
const maxTokenResponse = 1 << 20

var _ azcore.TokenCredential = (*ClientCredential)(nil)

// ClientCredential is an azcore.TokenCredential for the OAuth 2.0 client
// credentials grant of the Microsoft identity platform: it posts the
// application's client ID and secret to
// AUTHORITY/TENANT/oauth2/v2.0/token and caches each token (per scope
// set) until shortly before it expires. The secret is read anew for every
// token request, so a rotated secret file is picked up without a restart,
// and it never appears in an error: token endpoint answers are reduced to
// their error code and description, with the secret cut out should the
// endpoint echo it. It is safe for concurrent use; concurrent callers
// needing the same token wait for one request instead of each making
// their own.
type ClientCredential struct {
	tenant   string
	clientID string
	secret   func() (string, error)
	tokenURL string
	client   *http.Client
	now      func() time.Time
	margin   time.Duration

	// lock is a one-slot semaphore rather than a mutex so that a caller
	// waiting for another's token request can give up when its context
	// ends.
	lock  chan struct{}
	mu    sync.Mutex
	cache map[string]azcore.AccessToken
}

// ClientCredentialOptions configure a ClientCredential.
type ClientCredentialOptions struct {
	// TenantID is the directory (tenant) ID or one of its domain names.
	TenantID string
	// ClientID is the application (client) ID of jit's app registration.
	ClientID string
	// Secret returns the client secret; see SecretFromFile and
	// SecretFromEnv. It is called for every token request.
	Secret func() (string, error)
	// AuthorityHost is the identity platform's base URL; "" means
	// DefaultAuthorityHost. It must be an https URL without a path.
	AuthorityHost string
	// HTTPClient sends the token requests; nil means a client with a
	// 30-second timeout.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// RefreshMargin is how long before expiry a token is replaced; zero
	// means five minutes. For tokens living less than twice the margin,
	// half their lifetime is used instead.
	RefreshMargin time.Duration
}

// NewClientCredential checks the options and returns the credential. It
// sends nothing.
func NewClientCredential(o ClientCredentialOptions) (*ClientCredential, error) {
	if err := checkTenant(o.TenantID); err != nil {
		return nil, err
	}
	if _, err := parseGUID(o.ClientID); err != nil {
		return nil, errors.New("client ID must be the application's GUID")
	}
	if o.Secret == nil {
		return nil, errors.New("a client secret source is required")
	}
	host := o.AuthorityHost
	if host == "" {
		host = DefaultAuthorityHost
	}
	base, err := httpsBase(host)
	if err != nil {
		return nil, fmt.Errorf("authority host: %w", err)
	}
	c := &ClientCredential{
		tenant:   o.TenantID,
		clientID: strings.ToLower(o.ClientID),
		secret:   o.Secret,
		tokenURL: base + "/" + url.PathEscape(o.TenantID) + "/oauth2/v2.0/token",
		client:   o.HTTPClient,
		now:      o.Now,
		margin:   o.RefreshMargin,
		lock:     make(chan struct{}, 1),
		cache:    map[string]azcore.AccessToken{},
	}
	if c.client == nil {
		c.client = &http.Client{Timeout: 30 * time.Second}
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.margin <= 0 {
		c.margin = defaultRefreshMargin
	}
	return c, nil
}

var tenantDomain = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$`)

// checkTenant accepts a tenant GUID or a verified domain name
// ("contoso.onmicrosoft.com"); the tenant becomes part of the token URL.
func checkTenant(t string) error {
	if _, err := parseGUID(t); err == nil {
		return nil
	}
	if len(t) <= 253 && tenantDomain.MatchString(t) {
		return nil
	}
	return errors.New("tenant ID must be the directory's GUID or one of its domain names")
}

// httpsBase checks that s is an https URL with a host and nothing after
// it, and returns it without a trailing slash.
func httpsBase(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", errors.New("is not a URL")
	}
	if u.Scheme != "https" {
		return "", errors.New("must be an https URL")
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.Trim(u.Path, "/") != "" {
		return "", errors.New("must be https://HOST with nothing after the host")
	}
	return "https://" + u.Host, nil
}

// SecretFromFile returns a secret source reading path at every call, with
// surrounding white space removed. Errors name the file, never its
// contents.
func SecretFromFile(path string) func() (string, error) {
	return func() (string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				return "", fmt.Errorf("client secret file %s: %v", path, pe.Err)
			}
			return "", fmt.Errorf("client secret file %s: cannot be read", path)
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			return "", fmt.Errorf("client secret file %s is empty", path)
		}
		return s, nil
	}
}

// SecretFromEnv returns a secret source reading the environment variable
// name at every call.
func SecretFromEnv(name string) func() (string, error) {
	return func() (string, error) {
		s := strings.TrimSpace(os.Getenv(name))
		if s == "" {
			return "", fmt.Errorf("client secret environment variable %s is not set or empty", name)
		}
		return s, nil
	}
}

// TokenError is a token request that failed. Its text holds the token
// endpoint's HTTP status, OAuth error code and description (with the
// client secret cut out, should the endpoint echo it), or what went wrong
// before an answer came; never the secret.
type TokenError struct {
	// Status is the HTTP status of the answer, or 0 when none came.
	Status int
	// Code is the OAuth error code ("invalid_client"), when given.
	Code string
	msg  string
	ctx  error
}

func (e *TokenError) Error() string { return e.msg }

// Unwrap returns the context's error when the request ended with its
// context, so that errors.Is(err, context.Canceled) works.
func (e *TokenError) Unwrap() error { return e.ctx }

// GetToken returns a token for opts.Scopes, from the cache while it is
// more than the refresh margin away from expiry. A request naming another
// tenant than the configured one is refused. Errors are *TokenError.
func (c *ClientCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if len(opts.Scopes) == 0 {
		return azcore.AccessToken{}, &TokenError{msg: "azure token request: no scope asked for"}
	}
	if opts.TenantID != "" && !strings.EqualFold(opts.TenantID, c.tenant) {
		return azcore.AccessToken{}, &TokenError{msg: fmt.Sprintf("azure token request for tenant %q, but the credential is for tenant %q", opts.TenantID, c.tenant)}
	}
	scopes := append([]string(nil), opts.Scopes...)
	sort.Strings(scopes)
	key := strings.Join(scopes, " ")
	// A claims challenge asks for a token satisfying new conditions: the
	// cached one is what was just refused.
	useCache := opts.Claims == ""
	if useCache {
		if tok, ok := c.cached(key); ok {
			return tok, nil
		}
	}
	select {
	case c.lock <- struct{}{}:
	case <-ctx.Done():
		return azcore.AccessToken{}, &TokenError{msg: "azure token request: " + ctx.Err().Error(), ctx: ctx.Err()}
	}
	defer func() { <-c.lock }()
	if useCache {
		// Another caller may have fetched it while this one waited.
		if tok, ok := c.cached(key); ok {
			return tok, nil
		}
	}
	tok, err := c.fetch(ctx, key, opts.Claims)
	if err != nil {
		return azcore.AccessToken{}, err
	}
	c.mu.Lock()
	c.cache[key] = tok
	c.mu.Unlock()
	return tok, nil
}

func (c *ClientCredential) cached(key string) (azcore.AccessToken, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	tok, ok := c.cache[key]
	if !ok || !c.now().Before(tok.RefreshOn) {
		return azcore.AccessToken{}, false
	}
	return tok, true
}

// tokenResponse is the token endpoint's answer, success or error.
// expires_in is a number from the v2.0 endpoint, but a string in older
// answers; both are read.
type tokenResponse struct {
	AccessToken      string          `json:"access_token"`
	TokenType        string          `json:"token_type"`
	ExpiresIn        json.RawMessage `json:"expires_in"`
	Error            string          `json:"error"`
	ErrorDescription string          `json:"error_description"`
}

func (c *ClientCredential) fetch(ctx context.Context, scope, claims string) (azcore.AccessToken, error) {
	secret, err := c.secret()
	if err != nil {
		// The source's errors name a file or variable, never the value.
		return azcore.AccessToken{}, &TokenError{msg: "azure token request: " + err.Error()}
	}
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {c.clientID},
		"client_secret": {secret},
		"scope":         {scope},
	}
	if claims != "" {
		form.Set("claims", claims)
	}
	fail := func(status int, code, msg string, ctxErr error) error {
		return &TokenError{Status: status, Code: redact(cleanText(code, 64), secret), msg: redact(msg, secret), ctx: ctxErr}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return azcore.AccessToken{}, fail(0, "", "azure token request: cannot be built", nil)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	sent := c.now()
	resp, err := c.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return azcore.AccessToken{}, fail(0, "", "azure token request: "+ctx.Err().Error(), ctx.Err())
		}
		return azcore.AccessToken{}, fail(0, "", "azure token request to "+c.tokenURL+" failed: "+transportReason(err), nil)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse))
	if err != nil {
		return azcore.AccessToken{}, fail(resp.StatusCode, "", "azure token request: reading the answer failed", nil)
	}
	var tr tokenResponse
	jsonErr := json.Unmarshal(body, &tr)
	if resp.StatusCode != http.StatusOK {
		code, desc := tr.Error, tr.ErrorDescription
		if jsonErr != nil || code == "" {
			code, desc = "", "the answer is not an OAuth error"
		}
		return azcore.AccessToken{}, fail(resp.StatusCode, code, fmt.Sprintf("azure token endpoint answered %d %s: %s", resp.StatusCode, code, cleanText(desc, 400)), nil)
	}
	if jsonErr != nil || tr.AccessToken == "" {
		return azcore.AccessToken{}, fail(resp.StatusCode, "", "azure token endpoint answered 200 without an access token", nil)
	}
	if tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "Bearer") {
		return azcore.AccessToken{}, fail(resp.StatusCode, "", fmt.Sprintf("azure token endpoint answered with a %q token, not a bearer token", cleanText(tr.TokenType, 40)), nil)
	}
	life, err := expiresIn(tr.ExpiresIn)
	if err != nil {
		return azcore.AccessToken{}, fail(resp.StatusCode, "", "azure token endpoint answered with "+err.Error(), nil)
	}
	// The lifetime counts from when the request left: the answer may have
	// taken a while to come.
	expires := sent.Add(life)
	margin := c.margin
	if life < 2*margin {
		margin = life / 2
	}
	return azcore.AccessToken{Token: tr.AccessToken, ExpiresOn: expires, RefreshOn: expires.Add(-margin)}, nil
}

func expiresIn(raw json.RawMessage) (time.Duration, error) {
	if len(raw) == 0 {
		return 0, errors.New("no expires_in")
	}
	var n json.Number
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, errors.New("an unreadable expires_in")
		}
		n = json.Number(s)
	} else if err := json.Unmarshal(raw, &n); err != nil {
		return 0, errors.New("an unreadable expires_in")
	}
	secs, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil || secs <= 0 || secs > 7*24*3600 {
		return 0, errors.New("an expires_in that is not a positive number of seconds")
	}
	return time.Duration(secs) * time.Second, nil
}

// transportReason describes a failed HTTP exchange without the request
// (whose body holds the secret; url.Error holds only method and URL, but
// the reason is all that is useful).
func transportReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return cleanText(err.Error(), 300)
}

// redact removes secret, and its URL-encoded form, from s.
func redact(s, secret string) string {
	if secret == "" {
		return s
	}
	s = strings.ReplaceAll(s, secret, "[redacted]")
	if enc := url.QueryEscape(secret); enc != secret {
		s = strings.ReplaceAll(s, enc, "[redacted]")
	}
	return s
}

// cleanText makes text from a remote answer fit for an error message:
// control characters become spaces and it is cut to max runes.
func cleanText(s string, max int) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n >= max {
			b.WriteString("…")
			break
		}
		if unicode.IsControl(r) {
			r = ' '
		}
		b.WriteRune(r)
		n++
	}
	return strings.TrimSpace(b.String())
}
