package email

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"net/url"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jitaccess/jit"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

var (
	textTmpl = texttemplate.Must(texttemplate.ParseFS(templateFS, "templates/message.txt.tmpl"))
	htmlTmpl = htmltemplate.Must(htmltemplate.ParseFS(templateFS, "templates/message.html.tmpl"))
)

// Limits on what goes into a Subject: request fields are user input, and
// an overlong one must not make the header unreadable (or exceed the 998
// characters a line may have).
const (
	maxSubjectField = 80
	headerLineWidth = 78
)

// timeLayout is how times are shown in messages (always UTC).
const timeLayout = "2006-01-02 15:04 UTC"

// message is one email to one recipient, ready for DATA.
type message struct {
	to        string
	messageID string
	data      []byte
}

// view is what the templates render.
type view struct {
	Subject  string
	Title    string
	Intro    string
	Facts    []fact
	Link     string
	LinkText string
	Note     string
}

// fact is one labelled value. Lines holds the value's lines (at least
// one); Pre marks code (a query) shown as is, List a list of items.
type fact struct {
	Label string
	Lines []string
	Pre   bool
	List  bool
}

// Block reports whether the value is shown below its label rather than
// next to it.
func (f fact) Block() bool { return f.Pre || f.List || len(f.Lines) > 1 }

// kind is which email a notification becomes.
type kind int

const (
	kindNone kind = iota
	kindApproval
	kindGranted
	kindDenied
	kindFailed
	kindEnded
	kindLapsed
	kindRemind
)

// kindOf decides what, if anything, notification nt is worth an email as.
// Revocations are told once, when the access is actually gone
// (ActionRevokeDone, whose request status says whether it expired, was
// relinquished or was revoked), not when they start (ActionRevoke,
// ActionExpire, ActionRelinquish).
func kindOf(nt jit.Notification) kind {
	r := nt.Request
	switch nt.Action {
	case jit.ActionSubmit, jit.ActionExtend:
		// An automatically approved request is told at grant.
		if r.Status == jit.StatusPending {
			return kindApproval
		}
	case jit.ActionGrant:
		// A grant the policy revoked at once is told when it is gone.
		if r.Status == jit.StatusActive && r.ExpiresAt != nil {
			return kindGranted
		}
	case jit.ActionDeny:
		return kindDenied
	case jit.ActionGrantFailed:
		return kindFailed
	case jit.ActionRevokeDone:
		switch r.Status {
		case jit.StatusExpired, jit.StatusRelinquished, jit.StatusRevoked:
			return kindEnded
		}
		// The cleanup after a failed grant (status failed) was told as
		// the failure.
	case jit.ActionLapse:
		return kindLapsed
	case jit.ActionRemind:
		if r.Status == jit.StatusActive && r.ExpiresAt != nil {
			return kindRemind
		}
	}
	return kindNone
}

// compose returns the messages of nt, one per recipient, and the
// recipients left out because their address is unusable (each a
// permanent failure). An error means nothing can be sent for nt, ever.
func (n *Notifier) compose(nt jit.Notification) ([]message, []error, error) {
	k := kindOf(nt)
	if k == kindNone {
		return nil, nil, nil
	}
	r := nt.Request
	// These fields go into headers (Subject, To); a line break in them
	// would let a requester write headers of their own.
	for _, f := range []struct{ name, value string }{
		{"id", r.ID}, {"requester", r.Requester}, {"resource", r.Resource}, {"access", r.Access},
	} {
		if err := headerSafe(f.value); err != nil {
			return nil, nil, jit.Permanent(fmt.Errorf("email: notification %s: request %s: %s %w", nt.ID, f.name, quoteShort(f.value), err))
		}
	}

	var to []string
	var skipped []error
	if k == kindApproval {
		to, skipped = n.approvers(r)
		if len(to) == 0 && len(skipped) == 0 {
			return nil, nil, jit.Permanent(fmt.Errorf("email: notification %s: request %s has no approver with an email address besides the requester (rule %q)", nt.ID, r.ID, r.Rule))
		}
	} else {
		if err := checkAddress(r.Requester); err != nil {
			return nil, nil, jit.Permanent(fmt.Errorf("email: notification %s: requester %s %w", nt.ID, quoteShort(r.Requester), err))
		}
		to = []string{r.Requester}
	}

	v := n.viewOf(k, nt)
	var text, html bytes.Buffer
	if err := textTmpl.Execute(&text, v); err != nil {
		return nil, nil, jit.Permanent(fmt.Errorf("email: render notification %s: %w", nt.ID, err))
	}
	if err := htmlTmpl.Execute(&html, v); err != nil {
		return nil, nil, jit.Permanent(fmt.Errorf("email: render notification %s: %w", nt.ID, err))
	}
	date := n.cfg.Clock.Now().Format(time.RFC1123Z)
	msgs := make([]message, 0, len(to))
	for _, addr := range to {
		id := n.messageID(nt.ID, addr)
		data, err := n.build(addr, v.Subject, date, id, text.Bytes(), html.Bytes())
		if err != nil {
			return nil, nil, fmt.Errorf("email: build notification %s: %w", nt.ID, err)
		}
		msgs = append(msgs, message{to: addr, messageID: id, data: data})
	}
	return msgs, skipped, nil
}

