package oidc

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// flow is what one sign-in keeps between Start and Finish. It lives in an
// encrypted cookie; the server keeps nothing, so any replica can finish a
// flow another started.
type flow struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	ReturnTo string `json:"r"`
	Expires  int64  `json:"e"` // Unix nanoseconds: orders flows started within a second
}

const (
	// maxFlows is how many unfinished flows a browser keeps; older ones
	// are dropped at the next Start so that abandoned sign-ins cannot grow
	// the Cookie header past what proxies accept.
	maxFlows = 4
	// maxReturnTo bounds the local path carried through the flow.
	maxReturnTo = 2048
	// maxCookieValue bounds what is decoded from a flow cookie.
	maxCookieValue = 4096
)

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// randomString is 32 random bytes, base64url without padding.
func randomString() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand panics rather than return short)
	return base64.RawURLEncoding.EncodeToString(b)
}

// cookieName binds a flow cookie to its state: the callback finds the
// cookie of the flow its state names, so flows in several tabs coexist.
// The name is a hash, not the state itself.
func (l *Login) cookieName(state string) string {
	sum := sha256.Sum256([]byte(state))
	return l.cookiePrefix + base64.RawURLEncoding.EncodeToString(sum[:12])
}

// flowCookie seals f into its cookie. The cookie name is the additional
// data of the AEAD, so a value moved to another flow's name does not open.
func (l *Login) flowCookie(f flow) *http.Cookie {
	name := l.cookieName(f.State)
	plain, _ := json.Marshal(f) // strings and an int: cannot fail
	nonce := make([]byte, l.aead.NonceSize())
	rand.Read(nonce)
	sealed := l.aead.Seal(nonce, nonce, plain, []byte(name))
	return &http.Cookie{
		Name:     name,
		Value:    base64.RawURLEncoding.EncodeToString(sealed),
		Path:     "/",
		MaxAge:   int(FlowLifetime / time.Second),
		Expires:  time.Unix(0, f.Expires),
		HttpOnly: true,
		Secure:   l.secure,
		// Lax: the provider's redirect back is a top-level GET navigation
		// from another site, which Lax cookies accompany.
		SameSite: http.SameSiteLaxMode,
	}
}

// clearCookie removes the cookie named name.
func (l *Login) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: l.secure, SameSite: http.SameSiteLaxMode})
}

// openFlow decrypts a flow cookie's value stored under name.
func (l *Login) openFlow(name, value string) (flow, error) {
	var f flow
	if len(value) > maxCookieValue {
		return f, fail(ErrFlow, "the flow cookie is too large")
	}
	sealed, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(sealed) < l.aead.NonceSize()+l.aead.Overhead() {
		return f, fail(ErrFlow, "the flow cookie is malformed")
	}
	ns := l.aead.NonceSize()
	plain, err := l.aead.Open(nil, sealed[:ns], sealed[ns:], []byte(name))
	if err != nil {
		return f, fail(ErrFlow, "the flow cookie was altered or comes from another server")
	}
	if err := json.Unmarshal(plain, &f); err != nil {
		return f, fail(ErrFlow, "the flow cookie is malformed")
	}
	return f, nil
}

// takeFlow finds, clears and checks the flow cookie of state: it must
// open, be unexpired and hold exactly this state.
func (l *Login) takeFlow(w http.ResponseWriter, r *http.Request, state string) (flow, error) {
	name := l.cookieName(state)
	c, err := r.Cookie(name)
	if err != nil {
		return flow{}, fail(ErrFlow, "no sign-in was started in this browser for this answer (or it took longer than %s)",
			FlowLifetime)
	}
	// One use only, whatever the outcome.
	l.clearCookie(w, name)
	f, err := l.openFlow(name, c.Value)
	if err != nil {
		return flow{}, err
	}
	if l.cfg.Clock.Now().UnixNano() > f.Expires {
		return flow{}, fail(ErrFlow, "the sign-in took longer than %s", FlowLifetime)
	}
	if subtle.ConstantTimeCompare([]byte(f.State), []byte(state)) != 1 {
		return flow{}, fail(ErrFlow, "the answer's state does not match the sign-in")
	}
	return f, nil
}

// pruneFlows clears the oldest unfinished flow cookies so that, with the
// one about to be set, at most maxFlows remain.
func (l *Login) pruneFlows(w http.ResponseWriter, r *http.Request) {
	type old struct {
		name    string
		expires int64
	}
	var flows []old
	for _, c := range r.Cookies() {
		if !strings.HasPrefix(c.Name, l.cookiePrefix) {
			continue
		}
		f, err := l.openFlow(c.Name, c.Value)
		if err != nil {
			f.Expires = 0 // unreadable: dropped first
		}
		flows = append(flows, old{c.Name, f.Expires})
	}
	if len(flows) < maxFlows {
		return
	}
	// Stable: browsers send cookies oldest first, which breaks ties.
	sort.SliceStable(flows, func(i, j int) bool { return flows[i].expires < flows[j].expires })
	for _, f := range flows[:len(flows)-(maxFlows-1)] {
		l.clearCookie(w, f.name)
	}
}

// ValidReturnTo reports whether s is a local path that is safe to redirect
// to after signing in: it starts with "/" but not "//" or "/\" (which
// browsers read as another host), holds no control characters, spaces or
// backslashes (browsers drop tabs and newlines, turning "/\t/evil" into
// "//evil"), is valid UTF-8, at most 2 KiB, and parses as a path without
// scheme or host.
func ValidReturnTo(s string) bool {
	if len(s) == 0 || len(s) > maxReturnTo || s[0] != '/' || !utf8.ValidString(s) {
		return false
	}
	if len(s) > 1 && (s[1] == '/' || s[1] == '\\') {
		return false
	}
	for _, c := range s {
		if c <= ' ' || c == 0x7f || c == '\\' || (c >= 0x80 && c <= 0x9f) {
			return false
		}
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "" && u.Host == "" && u.Opaque == "" && u.User == nil
}

// safeCode reduces an OAuth error code to its RFC 6749 alphabet
// (lowercase letters, digits and "_"); anything else becomes
// "invalid_error_code".
func safeCode(s string) string {
	if s == "" || len(s) > 64 {
		return "invalid_error_code"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return "invalid_error_code"
		}
	}
	return s
}

// safeText keeps printable ASCII other than markup and quote characters,
// collapses runs of anything else into one space, and cuts the result to
// max bytes: text from the provider is shown to the person, and must never
// become markup, whatever the page that shows it does.
func safeText(s string, max int) string {
	var b strings.Builder
	space := false
	for _, c := range s {
		if c > 0x20 && c < 0x7f && !strings.ContainsRune(`<>&"'`+"`", c) {
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(c)
		} else {
			space = true
		}
		if b.Len() >= max {
			break
		}
	}
	out := b.String()
	if len(out) > max {
		out = out[:max]
	}
	return out
}
