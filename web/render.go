package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/policy"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pageNames are the templates in templates/ that render a whole page; each
// defines "main" and is rendered inside layout.html.
var pageNames = []string{"access", "approvals", "activity", "detail", "audit", "policy", "login", "error"}

type pages struct{ byName map[string]*template.Template }

var funcs = template.FuncMap{
	"when":     formatTime,
	"iso":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"dur":      policy.FormatDuration,
	"approver": approverText,
	"statusClass": func(s jit.Status) string {
		switch {
		case s == jit.StatusActive:
			return "st-active"
		case s == jit.StatusPending || s == jit.StatusApproved || s == jit.StatusGranting:
			return "st-pending"
		case s == jit.StatusRevoking:
			return "st-ending"
		case s == jit.StatusFailed || s == jit.StatusDenied || s == jit.StatusRevoked:
			return "st-bad"
		}
		return "st-ended"
	},
	"actionText": actionText,
	"join":       strings.Join,
	"privilege":  func(p jit.Privilege) string { return p.String() },
	"sshkey":     jit.SSHKeyFingerprint,
	"card": func(p *pageData, v reqView, mode string) cardData {
		return cardData{P: p, V: v, Mode: mode}
	},
}

// cardData is what the "card" template renders: one request on a page.
type cardData struct {
	P    *pageData
	V    reqView
	Mode string
}

func parsePages() (*pages, error) {
	base, err := template.New("layout").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html")
	if err != nil {
		return nil, err
	}
	pg := &pages{byName: map[string]*template.Template{}}
	for _, name := range pageNames {
		t, err := base.Clone()
		if err != nil {
			return nil, err
		}
		if _, err := t.ParseFS(templateFS, "templates/"+name+".html"); err != nil {
			return nil, err
		}
		pg.byName[name] = t
	}
	return pg, nil
}

// asset is one embedded static file with its content hash, which versions
// its URL so that it can be cached for good.
type asset struct {
	body        []byte
	contentType string
	hash        string
}

type assets struct{ byName map[string]asset }

func loadAssets() (*assets, error) {
	as := &assets{byName: map[string]asset{}}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		ct := map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}[path.Ext(p)]
		if ct == "" {
			return fmt.Errorf("static file %s has no known content type", p)
		}
		sum := sha256.Sum256(b)
		as.byName[path.Base(p)] = asset{body: b, contentType: ct, hash: hex.EncodeToString(sum[:8])}
		return nil
	})
	return as, err
}

// url is the versioned URL of the named asset.
func (as *assets) url(name string) string { return "/static/" + name + "?v=" + as.byName[name].hash }

