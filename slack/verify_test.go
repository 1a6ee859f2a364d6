package slack

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Slack's documented example: the signing secret, timestamp, body and the
// signature Slack computed for them.
func TestSignMatchesSlacksExample(t *testing.T) {
	secret := []byte("8f742231b10e8888abcd99yyyzzz85a5")
	body := "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	got := Sign(secret, time.Unix(1531420618, 0), []byte(body))
	want := "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
	if got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestVerifier(t *testing.T) {
	secret := []byte(testSecret)
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	body := "command=%2Fjit&text=help&user_id=UALICE"
	type req struct {
		body    string
		ts      string
		sig     string
		headers bool
	}
	good := func(at time.Time, b string) req {
		return req{body: b, ts: fmt.Sprint(at.Unix()), sig: Sign(secret, at, []byte(b)), headers: true}
	}
	tests := []struct {
		name string
		reqs []req
		// ok says which of reqs pass.
		ok []bool
	}{
		{"signed now", []req{good(now, body)}, []bool{true}},
		{"signed 4m59s ago", []req{good(now.Add(-4*time.Minute-59*time.Second), body)}, []bool{true}},
		{"signed 5m1s ago (stale)", []req{good(now.Add(-5*time.Minute-time.Second), body)}, []bool{false}},
		{"signed 6m ahead", []req{good(now.Add(6*time.Minute), body)}, []bool{false}},
		{"no headers", []req{{body: body}}, []bool{false}},
		{"timestamp not a number", []req{{body: body, ts: "soon", sig: Sign(secret, now, []byte(body)), headers: true}}, []bool{false}},
		{"wrong secret", []req{{body: body, ts: fmt.Sprint(now.Unix()), sig: Sign([]byte("another secret"), now, []byte(body)), headers: true}}, []bool{false}},
		{"body changed", []req{{body: body + "&x=1", ts: fmt.Sprint(now.Unix()), sig: Sign(secret, now, []byte(body)), headers: true}}, []bool{false}},
		{"timestamp changed", []req{{body: body, ts: fmt.Sprint(now.Unix() - 1), sig: Sign(secret, now, []byte(body)), headers: true}}, []bool{false}},
		{"signature not hex", []req{{body: body, ts: fmt.Sprint(now.Unix()), sig: "v0=zz", headers: true}}, []bool{false}},
		{"v1 scheme", []req{{body: body, ts: fmt.Sprint(now.Unix()), sig: "v1=" + strings.TrimPrefix(Sign(secret, now, []byte(body)), "v0="), headers: true}}, []bool{false}},
		{"replayed", []req{good(now, body), good(now, body)}, []bool{true, false}},
		{"same body signed at another second (a retry)", []req{good(now, body), good(now.Add(-time.Second), body)}, []bool{true, true}},
		{"too large", []req{good(now, body+"&pad="+strings.Repeat("a", 2048))}, []bool{false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := NewVerifier(secret, &testClock{t: now}, 1024, nil)
			reached := 0
			h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if err := r.ParseForm(); err != nil {
					t.Errorf("verified body unreadable: %v", err)
				}
				reached++
				w.WriteHeader(http.StatusNoContent)
			}))
			for i, rq := range tt.reqs {
				r := httptest.NewRequest(http.MethodPost, "/slack/commands", strings.NewReader(rq.body))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if rq.headers {
					r.Header.Set("X-Slack-Request-Timestamp", rq.ts)
					r.Header.Set("X-Slack-Signature", rq.sig)
				}
				w := httptest.NewRecorder()
				before := reached
				h.ServeHTTP(w, r)
				if tt.ok[i] {
					if w.Code != http.StatusNoContent || reached != before+1 {
						t.Errorf("request %d: status %d, want it passed on", i, w.Code)
					}
					continue
				}
				if w.Code != http.StatusUnauthorized || reached != before {
					t.Errorf("request %d: status %d (handler reached: %v), want 401 and not passed on", i, w.Code, reached != before)
				}
				if w.Body.Len() != 0 {
					t.Errorf("request %d: refusal has a body %q; it must say nothing", i, w.Body.String())
				}
			}
		})
	}
}

// The verifier forgets signatures once they left the window, and a
// request from then is refused as stale anyway.
func TestVerifierForgetsOldSignatures(t *testing.T) {
	clk := &testClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	v := NewVerifier([]byte(testSecret), clk, 0, nil)
	send := func(at time.Time, body string) int {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.Header.Set("X-Slack-Request-Timestamp", fmt.Sprint(at.Unix()))
		r.Header.Set("X-Slack-Signature", Sign([]byte(testSecret), at, []byte(body)))
		if _, err := v.Verify(r); err != nil {
			return http.StatusUnauthorized
		}
		return http.StatusOK
	}
	for i := range 5 {
		if got := send(clk.Now(), url.Values{"n": {fmt.Sprint(i)}}.Encode()); got != http.StatusOK {
			t.Fatalf("request %d refused", i)
		}
	}
	first := clk.Now()
	clk.Advance(11 * time.Minute)
	if got := send(clk.Now(), "later=1"); got != http.StatusOK {
		t.Fatal("fresh request refused")
	}
	v.mu.Lock()
	n := len(v.seen)
	v.mu.Unlock()
	if n != 1 {
		t.Errorf("verifier remembers %d signatures after the window passed, want 1", n)
	}
	if got := send(first, "n=0"); got != http.StatusUnauthorized {
		t.Error("a request from before the window was accepted")
	}
}
