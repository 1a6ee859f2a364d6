package azure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// DefaultGraphEndpoint is Microsoft Graph in Azure's public cloud.
const DefaultGraphEndpoint = "https://graph.microsoft.com"

// graphCacheTTL is how long a looked-up object ID is reused. Object IDs
// never change for a user; a user deleted and created again gets a new
// one, which is picked up after this long (or at a policy reload).
const graphCacheTTL = time.Hour

// maxGraphResponse bounds what is read from Graph.
const maxGraphResponse = 1 << 20

// errUnknownPerson is wrapped by lookups that found no such person.
var errUnknownPerson = errors.New("no such person")

// graphLookup finds a user's Entra object ID with Microsoft Graph's
// GET /v1.0/users/{userPrincipalName}?$select=id, using a token for the
// Graph endpoint from the same credential as Azure Resource Manager.
type graphLookup struct {
	base   string
	cred   azcore.TokenCredential
	client *http.Client
	now    func() time.Time

	mu    sync.Mutex
	cache map[string]graphEntry
}

type graphEntry struct {
	id      string
	expires time.Time
}

func newGraphLookup(base string, cred azcore.TokenCredential, client *http.Client, now func() time.Time) *graphLookup {
	return &graphLookup{base: base, cred: cred, client: client, now: now, cache: map[string]graphEntry{}}
}

// lookup returns the object ID of the user whose user principal name is
// upn. An answer of 404 is errUnknownPerson (wrapped); any other failure
// means the lookup could not be made.
func (g *graphLookup) lookup(ctx context.Context, upn string) (string, error) {
	key := strings.ToLower(upn)
	g.mu.Lock()
	e, ok := g.cache[key]
	g.mu.Unlock()
	if ok && g.now().Before(e.expires) {
		return e.id, nil
	}
	tok, err := g.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{g.base + "/.default"}})
	if err != nil {
		return "", fmt.Errorf("microsoft graph token: %w", err)
	}
	u := g.base + "/v1.0/users/" + url.PathEscape(upn) + "?$select=id"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", errors.New("microsoft graph request cannot be built")
	}
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Accept", "application/json")
	resp, err := g.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("microsoft graph user lookup: %w", ctx.Err())
		}
		return "", fmt.Errorf("microsoft graph user lookup failed: %s", transportReason(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxGraphResponse))
	if err != nil {
		return "", errors.New("microsoft graph user lookup: reading the answer failed")
	}
	if resp.StatusCode == http.StatusNotFound {
		return "", fmt.Errorf("microsoft graph has no user %q: %w", upn, errUnknownPerson)
	}
	if resp.StatusCode != http.StatusOK {
		var ge struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		_ = json.Unmarshal(body, &ge)
		return "", fmt.Errorf("microsoft graph user lookup answered %d %s: %s", resp.StatusCode, cleanText(ge.Error.Code, 64), cleanText(ge.Error.Message, 300))
	}
	var user struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &user); err != nil {
		return "", errors.New("microsoft graph user lookup: the answer is not a user object")
	}
	id, err := parseGUID(user.ID)
	if err != nil {
		return "", errors.New("microsoft graph user lookup: the answer's id is not a GUID")
	}
	g.mu.Lock()
	g.cache[key] = graphEntry{id: id, expires: g.now().Add(graphCacheTTL)}
	g.mu.Unlock()
	return id, nil
}

// checkEmail accepts what may be looked up as a user principal name: an
// address of printable ASCII with one "@", without the characters that
// would change the meaning of a Graph URL ("/", "?", "%", "\") and not
// starting with "$" (Graph reads that as a function).
func checkEmail(email string) error {
	if len(email) < 3 || len(email) > 254 {
		return errors.New("is not an email address")
	}
	if strings.Count(email, "@") != 1 || strings.HasPrefix(email, "@") || strings.HasSuffix(email, "@") || strings.HasPrefix(email, "$") {
		return errors.New("is not an email address")
	}
	for _, r := range email {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`/?%\"(),:;<>[]`, r) {
			return errors.New("has a character not allowed in a user principal name")
		}
	}
	return nil
}
