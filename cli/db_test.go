package cli

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/credential"
	"github.com/jitaccess/jit/store/postgres/pgtest"
)

// secret is a password with every character a shell or a URL cares about.
const secret = `s3cr'et "pa$$ \wo` + "`rd`" + ` @:/?#%&`

func pgCredential() jit.CredentialPayload {
	return jit.CredentialPayload{Kind: credential.KindPassword, Secret: secret, Info: map[string]string{
		"dialect": "postgres", "host": "db.example.com", "port": "5433", "database": "orders", "user": "jit_alice_1", "sslmode": "require"}}
}

func myCredential() jit.CredentialPayload {
	return jit.CredentialPayload{Kind: credential.KindPassword, Secret: secret, Info: map[string]string{
		"dialect": "mariadb", "host": "10.0.0.7", "port": "3306", "database": "shop", "user": "jit_alice_2"}}
}

func sealed(t *testing.T, id *age.X25519Identity, reqID string, p jit.CredentialPayload) jit.CredentialEnvelope {
	t.Helper()
	env, err := credential.Seal(id.Recipient().String(), p)
	if err != nil {
		t.Fatal(err)
	}
	return jit.CredentialEnvelope{RequestID: reqID, Recipient: id.Recipient().String(), Kind: p.Kind, Envelope: env, CreatedAt: t0}
}

// dbRequest is an active request on demo-db.
func dbRequest(id, access, query string) *jit.Request {
	r := activeRequest()
	r.ID, r.Resource, r.Access, r.Query = id, "demo-db", access, query
	if query != "" {
		r.Privileges = []jit.Privilege{{Action: "UPDATE", Schema: "public", Table: "orders", Columns: []string{"total"}}}
	}
	return r
}

func page(rs ...*jit.Request) map[string]any {
	if rs == nil {
		rs = []*jit.Request{}
	}
	return map[string]any{"items": rs}
}

// dbEnv is a logged-in environment with a key pair.
func dbEnv(t *testing.T, f *fakeAPI) (*env, *age.X25519Identity) {
	e := newEnv(t, map[string]string{"JIT_SERVER": f.srv.URL, "JIT_TOKEN": "dev-alice"})
	return e, e.withKey(t)
}

func TestDBEnv(t *testing.T) {
	f := newFakeAPI(t, nil)
	e, id := dbEnv(t, f)
	tests := []struct {
		name  string
		p     jit.CredentialPayload
		sh    string
		json  map[string]string
		check string // a shell expression whose value after eval must be secret
	}{
		{
			name: "postgres", p: pgCredential(),
			sh: "export PGHOST='db.example.com'\nexport PGPORT='5433'\nexport PGDATABASE='orders'\nexport PGUSER='jit_alice_1'\n" +
				"export PGPASSWORD='s3cr'\\''et \"pa$$ \\wo`rd` @:/?#%&'\nexport PGSSLMODE='require'\n",
			json:  map[string]string{"PGHOST": "db.example.com", "PGPORT": "5433", "PGDATABASE": "orders", "PGUSER": "jit_alice_1", "PGPASSWORD": secret, "PGSSLMODE": "require"},
			check: "$PGPASSWORD",
		},
		{
			name: "mariadb", p: myCredential(),
			sh: "export MYSQL_HOST='10.0.0.7'\nexport MYSQL_TCP_PORT='3306'\n" +
				"export MYSQL_PWD='s3cr'\\''et \"pa$$ \\wo`rd` @:/?#%&'\n" +
				"# connect with: mysql -h 10.0.0.7 -P 3306 --protocol=TCP -u jit_alice_2 -D shop\n",
			json:  map[string]string{"MYSQL_HOST": "10.0.0.7", "MYSQL_TCP_PORT": "3306", "MYSQL_PWD": secret},
			check: "$MYSQL_PWD",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.setRoutes(map[string][]answer{"GET /requests/req_1/credential": {{JSON: sealed(t, id, "req_1", tt.p)}}})
			res := e.run(t, "db", "env", "req_1")
			if res.code != 0 || res.stderr != "" {
				t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
			}
			if res.stdout != tt.sh {
				t.Errorf("stdout\n%s\nwant\n%s", res.stdout, tt.sh)
			}
			// A real shell reads the values back exactly.
			if sh, err := exec.LookPath("sh"); err == nil {
				out, err := exec.Command(sh, "-c", res.stdout+"\nprintf '%s' \""+tt.check+"\"").Output()
				if err != nil || string(out) != secret {
					t.Errorf("sh read back %q, %v; want %q", out, err, secret)
				}
			}
			for _, args := range [][]string{{"db", "env", "req_1", "--format", "json"}, {"db", "env", "req_1", "-o", "json"}} {
				res = e.run(t, args...)
				if res.code != 0 {
					t.Fatalf("%v: exit %d, stderr %q", args, res.code, res.stderr)
				}
				sameJSON(t, res.stdout, tt.json)
			}
		})
	}
	t.Run("bad format", func(t *testing.T) {
		res := e.run(t, "db", "env", "req_1", "--format", "yaml")
		if res.code != 2 || !strings.HasPrefix(res.stderr, "jit: --format must be sh or json") {
			t.Errorf("exit %d, stderr %q", res.code, res.stderr)
		}
	})
}

