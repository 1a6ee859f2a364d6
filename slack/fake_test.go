package slack

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/slack-go/slack/slacktest"
)

// fakeSlack is the Slack Web API for tests: slack-go's slacktest server
// with the methods the app calls answered the way Slack documents them
// (form or JSON in, {"ok": ...} out), and what the app sent kept for
// assertions. It also serves response URLs.
type fakeSlack struct {
	t     *testing.T
	srv   *slacktest.Server
	token string

	mu        sync.Mutex
	users     map[string]fakeUser // Slack user ID → user
	messages  []*fakeMessage      // every posted message, in order
	views     map[string]*fakeView
	opened    []*fakeView // views.open calls, in order
	responses []map[string]any
	calls     map[string]int
	// fail makes a method answer {"ok": false, "error": code}.
	fail  map[string]string
	nextN int
}

type fakeUser struct {
	ID, Email string
	Deleted   bool
	Bot       bool
}

type fakeMessage struct {
	Channel, TS string
	Text        string
	Blocks      string // JSON
	Deleted     bool
	Updates     int
}

type fakeView struct {
	ID, Hash   string
	TriggerID  string
	View       map[string]any
	CallbackID string
}

func newFakeSlack(t *testing.T, token string, users ...fakeUser) *fakeSlack {
	f := &fakeSlack{t: t, token: token, users: map[string]fakeUser{}, views: map[string]*fakeView{},
		calls: map[string]int{}, fail: map[string]string{}}
	for _, u := range users {
		f.users[u.ID] = u
	}
	f.srv = slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/users.info", f.form(f.usersInfo))
		c.Handle("/users.lookupByEmail", f.form(f.usersLookup))
		c.Handle("/conversations.open", f.form(f.conversationsOpen))
		c.Handle("/chat.postMessage", f.form(f.postMessage))
		c.Handle("/chat.update", f.form(f.updateMessage))
		c.Handle("/chat.delete", f.form(f.deleteMessage))
		c.Handle("/views.open", f.json(f.viewsOpen))
		c.Handle("/views.update", f.json(f.viewsUpdate))
		c.Handle("/respond/", f.respond)
	})
	f.srv.Start()
	t.Cleanup(f.srv.Stop)
	return f
}

func (f *fakeSlack) apiURL() string { return f.srv.GetAPIURL() }

func (f *fakeSlack) responseURL() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextN++
	return fmt.Sprintf("%srespond/%d", f.srv.GetAPIURL(), f.nextN)
}

type answer map[string]any

func errAnswer(code string) answer { return answer{"ok": false, "error": code} }

// form serves a form-encoded method; the token is a form field.
func (f *fakeSlack) form(h func(v url.Values) answer) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		method := strings.TrimPrefix(r.URL.Path, "/")
		body, _ := io.ReadAll(r.Body)
		v, err := url.ParseQuery(string(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.answer(w, method, v.Get("token"), func() answer { return h(v) })
	}
}

// json serves a JSON method; the token is a bearer header.
func (f *fakeSlack) json(h func(body map[string]any) answer) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		method := strings.TrimPrefix(r.URL.Path, "/")
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.answer(w, method, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), func() answer { return h(body) })
	}
}

