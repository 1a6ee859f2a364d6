package awstest

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

const iamNamespace = "https://iam.amazonaws.com/doc/2010-05-08/"

// IAM quotas the server enforces on one principal's inline policies,
// counted without whitespace.
const (
	userInlineQuota = 2048
	roleInlineQuota = 10240
)

// IAM is the IAM API for users, roles and their inline policies.
type IAM struct {
	srv *httptest.Server

	mu sync.Mutex
	// PageSize bounds the items of one list page (default 2), so that
	// clients must follow Marker.
	PageSize int
	// repeatMarker: see RepeatMarkers.
	repeatMarker bool
	users        map[string]*principal
	roles        map[string]*principal
	failures     map[string][]string
	calls        map[string]int
}

type principal struct {
	name, path string
	policies   map[string]string
}

// NewIAM starts a server; it stops when the test ends.
func NewIAM(t testing.TB) *IAM {
	s := &IAM{PageSize: 2, users: map[string]*principal{}, roles: map[string]*principal{}, failures: map[string][]string{}, calls: map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the endpoint.
func (s *IAM) URL() string { return s.srv.URL }

// AddUser creates an IAM user under path ("/" when empty).
func (s *IAM) AddUser(name, path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[name] = &principal{name: name, path: orRoot(path), policies: map[string]string{}}
}

// AddRole creates an IAM role under path ("/" when empty).
func (s *IAM) AddRole(name, path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.roles[name] = &principal{name: name, path: orRoot(path), policies: map[string]string{}}
}

func orRoot(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

func (s *IAM) kind(k string) map[string]*principal {
	if k == "user" {
		return s.users
	}
	return s.roles
}

// Policy returns an inline policy document of a "user" or "role".
func (s *IAM) Policy(kind, name, policy string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.kind(kind)[name]
	if !ok {
		return "", false
	}
	doc, ok := p.policies[policy]
	return doc, ok
}

// Policies lists the inline policy names of a "user" or "role".
func (s *IAM) Policies(kind, name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.kind(kind)[name]
	if !ok {
		return nil
	}
	var out []string
	for n := range p.policies {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// SetPolicy puts an inline policy directly, as a person would.
func (s *IAM) SetPolicy(kind, name, policy, doc string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kind(kind)[name].policies[policy] = doc
}

// RepeatMarkers makes the server answer every list page asked for with
// a Marker as truncated, with that same Marker, as a faulty server
// might: a client that follows it asks for the same page for ever.
func (s *IAM) RepeatMarkers() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repeatMarker = true
}

// Calls is how many times an action was called.
func (s *IAM) Calls(action string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[action]
}

// FailNext makes the next call of action answer the error code.
func (s *IAM) FailNext(action, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[action] = append(s.failures[action], code)
}

type xmlError struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	Type      string   `xml:"Error>Type"`
	Code      string   `xml:"Error>Code"`
	Message   string   `xml:"Error>Message"`
	RequestID string   `xml:"RequestId"`
}

func writeXMLError(w http.ResponseWriter, e *apiError) {
	kind := "Sender"
	if e.status >= 500 {
		kind = "Receiver"
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(e.status)
	_ = xml.NewEncoder(w).Encode(xmlError{Xmlns: iamNamespace, Type: kind, Code: e.code, Message: e.msg, RequestID: "req-0"})
}

// writeResult writes <ActionResponse><ActionResult>inner</ActionResult>
// <ResponseMetadata/></ActionResponse>; inner is already-escaped XML.
func writeResult(w http.ResponseWriter, action, inner string) {
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<%sResponse xmlns="%s">`, action, iamNamespace)
	if inner != "" {
		fmt.Fprintf(w, "<%sResult>%s</%sResult>", action, inner, action)
	}
	fmt.Fprintf(w, "<ResponseMetadata><RequestId>req-0</RequestId></ResponseMetadata></%sResponse>", action)
}

func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

var (
	iamName    = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	policyName = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)
	isoDate    = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$`)
)

func (s *IAM) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		writeXMLError(w, errf(400, "InvalidAction", "want a form-encoded POST"))
		return
	}
	if err := checkSignature(r, body, "iam"); err != nil {
		writeXMLError(w, errf(403, "SignatureDoesNotMatch", "%v", err))
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("Version") != "2010-05-08" {
		writeXMLError(w, errf(400, "InvalidParameterValue", "bad form or Version"))
		return
	}
	action := form.Get("Action")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[action]++
	if codes := s.failures[action]; len(codes) > 0 {
		s.failures[action] = codes[1:]
		writeXMLError(w, errf(400, codes[0], "injected"))
		return
	}
	inner, aerr := s.do(action, form)
	if aerr != nil {
		writeXMLError(w, aerr)
		return
	}
	writeResult(w, action, inner)
}

// target finds the principal an action names ("PutUserPolicy" reads
// UserName, "PutRolePolicy" RoleName).
func (s *IAM) target(action string, form url.Values) (*principal, string, *apiError) {
	kind, key := "role", "RoleName"
	if strings.Contains(action, "User") {
		kind, key = "user", "UserName"
	}
	name := form.Get(key)
	if !iamName.MatchString(name) {
		return nil, kind, errf(400, "ValidationError", "%s is not a valid name", key)
	}
	p, ok := s.kind(kind)[name]
	if !ok {
		return nil, kind, errf(404, "NoSuchEntity", "The %s with name %s cannot be found.", kind, name)
	}
	return p, kind, nil
}

func compactLen(doc string) int {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(doc)); err != nil {
		return len(doc)
	}
	return b.Len()
}

// checkDocument refuses what IAM refuses as MalformedPolicyDocument: not
// a JSON object, no Statement, a statement without Effect or Action, a
// Principal, or a DateLessThan that is not a date.
func checkDocument(doc string) *apiError {
	var m map[string]any
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		return errf(400, "MalformedPolicyDocument", "Syntax errors in policy.")
	}
	var stmts []any
	switch st := m["Statement"].(type) {
	case []any:
		stmts = st
	case map[string]any:
		stmts = []any{st}
	default:
		return errf(400, "MalformedPolicyDocument", "Policy document must contain Statement.")
	}
	for _, x := range stmts {
		st, ok := x.(map[string]any)
		if !ok {
			return errf(400, "MalformedPolicyDocument", "Statement must be an object.")
		}
		if st["Effect"] != "Allow" && st["Effect"] != "Deny" {
			return errf(400, "MalformedPolicyDocument", "Invalid effect.")
		}
		if st["Action"] == nil && st["NotAction"] == nil {
			return errf(400, "MalformedPolicyDocument", "Policy statement must contain actions.")
		}
		if st["Principal"] != nil || st["NotPrincipal"] != nil {
			return errf(400, "MalformedPolicyDocument", "Policy document should not specify a principal.")
		}
		cond, _ := st["Condition"].(map[string]any)
		for op, keys := range cond {
			if !strings.HasPrefix(op, "Date") {
				continue
			}
			km, _ := keys.(map[string]any)
			for _, v := range km {
				if sv, ok := v.(string); ok && !isoDate.MatchString(sv) {
					return errf(400, "MalformedPolicyDocument", "The policy failed legacy parsing")
				}
			}
		}
	}
	return nil
}