func TestDBURL(t *testing.T) {
	f := newFakeAPI(t, nil)
	e, id := dbEnv(t, f)
	for p, want := range map[*jit.CredentialPayload]string{
		ptrTo(pgCredential()): "postgres://jit_alice_1:s3cr%27et%20%22pa$$%20%5Cwo%60rd%60%20%40%3A%2F%3F%23%25&@db.example.com:5433/orders?sslmode=require",
		ptrTo(myCredential()): "mysql://jit_alice_2:s3cr%27et%20%22pa$$%20%5Cwo%60rd%60%20%40%3A%2F%3F%23%25&@10.0.0.7:3306/shop",
	} {
		f.setRoutes(map[string][]answer{"GET /requests/req_1/credential": {{JSON: sealed(t, id, "req_1", *p)}}})
		res := e.run(t, "db", "url", "req_1")
		if res.code != 0 || res.stdout != want+"\n" {
			t.Errorf("exit %d, stdout %q, stderr %q; want %q", res.code, res.stdout, res.stderr, want)
		}
		u, err := url.Parse(want)
		if err != nil {
			t.Fatal(err)
		}
		if pw, _ := u.User.Password(); pw != secret {
			t.Errorf("the URL's password reads back as %q", pw)
		}
	}
}

// setRoutes replaces the fake's answers between runs.
func (f *fakeAPI) setRoutes(routes map[string][]answer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes = routes
}

func ptrTo[T any](v T) *T { return &v }