// approvers returns the distinct approver addresses of r without the
// requester, and an error for each unusable one.
func (n *Notifier) approvers(r jit.Request) ([]string, []error) {
	var out []string
	var bad []error
	seen := map[string]bool{strings.ToLower(r.Requester): true}
	for _, a := range n.cfg.ApproverEmails(r) {
		a = strings.TrimSpace(a)
		key := strings.ToLower(a)
		if a == "" || seen[key] {
			continue
		}
		seen[key] = true
		if err := checkAddress(a); err != nil {
			bad = append(bad, fmt.Errorf("approver %s %w", quoteShort(a), err))
			continue
		}
		out = append(out, a)
	}
	return out, bad
}

// build assembles the RFC 5322 message: headers, then a
// multipart/alternative body with the plain-text and the HTML part, each
// quoted-printable (long lines and any character survive every relay).
func (n *Notifier) build(to, subject, date, messageID string, text, html []byte) ([]byte, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	// "=_" cannot occur in quoted-printable text (a literal "=" is always
	// encoded as "=3D"), so no part can contain the boundary, whatever
	// the request says.
	var rnd [12]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("boundary: %w", err)
	}
	if err := mw.SetBoundary("=_jit_" + hex.EncodeToString(rnd[:])); err != nil {
		return nil, fmt.Errorf("boundary: %w", err)
	}
	for _, p := range []struct {
		ctype string
		data  []byte
	}{{"text/plain; charset=utf-8", text}, {"text/html; charset=utf-8", html}} {
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {p.ctype},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		qw := quotedprintable.NewWriter(pw)
		if _, err := qw.Write(p.data); err != nil {
			return nil, err
		}
		if err := qw.Close(); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}

	var b bytes.Buffer
	header := func(name, value string) { b.WriteString(name + ": " + value + "\r\n") }
	header("From", n.from.String())
	header("To", (&mail.Address{Name: n.displayName(to), Address: to}).String())
	b.WriteString(foldHeader("Subject", encodeSubject(subject)))
	header("Date", date)
	header("Message-ID", messageID)
	// Out-of-office and other automatic replies are not wanted (RFC 3834).
	header("Auto-Submitted", "auto-generated")
	header("MIME-Version", "1.0")
	header("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	b.WriteString("\r\n")
	b.Write(body.Bytes())
	return b.Bytes(), nil
}

