package web

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/jitaccess/jit"
)

// Ways a web identity is established (jit.Identity.Via); a proxy's
// authenticator sets its own ("proxy-jwt").
const (
	viaOIDC     = "oidc"
	viaDevLogin = "dev-login"
)

// maxFormBytes bounds a form post (the longest field, a query, is 16 KiB).
const maxFormBytes = 64 << 10

// visitor is who is asking, as far as the chain found out.
type visitor struct {
	id jit.Identity
	// sess is the signed session, nil for visitors an authenticator
	// vouches for on every request (and for those not signed in).
	sess *session
	// authErr is a credential problem found on a public page.
	authErr error
	// mark is the service's change mark when the request arrived (see
	// workflow.Service.ChangeMark).
	mark string
}

func (v *visitor) signedIn() bool { return v != nil && v.id.Email != "" }

type visitorKey struct{}

func visitorFrom(ctx context.Context) *visitor {
	v, _ := ctx.Value(visitorKey{}).(*visitor)
	if v == nil {
		return &visitor{}
	}
	return v
}

// identify fills v from the authenticators, or else the session cookie.
// A credential an authenticator finds invalid is an unauthenticated error;
// one it cannot check now is passed on (unavailable). A missing, expired
// or tampered session cookie just leaves v signed out.
func (s *Server) identify(r *http.Request, v *visitor) error {
	for _, a := range s.cfg.Authenticators {
		id, ok, err := a.Authenticate(r)
		if err != nil {
			var je *jit.Error
			if errors.As(err, &je) && je.Code != jit.ECodeUnauthenticated {
				return fmt.Errorf("authenticate: %w", err)
			}
			// The reason stays in the log: telling a visitor why their
			// credentials failed helps an attacker more than a user.
			s.log.InfoContext(r.Context(), "web authentication failed", "path", r.URL.Path,
				"authenticator", fmt.Sprintf("%T", a), "err", err.Error())
			return jit.Errorf(jit.ECodeUnauthenticated, "the sign-in your proxy sent is not valid; sign in again through it")
		}
		if ok {
			if id.Email == "" {
				return fmt.Errorf("authenticator %T returned an identity without email", a)
			}
			v.id = id
			return nil
		}
	}
	raw := readCookie(r, secureSessionCookie, sessionCookie)
	if raw == "" || s.cfg.Resolve == nil {
		return nil
	}
	sess, err := s.keys.decodeSession(raw, s.clock.Now())
	if err != nil {
		s.log.DebugContext(r.Context(), "web session refused", "err", err.Error())
		return nil
	}
	// A development sign-in is good only where one can be made: on a
	// development server, from loopback, for a listed user.
	if sess.Via == viaDevLogin && !s.devAllowed(r, sess.Email) {
		return nil
	}
	v.sess = &sess
	v.id = s.cfg.Resolve(sess.Email, sess.Groups, sess.Via)
	if v.id.Via == "" {
		v.id.Via = sess.Via
	}
	return nil
}

// devAllowed reports whether r may sign in as email through the
// development switcher ("" asks whether the switcher is offered at all).
func (s *Server) devAllowed(r *http.Request, email string) bool {
	if len(s.cfg.DevUsers) == 0 || !loopbackPeer(r.RemoteAddr) {
		return false
	}
	return email == "" || slices.Contains(s.cfg.DevUsers, email)
}

// checkPost refuses a form post that did not come from this site's own
// pages: a cross-origin request (Sec-Fetch-Site, Origin), or one without
// the visitor's CSRF token. Nothing has been changed when it refuses.
func (s *Server) checkPost(w http.ResponseWriter, r *http.Request, v *visitor) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return fmt.Errorf("read form: %w", err)
	}
	if err := s.cop.Check(r); err != nil {
		return fmt.Errorf("cross-origin check: %w", err)
	}
	got := r.PostForm.Get("csrf")
	switch {
	case r.URL.Path == "/login/dev":
		nonce := readCookie(r, secureLoginCookie, loginCookie)
		if nonce == "" || !tokenEqual(got, s.keys.loginToken(nonce)) {
			return errors.New("sign-in form token missing or wrong")
		}
	case r.URL.Path == "/logout" && !v.signedIn():
		// Signing out without a session changes nothing.
	case !v.signedIn():
		return errors.New("not signed in")
	case !tokenEqual(got, s.keys.csrfToken(v)):
		return errors.New("CSRF token missing or wrong")
	}
	return nil
}

// sourceOf says where r came from, for the audit log. The IP is the TCP
// peer's: X-Forwarded-For is not trusted, since anyone can set it.
func sourceOf(r *http.Request) jit.Source {
	src := jit.Source{Kind: "web", UserAgent: truncate(r.UserAgent(), 256)}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		src.IP = host
	} else {
		src.IP = r.RemoteAddr
	}
	return src
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// loopbackPeer reports whether the TCP peer address is a loopback address.
func loopbackPeer(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	return ip.Unmap().IsLoopback()
}

