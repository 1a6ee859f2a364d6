package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Cookie names. A Secure session cookie takes the __Host- prefix, which
// browsers accept only from a secure origin, for path /, without Domain:
// no sibling subdomain can set or overwrite it.
const (
	sessionCookie       = "jit_session"
	secureSessionCookie = "__Host-jit_session"
	loginCookie         = "jit_login"
	secureLoginCookie   = "__Host-jit_login"
)

// maxCookieLen bounds the session cookie; browsers drop cookies over about
// 4 KB, and a session that cannot be stored must fail at sign-in, loudly.
const maxCookieLen = 3800

// loginNonceTTL is how long the sign-in form's CSRF cookie lasts.
const loginNonceTTL = 30 * time.Minute

// keys are the HMAC keys derived from Config.SessionKey, one per use, so
// that a value signed for one purpose is never accepted for another.
type keys struct {
	session []byte
	csrf    []byte
	login   []byte
}

func deriveKeys(master []byte) keys {
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, master)
		m.Write([]byte("jit web " + label))
		return m.Sum(nil)
	}
	return keys{session: derive("session v1"), csrf: derive("csrf v1"), login: derive("login v1")}
}

func mac(key []byte, parts ...string) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		// Length-prefixed, so that no two part lists sign the same bytes.
		fmt.Fprintf(m, "%d:%s", len(p), p)
	}
	return m.Sum(nil)
}

// session is what the signed cookie holds. The identity is resolved from
// Email and Groups on every request, so that policy changes (groups,
// admins) apply to signed-in people at once.
type session struct {
	Email string `json:"e"`
	// Groups are the groups the identity provider asserted at sign-in.
	Groups []string `json:"g,omitempty"`
	Via    string   `json:"v"`
	// ID is random per sign-in; the CSRF token is bound to it.
	ID      string `json:"i"`
	Issued  int64  `json:"t"`
	Expires int64  `json:"x"`
}

func randomID() string {
	b := make([]byte, 18)
	// crypto/rand.Read never fails (it panics if the OS cannot supply
	// randomness), so its error need not be checked.
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// encodeSession returns the cookie value: the payload and its HMAC.
func (k keys) encodeSession(s session) (string, error) {
	js, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("encode session: %w", err)
	}
	payload := base64.RawURLEncoding.EncodeToString(js)
	v := payload + "." + base64.RawURLEncoding.EncodeToString(mac(k.session, "session", payload))
	if len(v) > maxCookieLen {
		return "", fmt.Errorf("the session of %s would be %d bytes, over the %d a cookie can hold (too many groups?)", s.Email, len(v), maxCookieLen)
	}
	return v, nil
}

var errBadSession = errors.New("session cookie is not valid")

// decodeSession checks the cookie's signature (in constant time) and
// expiry and returns the session.
func (k keys) decodeSession(v string, now time.Time) (session, error) {
	payload, sig, ok := strings.Cut(v, ".")
	if !ok || len(v) > maxCookieLen {
		return session{}, errBadSession
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, mac(k.session, "session", payload)) {
		return session{}, errBadSession
	}
	js, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return session{}, errBadSession
	}
	var s session
	if err := json.Unmarshal(js, &s); err != nil || s.Email == "" || s.ID == "" {
		return session{}, errBadSession
	}
	if now.Unix() >= s.Expires {
		return session{}, fmt.Errorf("session of %s expired at %s", s.Email, time.Unix(s.Expires, 0).UTC().Format(time.RFC3339))
	}
	return s, nil
}

// csrfToken is the token every form of a signed-in visitor carries: bound
// to the session (a new sign-in changes it) or, for a visitor a proxy
// vouches for on every request, to their email.
func (k keys) csrfToken(v *visitor) string {
	if v.sess != nil {
		return base64.RawURLEncoding.EncodeToString(mac(k.csrf, "session", v.sess.ID))
	}
	return base64.RawURLEncoding.EncodeToString(mac(k.csrf, "authenticator", v.id.Email))
}

// loginToken is the CSRF token of the sign-in forms, bound to the random
// nonce in the visitor's login cookie (they have no session yet).
func (k keys) loginToken(nonce string) string {
	return base64.RawURLEncoding.EncodeToString(mac(k.login, "login", nonce))
}

// tokenEqual compares two tokens in constant time.
func tokenEqual(a, b string) bool {
	return a != "" && b != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// secure reports whether cookies set in answer to r are to be Secure.
func (s *Server) secure(r *http.Request) bool {
	return s.cfg.SecureCookies || r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// readCookie returns the value of the first of names that r carries.
func readCookie(r *http.Request, names ...string) string {
	for _, n := range names {
		if c, err := r.Cookie(n); err == nil && c.Value != "" {
			return c.Value
		}
	}
	return ""
}

func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, plain, secureName, value string, maxAge time.Duration) {
	name := plain
	if s.secure(r) {
		name = secureName
	}
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: s.secure(r),
		SameSite: http.SameSiteLaxMode}
	if maxAge < 0 {
		c.MaxAge = -1
	} else {
		c.MaxAge = int(maxAge / time.Second)
		c.Expires = s.clock.Now().Add(maxAge)
	}
	http.SetCookie(w, c)
}

// startSession signs a session for email and sets its cookie.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, email string, groups []string, via string) error {
	now := s.clock.Now()
	v, err := s.keys.encodeSession(session{Email: email, Groups: groups, Via: via, ID: randomID(),
		Issued: now.Unix(), Expires: now.Add(s.cfg.SessionTTL).Unix()})
	if err != nil {
		return err
	}
	s.setCookie(w, r, sessionCookie, secureSessionCookie, v, s.cfg.SessionTTL)
	s.clearCookie(w, r, loginCookie, secureLoginCookie)
	return nil
}

func (s *Server) clearCookie(w http.ResponseWriter, r *http.Request, plain, secureName string) {
	for _, name := range []string{plain, secureName} {
		if _, err := r.Cookie(name); err == nil {
			http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
				Secure: name == secureName || s.secure(r), SameSite: http.SameSiteLaxMode})
		}
	}
}

// loginNonce returns the nonce of the visitor's login cookie, setting a
// new one when there is none.
func (s *Server) loginNonce(w http.ResponseWriter, r *http.Request) string {
	if n := readCookie(r, secureLoginCookie, loginCookie); n != "" && len(n) <= 64 {
		return n
	}
	n := randomID()
	s.setCookie(w, r, loginCookie, secureLoginCookie, n, loginNonceTTL)
	return n
}