func TestDBCredentialProblems(t *testing.T) {
	other, err := credential.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("no key", func(t *testing.T) {
		f := newFakeAPI(t, nil)
		e := newEnv(t, map[string]string{"JIT_SERVER": f.srv.URL, "JIT_TOKEN": "dev-alice"})
		for _, args := range [][]string{{"db", "env", "req_1"}, {"db", "url", "req_1"}} {
			res := e.run(t, args...)
			want := "jit: no key for receiving credentials on this machine (" + e.identityFile() + "): run 'jit login' to make one\n"
			if res.code != 1 || res.stderr != want {
				t.Errorf("%v: exit %d, stderr %q, want %q", args, res.code, res.stderr, want)
			}
		}
		if n := len(f.allCalls()); n != 0 {
			t.Errorf("%d calls without a key", n)
		}
	})
	t.Run("sealed to another key", func(t *testing.T) {
		f := newFakeAPI(t, nil)
		e, id := dbEnv(t, f)
		f.setRoutes(map[string][]answer{"GET /requests/req_1/credential": {{JSON: sealed(t, other, "req_1", pgCredential())}}})
		res := e.run(t, "db", "env", "req_1")
		want := "jit: " + credential.ErrWrongKey.Error() + " (it is for " + other.Recipient().String() + "; the key here is " + id.Recipient().String() + ")\n"
		if res.code != 1 || res.stderr != want {
			t.Errorf("exit %d, stderr %q, want %q", res.code, res.stderr, want)
		}
	})
	t.Run("sealed to another key, recipient not named", func(t *testing.T) {
		f := newFakeAPI(t, nil)
		e, _ := dbEnv(t, f)
		env := sealed(t, other, "req_1", pgCredential())
		env.Recipient = ""
		f.setRoutes(map[string][]answer{"GET /requests/req_1/credential": {{JSON: env}}})
		res := e.run(t, "db", "url", "req_1")
		if want := "jit: " + credential.ErrWrongKey.Error() + "\n"; res.code != 1 || res.stderr != want {
			t.Errorf("exit %d, stderr %q, want %q", res.code, res.stderr, want)
		}
	})
	for _, tt := range []struct {
		name   string
		answer answer
		want   string
	}{
		{"none issued", answer{Status: 404, Code: "not_found", Detail: "request req_1 has no credential"},
			"jit: not_found: request req_1 has no credential (a credential exists only for database access granted after you registered a key with 'jit login')\n"},
		{"not active", answer{Status: 409, Code: "not_active", Detail: "access req_1 has ended"}, "jit: not_active: access req_1 has ended\n"},
		{"someone else's", answer{Status: 403, Code: "forbidden", Detail: "only the requester may read a credential"}, "jit: forbidden: only the requester may read a credential\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, map[string][]answer{"GET /requests/req_1/credential": {tt.answer}})
			e, _ := dbEnv(t, f)
			res := e.run(t, "db", "env", "req_1")
			if res.code != 1 || res.stderr != tt.want {
				t.Errorf("exit %d, stderr %q, want %q", res.code, res.stderr, tt.want)
			}
		})
	}
	t.Run("not a database credential", func(t *testing.T) {
		f := newFakeAPI(t, nil)
		e, id := dbEnv(t, f)
		f.setRoutes(map[string][]answer{"GET /requests/req_1/credential": {{JSON: sealed(t, id, "req_1", jit.CredentialPayload{Kind: "ssh-certificate", Secret: "cert"})}}})
		res := e.run(t, "db", "env", "req_1")
		if want := "jit: credential of kind \"ssh-certificate\" is not a database password\n"; res.code != 1 || res.stderr != want {
			t.Errorf("exit %d, stderr %q, want %q", res.code, res.stderr, want)
		}
	})
}

// fakeClient writes a stand-in for psql or mysql that records its
// environment and arguments in dir and exits with code.
func fakeClient(t *testing.T, code int) (path, dir string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the stand-in client is a shell script")
	}
	dir = t.TempDir()
	path = filepath.Join(dir, "client")
	script := "#!/bin/sh\n" +
		"env > " + shQuote(filepath.Join(dir, "env")) + "\n" +
		": > " + shQuote(filepath.Join(dir, "args")) + "\n" +
		"for a in \"$@\"; do printf '%s\\n' \"$a\" >> " + shQuote(filepath.Join(dir, "args")) + "; done\n" +
		"echo 'client ran'\n" +
		"exit " + string(rune('0'+code)) + "\n"
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return path, dir
}

// ran reads what the stand-in client recorded.
func ran(t *testing.T, dir string) (env map[string]string, args []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "env"))
	if err != nil {
		t.Fatalf("the client did not run: %v", err)
	}
	env = map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			env[k] = v
		}
	}
	a, err := os.ReadFile(filepath.Join(dir, "args"))
	if err != nil {
		t.Fatal(err)
	}
	if s := strings.TrimSuffix(string(a), "\n"); s != "" {
		args = strings.Split(s, "\n")
	}
	return env, args
}

// noSecretOutside checks that the password reached the client only
// through its environment.
func noSecretOutside(t *testing.T, res result, dir string) {
	t.Helper()
	a, _ := os.ReadFile(filepath.Join(dir, "args"))
	for what, s := range map[string]string{"arguments": string(a), "stdout": res.stdout, "stderr": res.stderr} {
		if strings.Contains(s, "s3cr'et") {
			t.Errorf("the password is in the client's %s", what)
		}
	}
}