// viewOf describes notification nt of kind k for the templates.
func (n *Notifier) viewOf(k kind, nt jit.Notification) view {
	r := nt.Request
	what := r.Access + " on " + r.Resource
	subjWhat := short(r.Access) + " on " + short(r.Resource)
	link := n.baseURL + "/requests/" + url.PathEscape(r.ID)
	v := view{Link: link, LinkText: "Open the request"}
	resource := []fact{line("Resource", r.Resource), line("Access", r.Access)}

	switch k {
	case kindApproval:
		v.LinkText = "Review the request"
		if r.ExtendsID != "" {
			v.Subject = fmt.Sprintf("Approval needed: %s asks to extend %s by %s", short(n.shortName(r.Requester)), subjWhat, duration(r.Duration))
			v.Title = "An extension needs your approval"
			v.Intro = fmt.Sprintf("%s asks to extend their access %s by %s.", n.person(r.Requester), what, duration(r.Duration))
		} else {
			v.Subject = fmt.Sprintf("Approval needed: %s asks for %s for %s", short(n.shortName(r.Requester)), subjWhat, duration(r.Duration))
			v.Title = "A request needs your approval"
			v.Intro = fmt.Sprintf("%s asks for %s for %s.", n.person(r.Requester), what, duration(r.Duration))
		}
		v.Facts = append([]fact{line("Requester", n.person(r.Requester))}, resource...)
		v.Facts = append(v.Facts, line("Duration", duration(r.Duration)))
		if r.ExtendsID != "" {
			v.Facts = append(v.Facts, line("Extends", n.baseURL+"/requests/"+url.PathEscape(r.ExtendsID)))
		}
		v.Facts = appendText(v.Facts, "Reason", r.Reason)
		if r.Target != "" {
			v.Facts = append(v.Facts, line("Target", cleanLine(r.Target)))
			v.Facts = appendText(v.Facts, "Grants", r.TargetSummary)
		}
		if r.SSHPublicKey != "" {
			v.Facts = append(v.Facts, line("SSH key", jit.SSHKeyFingerprint(r.SSHPublicKey)))
		}
		if q := cleanText(r.Query); strings.TrimSpace(q) != "" {
			v.Facts = append(v.Facts, fact{Label: "Query", Lines: strings.Split(q, "\n"), Pre: true})
		}
		if len(r.Privileges) > 0 {
			ps := make([]string, len(r.Privileges))
			for i, p := range r.Privileges {
				ps[i] = cleanLine(p.String())
			}
			v.Facts = append(v.Facts, fact{Label: "Privileges", Lines: ps, List: true})
		}
		v.Facts = append(v.Facts, line("Rule", r.Rule))
		if r.ApprovalsRequired > 1 {
			v.Facts = append(v.Facts, line("Approvals needed", fmt.Sprintf("%d (%d so far)", r.ApprovalsRequired, r.ApprovalCount())))
		}
		if !r.LapsesAt.IsZero() {
			v.Facts = append(v.Facts, line("Lapses at", r.LapsesAt.UTC().Format(timeLayout)))
		}
		v.Note = "You receive this because the rule lets you approve this request. Approve or deny it in jit; replies to this email are not read."

	case kindGranted:
		until := r.ExpiresAt.UTC().Format(timeLayout)
		v.Subject = fmt.Sprintf("Access granted: %s until %s", subjWhat, until)
		v.Title = "Your access is active"
		var by string
		if r.AutoApproved {
			by = "automatically by rule " + r.Rule
		} else {
			var names []string
			seen := map[string]bool{}
			for _, a := range r.Approvals {
				if a.Approved && !seen[a.Approver] {
					seen[a.Approver] = true
					names = append(names, n.person(a.Approver))
				}
			}
			by = "by " + strings.Join(names, ", ")
			if len(names) == 0 {
				by = "by rule " + r.Rule
			}
		}
		if r.ExtendsID != "" {
			v.Intro = fmt.Sprintf("Your extension of %s was approved %s. The access is active until %s.", what, by, until)
		} else {
			v.Intro = fmt.Sprintf("Your request for %s was approved %s. The access is active until %s.", what, by, until)
		}
		v.Facts = append(resource, line("Active until", until))
		v.Facts = appendText(v.Facts, "Your reason", r.Reason)

	case kindDenied:
		by := nt.Actor
		if by == "" {
			by = r.EndedBy
		}
		why := nt.Reason
		if strings.TrimSpace(why) == "" {
			why = r.EndReason
		}
		v.Subject = "Request denied: " + subjWhat
		v.Title = "Your request was denied"
		v.Intro = fmt.Sprintf("Your request for %s was denied by %s.", what, n.person(by))
		v.Facts = appendText(resource, "Reason for the denial", why)
		v.Facts = appendText(v.Facts, "Your reason", r.Reason)

	case kindFailed:
		v.Subject = "Access could not be granted: " + subjWhat
		v.Title = "Your access could not be granted"
		v.Intro = fmt.Sprintf("Your request for %s was approved, but granting the access failed. You hold no access from it; you may file a new request.", what)
		v.Facts = appendText(resource, "What went wrong", r.EndReason)

	case kindEnded:
		v.Facts = resource
		switch r.Status {
		case jit.StatusExpired:
			v.Subject = "Access expired: " + subjWhat
			v.Title = "Your access expired"
			at := ""
			if r.ExpiresAt != nil {
				at = " at " + r.ExpiresAt.UTC().Format(timeLayout)
			}
			v.Intro = fmt.Sprintf("Your access %s expired%s and has been removed.", what, at)
		case jit.StatusRelinquished:
			v.Subject = "Access relinquished: " + subjWhat
			v.Title = "Your access was relinquished"
			v.Intro = fmt.Sprintf("Your access %s was given up early and has been removed.", what)
		default:
			v.Subject = "Access revoked: " + subjWhat
			v.Title = "Your access was revoked"
			v.Intro = fmt.Sprintf("Your access %s was revoked by %s and has been removed.", what, n.person(r.EndedBy))
			v.Facts = appendText(v.Facts, "Reason", r.EndReason)
		}
		if r.EndedAt != nil {
			v.Facts = append(v.Facts, line("Ended at", r.EndedAt.UTC().Format(timeLayout)))
		}

	case kindLapsed:
		v.Subject = "Request lapsed: " + subjWhat
		v.Title = "Your request lapsed"
		v.Intro = fmt.Sprintf("Your request for %s lapsed: nobody decided on it in time. You may file it again.", what)
		v.Facts = resource
		if !r.LapsesAt.IsZero() {
			v.Facts = append(v.Facts, line("Lapsed at", r.LapsesAt.UTC().Format(timeLayout)))
		}
		v.Facts = appendText(v.Facts, "Your reason", r.Reason)

	case kindRemind:
		ends := r.ExpiresAt.UTC().Format(timeLayout)
		v.Subject = fmt.Sprintf("Access ends soon: %s at %s", subjWhat, ends)
		v.Title = "Your access ends soon"
		v.Intro = fmt.Sprintf("Your access to %s ends at %s; extend it at %s", what, ends, link)
		v.LinkText = "Extend the access"
		v.Facts = append(resource, line("Ends at", ends))
	}
	return v
}