func (f *fakeSlack) answer(w http.ResponseWriter, method, token string, h func() answer) {
	f.mu.Lock()
	f.calls[method]++
	var a answer
	switch {
	case token != f.token:
		a = errAnswer("invalid_auth")
	case f.fail[method] != "":
		a = errAnswer(f.fail[method])
	default:
		a = h()
	}
	f.mu.Unlock()
	if _, ok := a["ok"]; !ok {
		a["ok"] = true
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(a)
}

func (f *fakeSlack) userJSON(u fakeUser) answer {
	return answer{"id": u.ID, "team_id": "T1", "deleted": u.Deleted, "is_bot": u.Bot, "profile": answer{"email": u.Email}}
}

func (f *fakeSlack) usersInfo(v url.Values) answer {
	u, ok := f.users[v.Get("user")]
	if !ok {
		return errAnswer("user_not_found")
	}
	return answer{"user": f.userJSON(u)}
}

func (f *fakeSlack) usersLookup(v url.Values) answer {
	for _, u := range f.users {
		if u.Email != "" && strings.EqualFold(u.Email, v.Get("email")) {
			return answer{"user": f.userJSON(u)}
		}
	}
	return errAnswer("users_not_found")
}

func (f *fakeSlack) conversationsOpen(v url.Values) answer {
	users := v.Get("users")
	if _, ok := f.users[users]; !ok || strings.Contains(users, ",") {
		return errAnswer("user_not_found")
	}
	return answer{"channel": answer{"id": "D" + users}}
}

func (f *fakeSlack) postMessage(v url.Values) answer {
	ch := v.Get("channel")
	if ch == "" {
		return errAnswer("channel_not_found")
	}
	if v.Get("text") == "" && v.Get("blocks") == "" {
		return errAnswer("no_text")
	}
	ts := fmt.Sprintf("1770000000.%06d", len(f.messages)+1)
	f.messages = append(f.messages, &fakeMessage{Channel: ch, TS: ts, Text: v.Get("text"), Blocks: v.Get("blocks")})
	return answer{"channel": ch, "ts": ts}
}

func (f *fakeSlack) find(ch, ts string) *fakeMessage {
	for _, m := range f.messages {
		if m.Channel == ch && m.TS == ts && !m.Deleted {
			return m
		}
	}
	return nil
}

func (f *fakeSlack) updateMessage(v url.Values) answer {
	m := f.find(v.Get("channel"), v.Get("ts"))
	if m == nil {
		return errAnswer("message_not_found")
	}
	m.Text, m.Blocks = v.Get("text"), v.Get("blocks")
	m.Updates++
	return answer{"channel": m.Channel, "ts": m.TS, "text": m.Text}
}

func (f *fakeSlack) deleteMessage(v url.Values) answer {
	m := f.find(v.Get("channel"), v.Get("ts"))
	if m == nil {
		return errAnswer("message_not_found")
	}
	m.Deleted = true
	return answer{"channel": m.Channel, "ts": m.TS}
}

func (f *fakeSlack) viewsOpen(body map[string]any) answer {
	trigger, _ := body["trigger_id"].(string)
	if trigger == "" {
		return errAnswer("invalid_trigger_id")
	}
	for _, v := range f.opened {
		if v.TriggerID == trigger {
			// A trigger opens one view.
			return errAnswer("expired_trigger_id")
		}
	}
	view, _ := body["view"].(map[string]any)
	fv := &fakeView{ID: fmt.Sprintf("V%d", len(f.opened)+1), Hash: "h1", TriggerID: trigger, View: view}
	fv.CallbackID, _ = view["callback_id"].(string)
	f.opened = append(f.opened, fv)
	f.views[fv.ID] = fv
	return answer{"view": f.viewJSON(fv)}
}

func (f *fakeSlack) viewsUpdate(body map[string]any) answer {
	id, _ := body["view_id"].(string)
	fv, ok := f.views[id]
	if !ok {
		return errAnswer("not_found")
	}
	if h, _ := body["hash"].(string); h != "" && h != fv.Hash {
		return errAnswer("hash_conflict")
	}
	fv.View, _ = body["view"].(map[string]any)
	fv.Hash = fv.Hash + "+"
	return answer{"view": f.viewJSON(fv)}
}

func (f *fakeSlack) viewJSON(fv *fakeView) answer {
	out := answer{}
	for k, v := range fv.View {
		out[k] = v
	}
	out["id"], out["hash"] = fv.ID, fv.Hash
	return out
}

func (f *fakeSlack) respond(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.responses = append(f.responses, body)
	f.mu.Unlock()
	_, _ = w.Write([]byte("ok"))
}

// --- what tests read ---

func (f *fakeSlack) count(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

// live returns copies of the messages not deleted in channel ch.
func (f *fakeSlack) live(ch string) []fakeMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeMessage
	for _, m := range f.messages {
		if m.Channel == ch && !m.Deleted {
			out = append(out, *m)
		}
	}
	return out
}

// lastResponse returns the latest response URL message's text and
// blocks as one string, and how many responses there were.
func (f *fakeSlack) lastResponse() (string, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.responses) == 0 {
		return "", 0
	}
	b, _ := json.Marshal(f.responses[len(f.responses)-1])
	return string(b), len(f.responses)
}

func (f *fakeSlack) lastOpened() *fakeView {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.opened) == 0 {
		return nil
	}
	return f.opened[len(f.opened)-1]
}

func (f *fakeSlack) view(id string) fakeView {
	f.mu.Lock()
	defer f.mu.Unlock()
	return *f.views[id]
}

func (f *fakeSlack) setFail(method, code string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if code == "" {
		delete(f.fail, method)
	} else {
		f.fail[method] = code
	}
}

func (f *fakeSlack) setUser(u fakeUser) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users[u.ID] = u
}

// fakeButton is an interactive element of a message.
type fakeButton struct{ ActionID, Value, Text, URL string }

// buttons lists the buttons in blocks JSON.
func buttons(t *testing.T, blocksJSON string) []fakeButton {
	t.Helper()
	var blocks []map[string]any
	if blocksJSON == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(blocksJSON), &blocks); err != nil {
		t.Fatalf("blocks are not JSON: %v\n%s", err, blocksJSON)
	}
	var out []fakeButton
	add := func(e map[string]any) {
		if e["type"] != "button" {
			return
		}
		b := fakeButton{}
		b.ActionID, _ = e["action_id"].(string)
		b.Value, _ = e["value"].(string)
		b.URL, _ = e["url"].(string)
		if txt, ok := e["text"].(map[string]any); ok {
			b.Text, _ = txt["text"].(string)
		}
		out = append(out, b)
	}
	for _, bl := range blocks {
		if els, ok := bl["elements"].([]any); ok && bl["type"] == "actions" {
			for _, e := range els {
				if m, ok := e.(map[string]any); ok {
					add(m)
				}
			}
		}
		if acc, ok := bl["accessory"].(map[string]any); ok {
			add(acc)
		}
	}
	return out
}

func actionIDs(bs []fakeButton) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.ActionID
	}
	return out
}

// unescaped re-encodes JSON without Go's HTML escaping of <, > and &, so
// that tests can look for text as Slack would receive and show it.
func unescaped(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// initial returns the initial value of the input blockID of a view: the
// chosen option's value, or the text.
func initial(view map[string]any, blockID string) string {
	blocks, _ := view["blocks"].([]any)
	for _, b := range blocks {
		m, _ := b.(map[string]any)
		if m["block_id"] != blockID {
			continue
		}
		el, _ := m["element"].(map[string]any)
		if opt, ok := el["initial_option"].(map[string]any); ok {
			s, _ := opt["value"].(string)
			return s
		}
		s, _ := el["initial_value"].(string)
		return s
	}
	return ""
}