func TestPsqlReusesActiveAccess(t *testing.T) {
	bin, dir := fakeClient(t, 0)
	f := newFakeAPI(t, nil)
	e, id := dbEnv(t, f)
	e.vars["JIT_PSQL"] = bin
	f.setRoutes(map[string][]answer{
		"GET /requests": {{JSON: page(
			dbRequest("req_9", "admin", ""),
			dbRequest("req_8", "read", "UPDATE orders SET total = 0"),
			dbRequest("req_7", "read", ""),
		)}},
		"GET /requests/req_7/credential": {{JSON: sealed(t, id, "req_7", pgCredential())}},
	})
	res := e.run(t, "psql", "demo-db", "--access", "read", "--", "-c", "select 1", "--no-psqlrc")
	if res.code != 0 {
		t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
	}
	if res.stdout != "client ran\n" {
		t.Errorf("stdout %q", res.stdout)
	}
	if want := "jit: using your active access req_7 (expires in 42m)\n"; res.stderr != want {
		t.Errorf("stderr %q, want %q", res.stderr, want)
	}
	env, args := ran(t, dir)
	if want := []string{"-c", "select 1", "--no-psqlrc"}; !reflect.DeepEqual(args, want) {
		t.Errorf("client arguments %q, want %q", args, want)
	}
	for k, v := range map[string]string{"PGHOST": "db.example.com", "PGPORT": "5433", "PGDATABASE": "orders", "PGUSER": "jit_alice_1", "PGPASSWORD": secret, "PGSSLMODE": "require"} {
		if env[k] != v {
			t.Errorf("client env %s=%q, want %q", k, env[k], v)
		}
	}
	noSecretOutside(t, res, dir)
	calls := f.allCalls()
	if len(calls) != 2 {
		t.Fatalf("%d calls, want the list and the credential", len(calls))
	}
	if want := (url.Values{"scope": {"mine"}, "status": {"active"}, "resource": {"demo-db"}}); !reflect.DeepEqual(calls[0].Query, want) {
		t.Errorf("list query %v, want %v", calls[0].Query, want)
	}
}

func TestPsqlReuseMatching(t *testing.T) {
	expired := dbRequest("req_old", "read", "")
	expired.ExpiresAt = ptr(t0.Add(-time.Minute))
	tests := []struct {
		name  string
		args  []string
		items []*jit.Request
		want  string // the request used; "" files a new one
	}{
		{"any level without --access", nil, []*jit.Request{dbRequest("req_8", "read", "SELECT 1"), dbRequest("req_7", "admin", "")}, "req_7"},
		{"same query", []string{"--query", "UPDATE orders SET total = 0"}, []*jit.Request{dbRequest("req_7", "read", ""), dbRequest("req_8", "", "UPDATE orders SET total = 0")}, "req_8"},
		{"other query", []string{"--query", "DELETE FROM orders"}, []*jit.Request{dbRequest("req_8", "", "UPDATE orders SET total = 0")}, ""},
		{"other level", []string{"--access", "admin"}, []*jit.Request{dbRequest("req_7", "read", "")}, ""},
		{"query grant is not a level grant", []string{"--access", "read"}, []*jit.Request{dbRequest("req_8", "read", "SELECT 1")}, ""},
		{"expired", nil, []*jit.Request{expired}, ""},
		{"none", nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bin, dir := fakeClient(t, 0)
			f := newFakeAPI(t, nil)
			e, id := dbEnv(t, f)
			e.vars["JIT_PSQL"] = bin
			newReq := dbRequest("req_new", "read", "")
			f.setRoutes(map[string][]answer{
				"GET /requests":                            {{JSON: page(tt.items...)}},
				"GET /me/public-key":                       {{JSON: jit.PublicKey{Key: id.Recipient().String()}}},
				"POST /requests":                           {{Status: 201, JSON: newReq}},
				"GET /requests/" + tt.want + "/credential": {{JSON: sealed(t, id, tt.want, pgCredential())}},
				"GET /requests/req_new/credential":         {{JSON: sealed(t, id, "req_new", pgCredential())}},
			})
			res := e.run(t, append([]string{"psql", "demo-db", "--reason", "INC-42"}, tt.args...)...)
			if res.code != 0 {
				t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
			}
			ran(t, dir)
			var got string
			for _, c := range f.allCalls() {
				if strings.HasSuffix(c.Path, "/credential") {
					got = strings.TrimSuffix(strings.TrimPrefix(c.Path, "/requests/"), "/credential")
				}
			}
			want := tt.want
			if want == "" {
				want = "req_new"
			}
			if got != want {
				t.Errorf("used %s, want %s", got, want)
			}
		})
	}
}