// safeReturn returns s when it is a path on this site to go back to after
// signing in, and "/" otherwise: never another site ("//evil.example",
// "https://...", "/\evil.example", control characters browsers strip),
// never the sign-in flow itself.
func safeReturn(s string) string {
	if s == "" || len(s) > 2048 || !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") {
		return "/"
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f || c == '\\' {
			return "/"
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return "/"
	}
	if u.Path == "/login" || u.Path == "/logout" || strings.HasPrefix(u.Path, "/login/") || strings.HasPrefix(u.Path, "/auth/") {
		return "/"
	}
	return s
}

type loginView struct {
	Return    string
	LoginName string
	HasLogin  bool
	// DevUsers are offered on a development server to loopback visitors.
	DevUsers   []personView
	LoginToken string
	Problem    string
	// Proxy says that authenticators are configured: a proxy signs
	// people in.
	Proxy bool
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	v := visitorFrom(r.Context())
	ret := safeReturn(r.URL.Query().Get("return"))
	if v.signedIn() {
		http.Redirect(w, r, ret, http.StatusSeeOther)
		return
	}
	status, problem := http.StatusOK, ""
	if v.authErr != nil {
		status, problem = statusFor(jit.ErrorCode(v.authErr)), safeMessage(v.authErr)
	}
	s.renderLogin(w, r, status, ret, problem)
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, ret, problem string) {
	lv := &loginView{Return: ret, LoginName: s.cfg.LoginName, HasLogin: s.cfg.Login != nil, Problem: problem,
		Proxy: len(s.cfg.Authenticators) > 0}
	if s.devAllowed(r, "") {
		lv.LoginToken = s.keys.loginToken(s.loginNonce(w, r))
		p := s.svc.Policy()
		for _, u := range s.cfg.DevUsers {
			id := p.Identity(u)
			lv.DevUsers = append(lv.DevUsers, personView{Email: u, Name: p.DisplayName(u), Groups: id.Groups, Admin: id.Admin})
		}
	}
	s.render(w, r, status, "login", &pageData{Title: "Sign in", Path: "/login?return=" + url.QueryEscape(ret), Content: lv})
}

// devLogin signs a loopback visitor of a development server in as one of
// the demo users.
func (s *Server) devLogin(w http.ResponseWriter, r *http.Request) {
	email := r.PostForm.Get("email")
	if !s.devAllowed(r, "") {
		s.errorPage(w, r, http.StatusNotFound, jit.Errorf(jit.ECodeNotFound, "there is no page %s", r.URL.Path))
		return
	}
	if !s.devAllowed(r, email) {
		s.renderLogin(w, r, http.StatusBadRequest, safeReturn(r.PostForm.Get("return")), "choose one of the demo users")
		return
	}
	if err := s.startSession(w, r, email, nil, viaDevLogin); err != nil {
		s.errorPage(w, r, http.StatusInternalServerError, err)
		return
	}
	s.log.InfoContext(r.Context(), "web sign-in", "identity", email, "via", viaDevLogin)
	http.Redirect(w, r, safeReturn(r.PostForm.Get("return")), http.StatusSeeOther)
}

// authStart sends the visitor to the identity provider. It is a link, not
// a form: the CSP's form-action 'self' would stop a form's redirect to the
// provider.
func (s *Server) authStart(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Login == nil {
		s.errorPage(w, r, http.StatusNotFound, jit.Errorf(jit.ECodeNotFound, "sign-in through an identity provider is not configured"))
		return
	}
	s.cfg.Login.Start(w, r, safeReturn(r.URL.Query().Get("return")))
}

// authCallback finishes a sign-in at the identity provider and starts the
// session.
func (s *Server) authCallback(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Login == nil {
		s.errorPage(w, r, http.StatusNotFound, jit.Errorf(jit.ECodeNotFound, "sign-in through an identity provider is not configured"))
		return
	}
	email, groups, ret, err := s.cfg.Login.Finish(w, r)
	email = strings.ToLower(strings.TrimSpace(email))
	if err == nil && email == "" {
		err = errors.New("the identity provider named no email")
	}
	if err != nil {
		s.log.WarnContext(r.Context(), "web sign-in failed", "err", err.Error())
		status, msg := http.StatusUnauthorized, "the sign-in could not be completed; try again"
		var je *jit.Error
		if errors.As(err, &je) {
			status, msg = statusFor(je.Code), je.Message
			if je.Code == jit.ECodeInternal {
				status, msg = http.StatusInternalServerError, "internal error; the server log has the details"
			}
		}
		s.renderLogin(w, r, status, "/", msg)
		return
	}
	if err := s.startSession(w, r, email, groups, viaOIDC); err != nil {
		s.log.ErrorContext(r.Context(), "web session", "err", err.Error())
		s.renderLogin(w, r, http.StatusBadRequest, "/", "your sign-in carries too much to keep in a session (too many groups); ask an administrator")
		return
	}
	s.log.InfoContext(r.Context(), "web sign-in", "identity", email, "via", viaOIDC)
	http.Redirect(w, r, safeReturn(ret), http.StatusSeeOther)
}

// logout ends the session. People a proxy signs in are signed out at the
// proxy, not here.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	s.clearCookie(w, r, sessionCookie, secureSessionCookie)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