func (s *Server) static(w http.ResponseWriter, r *http.Request) {
	a, ok := s.assets.byName[r.PathValue("name")]
	if !ok {
		s.errorPage(w, r, http.StatusNotFound, jit.Errorf(jit.ECodeNotFound, "there is no file %s", r.URL.Path))
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("ETag", `"`+a.hash+`"`)
	if r.URL.Query().Get("v") == a.hash {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	if r.Header.Get("If-None-Match") == `"`+a.hash+`"` {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	_, _ = w.Write(a.body)
}

// pageData is what layout.html renders around a page.
type pageData struct {
	Title string
	// Nav is the current section of the navigation ("access", ...).
	Nav string
	Me  *meView
	// CSRF is the token every POST form carries.
	CSRF string
	// Dev marks a development server.
	Dev      bool
	CSS, JS  string
	HomeHref string
	// Live makes the page follow /events; LiveRequest limits the refresh
	// to changes of one request.
	Live        bool
	LiveRequest string
	// LiveMark is the change mark taken before the page was built; the
	// page's stream reloads at once when anything changed since.
	LiveMark string
	// Notice is a short confirmation of the last action.
	Notice *notice
	// Failed is an action on a request the service just refused.
	Failed *actionError
	// Path is the page's own path and query, where action forms return.
	Path    string
	Content any
}

type meView struct {
	Email, Name string
	Admin       bool
	// Approver is true for people who could approve under some rule
	// (admins included): they see the Activity page.
	Approver bool
	// CanLogout is false for people a proxy signs in.
	CanLogout bool
}

type notice struct {
	Text string
	ID   string
}

// personView shows a person: their name from the policy, when it gives
// one, and their email.
type personView struct {
	Email, Name string
	Groups      []string
	Admin       bool
}

func (s *Server) person(p *policy.Policy, email string) personView {
	return personView{Email: email, Name: p.DisplayName(email)}
}

// render executes page name into a buffer (so that a template error never
// leaves half a page) and writes it.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, pd *pageData) {
	v := visitorFrom(r.Context())
	pd.Dev = len(s.cfg.DevUsers) > 0
	pd.CSS, pd.JS = s.assets.url("app.css"), s.assets.url("app.js")
	if pd.Path == "" && r.Method == http.MethodGet {
		// Pages answering a post keep no path: scripts then leave the
		// address alone rather than point it at the post's URL.
		pd.Path = r.URL.RequestURI()
	}
	if strings.HasPrefix(pd.Path, "//") {
		pd.Path = "/"
	}
	if v.signedIn() {
		p := s.svc.Policy()
		pd.Me = &meView{Email: v.id.Email, Name: p.DisplayName(v.id.Email), Admin: v.id.Admin,
			Approver: v.id.Admin || p.MayApprove(v.id), CanLogout: v.sess != nil}
		pd.CSRF = s.keys.csrfToken(v)
	}
	if pd.Notice == nil {
		pd.Notice = noticeFrom(r)
	}
	pd.LiveMark = v.mark
	var buf bytes.Buffer
	t := s.pages.byName[name]
	if t == nil {
		s.log.ErrorContext(r.Context(), "web: no such page template", "name", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if err := t.ExecuteTemplate(&buf, "layout", pd); err != nil {
		s.log.ErrorContext(r.Context(), "web: render page", "page", name, "err", err.Error())
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type errorView struct {
	Status  int
	Title   string
	Code    string
	Message string
}

// errorPage shows err: its code and safe message for a *jit.Error, a
// generic text for anything else, which is logged instead.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, err error) {
	code := jit.ErrorCode(err)
	if code == jit.ECodeInternal || code == jit.ECodeUnavailable || status >= 500 {
		s.log.ErrorContext(r.Context(), "web request failed", "method", r.Method, "path", r.URL.Path, "code", code, "err", err.Error())
	}
	if status == 0 {
		status = statusFor(code)
	}
	s.render(w, r, status, "error", &pageData{Title: http.StatusText(status),
		Content: &errorView{Status: status, Title: http.StatusText(status), Code: code, Message: safeMessage(err)}})
}

// fail shows the error page for an error from the service.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return // the visitor went away
	}
	s.errorPage(w, r, statusFor(jit.ErrorCode(err)), err)
}

// safeMessage is the text a visitor may see for err.
func safeMessage(err error) string {
	var je *jit.Error
	if errors.As(err, &je) {
		if je.Code == jit.ECodeInternal {
			return "internal error; the server log has the details"
		}
		return je.Message
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "the server did not answer in time; try again"
	}
	return "internal error; the server log has the details"
}

// statusFor is the HTTP status of an error code, as the API answers it.
func statusFor(code string) int { return jit.HTTPStatus(code) }

// formErrors are the problems of one form: a summary and a message per
// field, shown next to the field.
type formErrors struct {
	Code    string
	Message string
	Fields  map[string]string
}

// For returns the message about field, or "".
func (f *formErrors) For(field string) string {
	if f == nil {
		return ""
	}
	return f.Fields[field]
}

// fieldByCode is the field a refusal is about when the error does not say.
var fieldByCode = map[string]string{
	jit.ECodeUnknownResource:   "resource",
	jit.ECodeNotAllowed:        "resource",
	jit.ECodeUnknownAccess:     "access",
	jit.ECodeInvalidDur:        "duration",
	jit.ECodeDurationTooLong:   "duration",
	jit.ECodeJustificationNeed: "reason",
	jit.ECodeJustificationBad:  "reason",
	jit.ECodeReasonNeeded:      "reason",
	jit.ECodeQueryRefused:      "query",
	jit.ECodeRefused:           "target",
}

// formErrorsFor places err on one of fields (the error's own Field, or the
// field its code concerns); an error about none of them is the summary
// only.
func formErrorsFor(err error, fields ...string) *formErrors {
	fe := &formErrors{Code: jit.ErrorCode(err), Message: safeMessage(err), Fields: map[string]string{}}
	var je *jit.Error
	field := ""
	if errors.As(err, &je) {
		field = je.Field
		if !containsStr(fields, field) {
			field = fieldByCode[je.Code]
		}
	}
	if containsStr(fields, field) {
		fe.Fields[field] = fe.Message
	}
	return fe
}

func containsStr(list []string, s string) bool {
	for _, v := range list {
		if v == s && s != "" {
			return true
		}
	}
	return false
}

func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// approverText says who an approver entry of a rule is, in words.
func approverText(a string) string {
	switch {
	case a == "peers":
		return "peers (others who may request it)"
	case strings.HasPrefix(a, "group:"):
		return "group " + strings.TrimPrefix(a, "group:")
	case strings.HasPrefix(a, "user:"):
		return strings.TrimPrefix(a, "user:")
	}
	return a
}

// approversText lists approver entries in words.
func approversText(as []string) string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = approverText(a)
	}
	return strings.Join(out, ", ")
}

// actionText says what an audit action did, in words.
func actionText(a string) string {
	if t, ok := actionWords[a]; ok {
		return t
	}
	return strings.ReplaceAll(a, "_", " ")
}

var actionWords = map[string]string{
	jit.ActionSubmit:       "requested access",
	jit.ActionApprove:      "approved",
	jit.ActionDeny:         "denied",
	jit.ActionCancel:       "cancelled",
	jit.ActionLapse:        "lapsed without a decision",
	jit.ActionAutoApprove:  "approved automatically",
	jit.ActionGrantStart:   "started granting access",
	jit.ActionGrant:        "granted access",
	jit.ActionGrantRetry:   "will retry the grant",
	jit.ActionGrantFailed:  "failed to grant access",
	jit.ActionRelinquish:   "relinquished access",
	jit.ActionRevoke:       "revoked access",
	jit.ActionExpire:       "ended access on expiry",
	jit.ActionRevokeDone:   "removed the access",
	jit.ActionRevokeRetry:  "will retry removing the access",
	jit.ActionOverdue:      "reports the removal is overdue",
	jit.ActionExtend:       "asked for more time",
	jit.ActionPolicyReload: "reloaded the policy",
	jit.ActionPolicyError:  "refused a policy change",
	jit.ActionTokenCreate:  "created an API token",
	jit.ActionKeyRegister:  "registered a public key",
	jit.ActionDrift:        "found drift",
}

// leftText says how much time is left until t, to the minute.
func leftText(now, t time.Time) string {
	d := t.Sub(now)
	if d <= 0 {
		return "expiring now"
	}
	d = d.Round(time.Second)
	h, m, sec := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	switch {
	case h > 0:
		return fmt.Sprintf("%dh %dm left", h, m)
	case m > 0:
		return fmt.Sprintf("%dm %ds left", m, sec)
	}
	return fmt.Sprintf("%ds left", sec)
}