func TestPsqlRequestsAndWaits(t *testing.T) {
	bin, dir := fakeClient(t, 0)
	f := newFakeAPI(t, nil)
	e, id := dbEnv(t, f)
	pending := withStatus(dbRequest("req_7", "", "UPDATE orders SET total = 0 WHERE id = 7"), jit.StatusPending)
	pending.Approvals, pending.GrantedAt, pending.ExpiresAt = nil, nil, nil
	approved := withStatus(dbRequest("req_7", "", pending.Query), jit.StatusApproved)
	active := dbRequest("req_7", "", pending.Query)
	f.setRoutes(map[string][]answer{
		"GET /requests":                  {{JSON: page()}},
		"GET /me/public-key":             {{Status: 404, Code: "not_found", Detail: "no public key"}},
		"PUT /me/public-key":             {{JSON: jit.PublicKey{Key: id.Recipient().String()}}},
		"POST /requests":                 {{Status: 201, JSON: pending}},
		"GET /requests/req_7":            {{JSON: approved}, {JSON: active}},
		"GET /requests/req_7/credential": {{JSON: sealed(t, id, "req_7", pgCredential())}},
	})
	res := e.run(t, "psql", "demo-db", "--query", pending.Query, "--for", "30m", "--reason", "INC-42", "--bin", bin)
	if res.code != 0 {
		t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
	}
	// stdout is the client's alone; progress is on stderr.
	if res.stdout != "client ran\n" {
		t.Errorf("stdout %q", res.stdout)
	}
	wantErr := "req_7 pending — waiting for 1 approval from group:sre\n" +
		"req_7 approved — approved by bob@example.com; access is being granted\n" +
		"req_7 active — expires in 42m\n"
	if res.stderr != wantErr {
		t.Errorf("stderr\n%s\nwant\n%s", res.stderr, wantErr)
	}
	var submit, register seen
	for _, c := range f.allCalls() {
		switch c.Method + " " + c.Path {
		case "POST /requests":
			submit = c
		case "PUT /me/public-key":
			register = c
		}
	}
	if want := map[string]any{"resource": "demo-db", "duration": "30m", "reason": "INC-42", "query": pending.Query}; !reflect.DeepEqual(submit.Body, want) {
		t.Errorf("submitted %v, want %v", submit.Body, want)
	}
	// With no key on the server, this machine's key is registered before
	// the request is filed, so that the credential can be read here.
	if register.Body["public_key"] != id.Recipient().String() {
		t.Errorf("registered %v", register.Body)
	}
	env, args := ran(t, dir)
	if len(args) != 0 || env["PGPASSWORD"] != secret {
		t.Errorf("client ran with args %q, PGPASSWORD %q", args, env["PGPASSWORD"])
	}
	noSecretOutside(t, res, dir)
}

