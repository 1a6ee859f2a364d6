package credential

import (
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/jitaccess/jit"
)

func pgPayload() jit.CredentialPayload {
	return jit.CredentialPayload{Kind: KindPassword, Secret: "pa'ss wo\"rd$`\\@:/?#%",
		Info: map[string]string{InfoDialect: DialectPostgres, InfoHost: "db.example.com", InfoPort: "5433",
			InfoDatabase: "orders", InfoUser: "jit_alice_1a2b", InfoSSLMode: "verify-full"}}
}

func myPayload() jit.CredentialPayload {
	return jit.CredentialPayload{Kind: KindPassword, Secret: "p@ss:w/rd",
		Info: map[string]string{InfoDialect: DialectMariaDB, InfoHost: "10.0.0.7", InfoPort: "3306",
			InfoDatabase: "shop", InfoUser: "jit_bob"}}
}

func TestSealOpenRoundTrip(t *testing.T) {
	id := newIdentity(t)
	for _, p := range []jit.CredentialPayload{
		pgPayload(), myPayload(),
		{Kind: "ssh-certificate", Secret: strings.Repeat("x", 10000)},
		{Kind: KindPassword, Secret: ""},
		{Kind: KindPassword, Secret: "ünïcødé 🔑\x00\n", Info: map[string]string{"a": "b"}},
	} {
		env, err := Seal(id.Recipient().String(), p)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(env, "-----BEGIN AGE ENCRYPTED FILE-----\n") || !strings.HasSuffix(env, "-----END AGE ENCRYPTED FILE-----\n") {
			t.Errorf("envelope is not ASCII-armored:\n%s", env)
		}
		if p.Secret != "" && strings.Contains(env, p.Secret) {
			t.Error("the envelope contains the secret in clear")
		}
		got, err := Open(id, env)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Errorf("round trip: got %+v, want %+v", got, p)
		}
	}
}

func TestSealIsRandomised(t *testing.T) {
	id := newIdentity(t)
	a, err := Seal(id.Recipient().String(), pgPayload())
	if err != nil {
		t.Fatal(err)
	}
	b, err := Seal(id.Recipient().String(), pgPayload())
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Error("two seals of one payload are identical")
	}
}

func TestSealRefusesBadRecipient(t *testing.T) {
	id := newIdentity(t)
	for _, r := range []string{"", id.String(), "age1nope"} {
		if _, err := Seal(r, pgPayload()); jit.ErrorCode(err) != CodeInvalidPublicKey {
			t.Errorf("Seal to %q: %v, want code %s", r, err, CodeInvalidPublicKey)
		}
	}
}

func TestOpenWithAnotherKey(t *testing.T) {
	owner, other := newIdentity(t), newIdentity(t)
	env, err := Seal(owner.Recipient().String(), pgPayload())
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(other, env)
	if !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Open with another key: %v, want ErrWrongKey", err)
	}
	if want := "this credential was encrypted to a different key; run `jit login` on the machine holding the key you registered, or ask for new access"; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
}

func TestOpenDamaged(t *testing.T) {
	id := newIdentity(t)
	env, err := Seal(id.Recipient().String(), pgPayload())
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(env, "\n")
	// Flip one character of the payload (the last body line before the
	// footer): the authentication check must catch it.
	body := []byte(lines[len(lines)-3])
	if body[0] == 'A' {
		body[0] = 'B'
	} else {
		body[0] = 'A'
	}
	tampered := strings.Join(append(append(append([]string{}, lines[:len(lines)-3]...), string(body)), lines[len(lines)-2:]...), "\n")

	notCredential, err := Seal(id.Recipient().String(), jit.CredentialPayload{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, env string
	}{
		{"empty", ""},
		{"not armored", "hello"},
		{"truncated", env[:len(env)/2]},
		{"tampered", tampered},
		{"trailing data", env + "more"},
		{"too large", strings.Repeat("A", maxEnvelopeBytes+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(id, tt.env)
			if err == nil {
				t.Fatal("Open accepted it")
			}
			if errors.Is(err, ErrWrongKey) {
				t.Errorf("damage reported as a wrong key: %v", err)
			}
		})
	}
	// A well-formed envelope of an empty payload opens: checking the
	// payload is for Env and URL.
	if p, err := Open(id, notCredential); err != nil || p.Kind != "" {
		t.Errorf("Open(empty payload) = %+v, %v", p, err)
	}
	if _, err := Open(nil, env); err == nil {
		t.Error("Open with no key succeeded")
	}
}

// TestOpenNonJSONPayload encrypts something that is not a payload with age
// directly: Open must refuse it without repeating the plaintext.
func TestOpenNonJSONPayload(t *testing.T) {
	id := newIdentity(t)
	var b strings.Builder
	aw := armor.NewWriter(&b)
	w, err := age.Encrypt(aw, id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write([]byte("top secret, not JSON"))
	_ = w.Close()
	_ = aw.Close()
	_, err = Open(id, b.String())
	if err == nil || strings.Contains(err.Error(), "top secret") {
		t.Errorf("Open = %v", err)
	}
}

func FuzzOpen(f *testing.F) {
	id := newIdentity(f)
	env, err := Seal(id.Recipient().String(), pgPayload())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(env)
	f.Add(env[:len(env)/2])
	f.Add("")
	f.Add("-----BEGIN AGE ENCRYPTED FILE-----\n-----END AGE ENCRYPTED FILE-----\n")
	f.Add("-----BEGIN AGE ENCRYPTED FILE-----\nYWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOQ==\n-----END AGE ENCRYPTED FILE-----\n")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Open(id, s)
		if err != nil {
			return
		}
		// Whatever opened must be usable by the helpers without a panic.
		_, _ = Env(p)
		_, _ = URL(p)
		_, _ = ClientArgs(p)
	})
}