// person shows an address with the person's name when it is known.
func (n *Notifier) person(email string) string {
	if email == jit.SystemActor {
		return "jit"
	}
	if name := n.displayName(email); name != "" {
		return name + " (" + cleanLine(email) + ")"
	}
	return cleanLine(email)
}

// shortName is the name of a person if known, else their address.
func (n *Notifier) shortName(email string) string {
	if name := n.displayName(email); name != "" {
		return name
	}
	return email
}

// displayName asks Config.DisplayName, ignoring names with control
// characters (they are not names, and a name goes into headers).
func (n *Notifier) displayName(email string) string {
	if n.cfg.DisplayName == nil {
		return ""
	}
	name := strings.TrimSpace(n.cfg.DisplayName(email))
	if name == "" || !utf8.ValidString(name) || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return ""
	}
	return name
}

// line is a one-line fact.
func line(label, value string) fact {
	return fact{Label: label, Lines: []string{cleanLine(value)}}
}

// appendText adds a free-text fact (a reason) when text is not blank,
// keeping its line breaks.
func appendText(fs []fact, label, text string) []fact {
	t := strings.TrimSpace(cleanText(text))
	if t == "" {
		return fs
	}
	return append(fs, fact{Label: label, Lines: strings.Split(t, "\n")})
}

// cleanText normalises line breaks to "\n" and drops other control
// characters (terminal escapes, NULs) from user text.
func cleanText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return r
		}
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
}

// cleanLine is cleanText for values shown on one line.
func cleanLine(s string) string {
	return strings.ReplaceAll(cleanText(s), "\n", " ")
}

// headerSafe refuses a value with a line break or other control
// character: it is going into a header.
func headerSafe(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("is not valid UTF-8")
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return errors.New("contains a line break or control character; refusing to put it in a mail header")
	}
	return nil
}

// checkAddress accepts a plain address ("bob@example.com") and nothing
// else: no name, no list, no line break.
func checkAddress(s string) error {
	if err := headerSafe(s); err != nil {
		return err
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return errors.New("is not a plain email address")
	}
	return nil
}

// quoteShort quotes a value for an error, cut to a readable length.
func quoteShort(s string) string {
	if len(s) > 64 {
		s = strings.ToValidUTF8(s[:64], "") + "…"
	}
	return fmt.Sprintf("%q", s)
}

// short cuts a subject field to maxSubjectField characters.
func short(s string) string {
	if utf8.RuneCountInString(s) <= maxSubjectField {
		return s
	}
	rs := []rune(s)
	return string(rs[:maxSubjectField-1]) + "…"
}

// duration renders d the way people write it: "1h", "30m", "1h30m".
func duration(d time.Duration) string {
	if d <= 0 {
		return d.String()
	}
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// encodeSubject returns the subject as header text: as is when it is
// plain ASCII, else RFC 2047 Q-encoded (encoded-words of at most 75
// characters, separated by spaces).
func encodeSubject(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if isASCII(s) {
		return s
	}
	return mime.QEncoding.Encode("utf-8", s)
}

// foldHeader writes "name: value" folded at spaces so that lines stay
// within headerLineWidth where a space allows it (RFC 5322 section
// 2.2.3). A first word too long for the name's line goes on the next, so
// that lines with encoded-words stay within RFC 2047's 76 characters.
// value must be single-spaced.
func foldHeader(name, value string) string {
	var b strings.Builder
	words := strings.Split(value, " ")
	cur := name + ": " + words[0]
	if len(cur) > headerLineWidth {
		b.WriteString(name + ":\r\n")
		cur = " " + words[0]
	}
	for _, w := range words[1:] {
		if len(cur)+1+len(w) > headerLineWidth {
			b.WriteString(cur + "\r\n")
			cur = " " + w
		} else {
			cur += " " + w
		}
	}
	b.WriteString(cur + "\r\n")
	return b.String()
}