func TestPsqlRefusals(t *testing.T) {
	bin, dir := fakeClient(t, 0)
	other, _ := credential.GenerateIdentity()
	denied := withStatus(dbRequest("req_7", "read", ""), jit.StatusDenied)
	denied.EndedBy, denied.EndReason = "bob@example.com", "not now"
	tests := []struct {
		name   string
		args   []string
		routes func(id *age.X25519Identity) map[string][]answer
		code   int
		stderr string
	}{
		{name: "two resources", args: []string{"other-db"}, code: 2},
		{name: "server has another key", routes: func(id *age.X25519Identity) map[string][]answer {
			return map[string][]answer{
				"GET /requests":      {{JSON: page()}},
				"GET /me/public-key": {{JSON: jit.PublicKey{Key: other.Recipient().String()}}},
			}
		}, code: 1},
		{name: "denied", routes: func(id *age.X25519Identity) map[string][]answer {
			return map[string][]answer{
				"GET /requests":       {{JSON: page()}},
				"GET /me/public-key":  {{JSON: jit.PublicKey{Key: id.Recipient().String()}}},
				"POST /requests":      {{Status: 201, JSON: withStatus(denied, jit.StatusPending)}},
				"GET /requests/req_7": {{JSON: denied}},
			}
		}, code: 1},
		{name: "mysql database", routes: func(id *age.X25519Identity) map[string][]answer {
			return map[string][]answer{
				"GET /requests":                  {{JSON: page(dbRequest("req_7", "read", ""))}},
				"GET /requests/req_7/credential": {{JSON: sealed(t, id, "req_7", myCredential())}},
			}
		}, code: 1, stderr: "jit: using your active access req_7 (expires in 42m)\njit: demo-db is a mariadb database: use 'jit mysql'\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, nil)
			e, id := dbEnv(t, f)
			e.vars["JIT_PSQL"] = bin
			if tt.routes != nil {
				f.setRoutes(tt.routes(id))
			}
			res := e.run(t, append([]string{"psql", "demo-db", "--reason", "INC-42"}, tt.args...)...)
			if res.code != tt.code {
				t.Errorf("exit %d, want %d; stderr %q", res.code, tt.code, res.stderr)
			}
			if tt.stderr != "" && res.stderr != tt.stderr {
				t.Errorf("stderr %q, want %q", res.stderr, tt.stderr)
			}
			if _, err := os.Stat(filepath.Join(dir, "env")); err == nil {
				t.Error("the client ran")
			}
		})
	}
	t.Run("no client binary", func(t *testing.T) {
		f := newFakeAPI(t, nil)
		e, _ := dbEnv(t, f)
		res := e.run(t, "psql", "demo-db", "--bin", filepath.Join(t.TempDir(), "no-such-psql"))
		if res.code != 1 || !strings.Contains(res.stderr, "cannot run psql") || !strings.Contains(res.stderr, "$JIT_PSQL") {
			t.Errorf("exit %d, stderr %q", res.code, res.stderr)
		}
		if n := len(f.allCalls()); n != 0 {
			t.Errorf("%d calls before finding the client", n)
		}
	})
}

func TestClientExitStatusPropagates(t *testing.T) {
	bin, _ := fakeClient(t, 3)
	f := newFakeAPI(t, nil)
	e, id := dbEnv(t, f)
	e.vars["JIT_PSQL"] = bin
	f.setRoutes(map[string][]answer{
		"GET /requests":                  {{JSON: page(dbRequest("req_7", "read", ""))}},
		"GET /requests/req_7/credential": {{JSON: sealed(t, id, "req_7", pgCredential())}},
	})
	res := e.run(t, "psql", "demo-db")
	if res.code != 3 || !strings.HasSuffix(res.stderr, "jit: psql exited with status 3\n") {
		t.Errorf("exit %d, stderr %q; want 3", res.code, res.stderr)
	}
}

func TestMysqlArguments(t *testing.T) {
	bin, dir := fakeClient(t, 0)
	f := newFakeAPI(t, nil)
	e, id := dbEnv(t, f)
	e.vars["JIT_MYSQL"] = bin
	f.setRoutes(map[string][]answer{
		"GET /requests":                  {{JSON: page(dbRequest("req_7", "read", ""))}},
		"GET /requests/req_7/credential": {{JSON: sealed(t, id, "req_7", myCredential())}},
	})
	res := e.run(t, "mysql", "demo-db", "--access", "read", "--", "-e", "select 1")
	if res.code != 0 {
		t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
	}
	env, args := ran(t, dir)
	want := []string{"-h", "10.0.0.7", "-P", "3306", "--protocol=TCP", "-u", "jit_alice_2", "-D", "shop", "-e", "select 1"}
	if !reflect.DeepEqual(args, want) {
		t.Errorf("client arguments %q, want %q", args, want)
	}
	if env["MYSQL_PWD"] != secret || env["MYSQL_HOST"] != "10.0.0.7" || env["MYSQL_TCP_PORT"] != "3306" {
		t.Errorf("client env MYSQL_PWD=%q MYSQL_HOST=%q MYSQL_TCP_PORT=%q", env["MYSQL_PWD"], env["MYSQL_HOST"], env["MYSQL_TCP_PORT"])
	}
	noSecretOutside(t, res, dir)
}