func (s *IAM) do(action string, form url.Values) (string, *apiError) {
	switch action {
	case "PutUserPolicy", "PutRolePolicy":
		p, kind, aerr := s.target(action, form)
		if aerr != nil {
			return "", aerr
		}
		name, doc := form.Get("PolicyName"), form.Get("PolicyDocument")
		if !policyName.MatchString(name) {
			return "", errf(400, "ValidationError", "PolicyName is not valid")
		}
		if aerr := checkDocument(doc); aerr != nil {
			return "", aerr
		}
		quota := roleInlineQuota
		if kind == "user" {
			quota = userInlineQuota
		}
		total := compactLen(doc)
		for n, d := range p.policies {
			if n != name {
				total += compactLen(d)
			}
		}
		if total > quota {
			return "", errf(409, "LimitExceeded", "Maximum policy size of %d bytes exceeded for %s %s", quota, kind, p.name)
		}
		p.policies[name] = doc
		return "", nil
	case "GetUserPolicy", "GetRolePolicy":
		p, kind, aerr := s.target(action, form)
		if aerr != nil {
			return "", aerr
		}
		name := form.Get("PolicyName")
		doc, ok := p.policies[name]
		if !ok {
			return "", errf(404, "NoSuchEntity", "The %s policy with name %s cannot be found.", kind, name)
		}
		key := "RoleName"
		if kind == "user" {
			key = "UserName"
		}
		// IAM returns documents URL-encoded (RFC 3986).
		enc := strings.ReplaceAll(url.QueryEscape(doc), "+", "%20")
		return fmt.Sprintf("<%s>%s</%s><PolicyName>%s</PolicyName><PolicyDocument>%s</PolicyDocument>", key, esc(p.name), key, esc(name), esc(enc)), nil
	case "DeleteUserPolicy", "DeleteRolePolicy":
		p, kind, aerr := s.target(action, form)
		if aerr != nil {
			return "", aerr
		}
		name := form.Get("PolicyName")
		if _, ok := p.policies[name]; !ok {
			return "", errf(404, "NoSuchEntity", "The %s policy with name %s cannot be found.", kind, name)
		}
		delete(p.policies, name)
		return "", nil
	case "ListUserPolicies", "ListRolePolicies":
		p, _, aerr := s.target(action, form)
		if aerr != nil {
			return "", aerr
		}
		var names []string
		for n := range p.policies {
			names = append(names, n)
		}
		sort.Strings(names)
		return s.page(form, "PolicyNames", names, func(n string) string { return "<member>" + esc(n) + "</member>" })
	case "GetUser", "GetRole":
		p, kind, aerr := s.target(action, form)
		if aerr != nil {
			return "", aerr
		}
		return principalXML(kind, p), nil
	case "ListUsers", "ListRoles":
		kind := "role"
		if action == "ListUsers" {
			kind = "user"
		}
		prefix := orRoot(form.Get("PathPrefix"))
		var names []string
		for n, p := range s.kind(kind) {
			if strings.HasPrefix(p.path, prefix) {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		key := "Roles"
		if kind == "user" {
			key = "Users"
		}
		m := s.kind(kind)
		return s.page(form, key, names, func(n string) string {
			return "<member>" + principalFields(kind, m[n]) + "</member>"
		})
	}
	return "", errf(400, "InvalidAction", "action %s is not served", action)
}

func titled(kind string) string {
	if kind == "user" {
		return "User"
	}
	return "Role"
}

func principalFields(kind string, p *principal) string {
	t := titled(kind)
	arn := fmt.Sprintf("arn:aws:iam::111122223333:%s%s%s", kind, p.path, p.name)
	return fmt.Sprintf("<Path>%s</Path><%sName>%s</%sName><%sId>AID%s</%sId><Arn>%s</Arn><CreateDate>2024-01-01T00:00:00Z</CreateDate>",
		esc(p.path), t, esc(p.name), t, t, strings.ToUpper(fmt.Sprintf("%x", p.name)), t, esc(arn))
}

func principalXML(kind string, p *principal) string {
	t := titled(kind)
	return "<" + t + ">" + principalFields(kind, p) + "</" + t + ">"
}

// page writes one page of items; Marker is the next offset.
func (s *IAM) page(form url.Values, key string, items []string, item func(string) string) (string, *apiError) {
	start := 0
	if m := form.Get("Marker"); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil || n < 0 || n > len(items) {
			return "", errf(400, "ValidationError", "bad Marker")
		}
		start = n
	}
	size := s.PageSize
	if mi, err := strconv.Atoi(form.Get("MaxItems")); err == nil && mi > 0 && mi < size {
		size = mi
	}
	end := min(start+size, len(items))
	var b strings.Builder
	b.WriteString("<" + key + ">")
	for _, n := range items[start:end] {
		b.WriteString(item(n))
	}
	b.WriteString("</" + key + ">")
	if m := form.Get("Marker"); m != "" && s.repeatMarker {
		fmt.Fprintf(&b, "<IsTruncated>true</IsTruncated><Marker>%s</Marker>", esc(m))
	} else if end < len(items) {
		fmt.Fprintf(&b, "<IsTruncated>true</IsTruncated><Marker>%d</Marker>", end)
	} else {
		b.WriteString("<IsTruncated>false</IsTruncated>")
	}
	return b.String(), nil
}