func TestEnv(t *testing.T) {
	tests := []struct {
		name string
		p    jit.CredentialPayload
		want []string
	}{
		{"postgres", pgPayload(), []string{
			"PGHOST=db.example.com", "PGPORT=5433", "PGDATABASE=orders", "PGUSER=jit_alice_1a2b",
			"PGPASSWORD=" + pgPayload().Secret, "PGSSLMODE=verify-full",
		}},
		{"postgres minimal", jit.CredentialPayload{Kind: KindPassword, Secret: "pw",
			Info: map[string]string{InfoDialect: "postgresql", InfoHost: "::1", InfoUser: "u"}},
			[]string{"PGHOST=::1", "PGUSER=u", "PGPASSWORD=pw"}},
		{"mariadb", myPayload(), []string{"MYSQL_HOST=10.0.0.7", "MYSQL_TCP_PORT=3306", "MYSQL_PWD=p@ss:w/rd"}},
		{"mysql empty password", jit.CredentialPayload{Kind: KindPassword,
			Info: map[string]string{InfoDialect: DialectMySQL, InfoHost: "localhost", InfoUser: "root"}},
			[]string{"MYSQL_HOST=localhost", "MYSQL_PWD="}},
	}
	for _, tt := range tests {
		got, err := Env(tt.p)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: Env = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestClientArgs(t *testing.T) {
	if got, err := ClientArgs(pgPayload()); err != nil || got != nil {
		t.Errorf("postgres: %q, %v; want none", got, err)
	}
	got, err := ClientArgs(myPayload())
	want := []string{"-h", "10.0.0.7", "-P", "3306", "--protocol=TCP", "-u", "jit_bob", "-D", "shop"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("mariadb: %q, %v; want %q", got, err, want)
	}
	for _, a := range got {
		if strings.Contains(a, myPayload().Secret) {
			t.Errorf("the password is among the arguments: %q", got)
		}
	}
	p := myPayload()
	delete(p.Info, InfoPort)
	delete(p.Info, InfoDatabase)
	got, err = ClientArgs(p)
	want = []string{"-h", "10.0.0.7", "--protocol=TCP", "-u", "jit_bob"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("mariadb without port and database: %q, %v; want %q", got, err, want)
	}
}

func TestURL(t *testing.T) {
	tests := []struct {
		name string
		p    jit.CredentialPayload
		want string
	}{
		{"postgres", pgPayload(), "postgres://jit_alice_1a2b:pa%27ss%20wo%22rd$%60%5C%40%3A%2F%3F%23%25@db.example.com:5433/orders?sslmode=verify-full"},
		{"mariadb", myPayload(), "mysql://jit_bob:p%40ss%3Aw%2Frd@10.0.0.7:3306/shop"},
		{"ipv6 without port, odd database", jit.CredentialPayload{Kind: KindPassword, Secret: "x",
			Info: map[string]string{InfoDialect: DialectPostgres, InfoHost: "::1", InfoUser: "a b", InfoDatabase: "my/db?"}},
			"postgres://a%20b:x@[::1]/my%2Fdb%3F"},
		{"ipv6 with port", jit.CredentialPayload{Kind: KindPassword, Secret: "x",
			Info: map[string]string{InfoDialect: DialectMySQL, InfoHost: "::1", InfoPort: "3307", InfoUser: "u"}},
			"mysql://u:x@[::1]:3307"},
	}
	for _, tt := range tests {
		got, err := URL(tt.p)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s: URL = %s, want %s", tt.name, got, tt.want)
		}
		// The URL reads back to the same parts.
		u, err := url.Parse(got)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		pw, _ := u.User.Password()
		if u.User.Username() != tt.p.Info[InfoUser] || pw != tt.p.Secret || u.Hostname() != tt.p.Info[InfoHost] ||
			u.Port() != tt.p.Info[InfoPort] || strings.TrimPrefix(u.Path, "/") != tt.p.Info[InfoDatabase] ||
			u.Query().Get("sslmode") != tt.p.Info[InfoSSLMode] {
			t.Errorf("%s: %s reads back as %+v", tt.name, got, u)
		}
	}
}

func TestDatabaseCredentialProblems(t *testing.T) {
	with := func(f func(p *jit.CredentialPayload)) jit.CredentialPayload {
		p := pgPayload()
		p.Info = map[string]string{}
		for k, v := range pgPayload().Info {
			p.Info[k] = v
		}
		f(&p)
		return p
	}
	tests := []struct {
		name string
		p    jit.CredentialPayload
		want string
	}{
		{"unknown dialect", with(func(p *jit.CredentialPayload) { p.Info[InfoDialect] = "oracle" }), `unknown database dialect "oracle"`},
		{"no dialect", with(func(p *jit.CredentialPayload) { delete(p.Info, InfoDialect) }), "no dialect"},
		{"no info", jit.CredentialPayload{Kind: KindPassword, Secret: "x"}, "no dialect"},
		{"other kind", with(func(p *jit.CredentialPayload) { p.Kind = "ssh-certificate" }), "not a database password"},
		{"no host", with(func(p *jit.CredentialPayload) { delete(p.Info, InfoHost) }), "no valid host"},
		{"option-like host", with(func(p *jit.CredentialPayload) { p.Info[InfoHost] = "-oProxyCommand" }), "no valid host"},
		{"host with space", with(func(p *jit.CredentialPayload) { p.Info[InfoHost] = "a b" }), "no valid host"},
		{"no user", with(func(p *jit.CredentialPayload) { delete(p.Info, InfoUser) }), "no user"},
		{"bad port", with(func(p *jit.CredentialPayload) { p.Info[InfoPort] = "54x" }), "invalid port"},
		{"port out of range", with(func(p *jit.CredentialPayload) { p.Info[InfoPort] = "70000" }), "invalid port"},
		{"port with sign", with(func(p *jit.CredentialPayload) { p.Info[InfoPort] = "+5432" }), "invalid port"},
		{"bad sslmode", with(func(p *jit.CredentialPayload) { p.Info[InfoSSLMode] = "sometimes" }), "unknown sslmode"},
		{"sslmode on mysql", jit.CredentialPayload{Kind: KindPassword, Info: map[string]string{
			InfoDialect: DialectMySQL, InfoHost: "h", InfoUser: "u", InfoSSLMode: "require"}}, "only PostgreSQL"},
		{"NUL in password", with(func(p *jit.CredentialPayload) { p.Secret = "a\x00b" }), "NUL"},
		{"newline in user", with(func(p *jit.CredentialPayload) { p.Info[InfoUser] = "a\nb" }), "control character"},
		{"escape in database", with(func(p *jit.CredentialPayload) { p.Info[InfoDatabase] = "a\x1bb" }), "control character"},
	}
	for _, tt := range tests {
		for fn, f := range map[string]func(jit.CredentialPayload) error{
			"Env":        func(p jit.CredentialPayload) error { _, err := Env(p); return err },
			"URL":        func(p jit.CredentialPayload) error { _, err := URL(p); return err },
			"ClientArgs": func(p jit.CredentialPayload) error { _, err := ClientArgs(p); return err },
		} {
			err := f(tt.p)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s %s: %v, want an error containing %q", fn, tt.name, err, tt.want)
			} else if tt.p.Secret != "" && len(tt.p.Secret) > 3 && strings.Contains(err.Error(), tt.p.Secret) {
				t.Errorf("%s %s: error shows the password: %v", fn, tt.name, err)
			}
		}
	}
}

func TestDialect(t *testing.T) {
	for p, want := range map[string]string{"postgres": DialectPostgres, "postgresql": DialectPostgres, "mysql": DialectMySQL, "mariadb": DialectMySQL} {
		got, err := Dialect(jit.CredentialPayload{Kind: KindPassword, Info: map[string]string{InfoDialect: p, InfoHost: "h", InfoUser: "u"}})
		if err != nil || got != want {
			t.Errorf("Dialect(%s) = %q, %v; want %q", p, got, err, want)
		}
	}
}