func TestClientEnv(t *testing.T) {
	base := []string{"HOME=/home/a", "PGSERVICE=prod", "PGHOSTADDR=10.9.9.9", "PGPASSWORD=old", "PGSSLMODE=verify-full", "PATH=/bin"}
	got := clientEnv(base, psqlClient.managed, []string{"PGHOST=h", "PGPASSWORD=new"})
	want := []string{"HOME=/home/a", "PGSSLMODE=verify-full", "PATH=/bin", "PGHOST=h", "PGPASSWORD=new"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("clientEnv = %q, want %q", got, want)
	}
	// The credential's own sslmode wins over the environment's.
	got = clientEnv(base, psqlClient.managed, []string{"PGHOST=h", "PGSSLMODE=require"})
	if slices.Contains(got, "PGSSLMODE=verify-full") || !slices.Contains(got, "PGSSLMODE=require") {
		t.Errorf("clientEnv = %q", got)
	}
}

func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// TestPsqlRealClient runs the real psql against the test PostgreSQL server
// as a role made for the test, with nothing but the credential to go on.
func TestPsqlRealClient(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	if _, err := exec.LookPath("psql"); err != nil {
		t.Skip("psql is not on PATH")
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("%s is not a URL: %v", pgtest.EnvURL, err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	role := "jit_cli_" + randomHex(t)
	if _, err := conn.Exec(ctx, "CREATE ROLE "+pgx.Identifier{role}.Sanitize()+" LOGIN PASSWORD "+quoteLiteral(secret)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			t.Errorf("drop role %s: %v", role, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP ROLE IF EXISTS "+pgx.Identifier{role}.Sanitize()); err != nil {
			t.Errorf("drop role %s: %v", role, err)
		}
	})
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		host, port = u.Hostname(), "5432"
	}
	p := jit.CredentialPayload{Kind: credential.KindPassword, Secret: secret, Info: map[string]string{
		"dialect": "postgres", "host": host, "port": port, "database": strings.TrimPrefix(u.Path, "/"), "user": role,
		"sslmode": u.Query().Get("sslmode")}}
	if p.Info["sslmode"] == "" {
		delete(p.Info, "sslmode")
	}
	f := newFakeAPI(t, nil)
	e, id := dbEnv(t, f)
	f.setRoutes(map[string][]answer{
		"GET /requests":                  {{JSON: page(dbRequest("req_7", "read", ""))}},
		"GET /requests/req_7/credential": {{JSON: sealed(t, id, "req_7", p)}},
	})
	res := e.run(t, "psql", "demo-db", "--", "-X", "-A", "-t", "-c", "select current_user || ' ' || current_database()")
	if res.code != 0 {
		t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
	}
	if want := role + " " + p.Info["database"] + "\n"; res.stdout != want {
		t.Errorf("psql printed %q, want %q", res.stdout, want)
	}
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// TestMysqlRealClient runs the real mysql client against the test MariaDB
// server as a user made for the test: the server checks the password, so
// this proves MYSQL_PWD reached the client.
func TestMysqlRealClient(t *testing.T) {
	dsn := os.Getenv("JIT_TEST_MYSQL_DSN")
	if dsn == "" {
		msg := "set JIT_TEST_MYSQL_DSN (e.g. root@tcp(127.0.0.1:3306)/test) to run the MySQL tests"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if _, err := exec.LookPath("mysql"); err != nil {
		t.Skip("mysql is not on PATH")
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("JIT_TEST_MYSQL_DSN: %v", err)
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	name := "jit_cli_" + randomHex(t)
	ident := "`" + name + "`"
	account := "'" + name + "'@'%'"
	for _, stmt := range []string{
		"CREATE DATABASE " + ident,
		"CREATE USER " + account + " IDENTIFIED BY " + mysqlLiteral(secret),
		"GRANT SELECT ON " + ident + ".* TO " + account,
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", strings.Fields(stmt)[0], err)
		}
	}
	t.Cleanup(func() {
		db, err := sql.Open("mysql", dsn)
		if err != nil {
			t.Error(err)
			return
		}
		defer db.Close()
		for _, stmt := range []string{"DROP USER IF EXISTS " + account, "DROP DATABASE IF EXISTS " + ident} {
			if _, err := db.Exec(stmt); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		t.Fatalf("JIT_TEST_MYSQL_DSN address %q: %v", cfg.Addr, err)
	}
	p := jit.CredentialPayload{Kind: credential.KindPassword, Secret: secret, Info: map[string]string{
		"dialect": "mariadb", "host": host, "port": port, "database": name, "user": name}}
	f := newFakeAPI(t, nil)
	e, id := dbEnv(t, f)
	f.setRoutes(map[string][]answer{
		"GET /requests":                  {{JSON: page(dbRequest("req_7", "read", ""))}},
		"GET /requests/req_7/credential": {{JSON: sealed(t, id, "req_7", p)}},
	})
	res := e.run(t, "mysql", "demo-db", "--", "-N", "-B", "-e", "select current_user(), database()")
	if res.code != 0 {
		t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
	}
	if want := name + "@%\t" + name + "\n"; res.stdout != want {
		t.Errorf("mysql printed %q, want %q", res.stdout, want)
	}

	// A wrong password is refused by the server: the password used above
	// was really the credential's.
	p.Secret = "wrong"
	f.setRoutes(map[string][]answer{
		"GET /requests":                  {{JSON: page(dbRequest("req_7", "read", ""))}},
		"GET /requests/req_7/credential": {{JSON: sealed(t, id, "req_7", p)}},
	})
	res = e.run(t, "mysql", "demo-db", "--", "-N", "-B", "-e", "select 1")
	if res.code == 0 || !strings.Contains(res.stderr, "Access denied") {
		t.Errorf("wrong password: exit %d, stderr %q", res.code, res.stderr)
	}
}

func mysqlLiteral(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, "'", "''").Replace(s) + "'"
}

func TestQueryScopedRequestAndShow(t *testing.T) {
	r := withStatus(dbRequest("req_8", "write", "UPDATE orders\n  SET total = 0 WHERE id = 7"), jit.StatusPending)
	r.Approvals, r.GrantedAt, r.ExpiresAt = nil, nil, nil
	r.Privileges = []jit.Privilege{
		{Action: "SELECT", Schema: "public", Table: "orders", Columns: []string{"id"}},
		{Action: "UPDATE", Schema: "public", Table: "orders", Columns: []string{"total"}},
	}
	f := newFakeAPI(t, map[string][]answer{
		"POST /requests":      {{Status: 201, JSON: r}},
		"GET /requests/req_8": {{JSON: r}},
	})
	e := newEnv(t, map[string]string{"JIT_SERVER": f.srv.URL, "JIT_TOKEN": "dev-alice"})
	res := e.run(t, "request", "demo-db", "--query", r.Query, "--reason", "INC-42")
	if res.code != 0 {
		t.Fatalf("request: exit %d, stderr %q", res.code, res.stderr)
	}
	if want := map[string]any{"resource": "demo-db", "duration": "1h", "reason": "INC-42", "query": r.Query}; !reflect.DeepEqual(f.allCalls()[0].Body, want) {
		t.Errorf("submitted %v, want %v", f.allCalls()[0].Body, want)
	}
	res = e.run(t, "show", "req_8")
	if res.code != 0 {
		t.Fatalf("show: exit %d, stderr %q", res.code, res.stderr)
	}
	want := "Resource:    demo-db\n" +
		"Access:      write\n" +
		"Query:       UPDATE orders   SET total = 0 WHERE id = 7\n" +
		"Privileges:  SELECT on public.orders (id)\n" +
		"             UPDATE on public.orders (total)\n" +
		"Duration:    1h\n"
	if !strings.Contains(res.stdout, want) {
		t.Errorf("show printed\n%s\nwant it to contain\n%s", res.stdout, want)
	}
}
