package aws

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func chain(profile string, env map[string]string) *credentialChain {
	return &credentialChain{profile: profile, getenv: envOf(env), home: func() (string, error) { return "", os.ErrNotExist }}
}

const credentialsFile = `
# comment
[default]
aws_access_key_id = AKIDDEFAULT
aws_secret_access_key = secret-default

[profile jit]
AWS_ACCESS_KEY_ID=AKIDJIT
aws_secret_access_key=secret-jit
aws_session_token = token-jit

[broken]
aws_access_key_id = AKIDBROKEN
`

func writeCredentials(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(path, []byte(credentialsFile), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCredentialChain(t *testing.T) {
	ctx := context.Background()
	file := writeCredentials(t)
	cases := []struct {
		name, profile string
		env           map[string]string
		wantID        string
		wantErr       string
	}{
		{name: "environment", env: map[string]string{envAccessKeyID: "AKIDENV", envSecretAccessKey: "s", envSharedCredentials: file}, wantID: "AKIDENV"},
		{name: "half environment", env: map[string]string{envAccessKeyID: "AKIDENV"}, wantErr: envSecretAccessKey + " is not"},
		{name: "default profile", env: map[string]string{envSharedCredentials: file}, wantID: "AKIDDEFAULT"},
		{name: "AWS_PROFILE", env: map[string]string{envSharedCredentials: file, envProfile: "jit"}, wantID: "AKIDJIT"},
		{name: "profile setting wins over the environment", profile: "jit", env: map[string]string{envAccessKeyID: "AKIDENV", envSecretAccessKey: "s", envSharedCredentials: file}, wantID: "AKIDJIT"},
		{name: "profile setting not found", profile: "nope", env: map[string]string{envSharedCredentials: file}, wantErr: `profile "nope" not found`},
		{name: "profile without a secret", profile: "broken", env: map[string]string{envSharedCredentials: file}, wantErr: "needs aws_access_key_id and aws_secret_access_key"},
		{name: "nothing", env: map[string]string{envSharedCredentials: filepath.Join(t.TempDir(), "missing")}, wantErr: "none found"},
		{name: "container over plain HTTP elsewhere", env: map[string]string{envContainerFullURI: "http://example.com/creds"}, wantErr: "loopback"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			creds, err := chain(c.profile, c.env).Retrieve(ctx)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("Retrieve = %v, want an error with %q", err, c.wantErr)
				}
				for _, secret := range []string{"secret-", "AKIDBROKEN"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error echoes a credential: %v", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if creds.AccessKeyID != c.wantID {
				t.Errorf("access key = %s, want %s", creds.AccessKeyID, c.wantID)
			}
		})
	}
	creds, err := chain("jit", map[string]string{envSharedCredentials: file}).Retrieve(ctx)
	if err != nil || creds.SessionToken != "token-jit" || creds.SecretAccessKey != "secret-jit" {
		t.Errorf("profile jit = %+v, %v", creds, err)
	}
}

func TestCredentialChainContainer(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("pod-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "pod-token" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"code":"Unauthorized","message":"bad token"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{
			"AccessKeyId": "AKIDPOD", "SecretAccessKey": "s", "Token": "t",
			"Expiration": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		})
	}))
	defer srv.Close()
	env := map[string]string{envContainerFullURI: srv.URL + "/creds", envContainerTokenFile: tokenFile, envSharedCredentials: filepath.Join(t.TempDir(), "missing")}
	creds, err := chain("", env).Retrieve(context.Background())
	if err != nil || creds.AccessKeyID != "AKIDPOD" || !creds.CanExpire {
		t.Fatalf("container credentials = %+v, %v", creds, err)
	}
	env[envContainerTokenFile] = ""
	env[envContainerToken] = "wrong"
	if _, err := chain("", env).Retrieve(context.Background()); err == nil {
		t.Errorf("a refused token gave credentials")
	}
}

func TestCheckContainerEndpoint(t *testing.T) {
	for _, ok := range []string{"https://creds.example.com/x", "http://127.0.0.1:8080/x", "http://169.254.170.2/v2/credentials/x", "http://169.254.170.23/v1/credentials", "http://[fd00:ec2::23]/v1", "http://localhost:1/x"} {
		if err := checkContainerEndpoint(ok); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"http://10.0.0.1/x", "http://example.com/x", "file:///etc/passwd", "nope"} {
		if err := checkContainerEndpoint(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestParseCredentialsFileErrors(t *testing.T) {
	for _, bad := range []string{"key = value", "[default\nx=1", "[default]\nnot a pair", "[]\n", "[default] junk", "[default]\n = x"} {
		if _, err := ParseCredentialsFile([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		} else if strings.Contains(err.Error(), "value") && strings.Contains(bad, "value") {
			t.Errorf("error echoes the file: %v", err)
		}
	}
}

func FuzzParseCredentialsFile(f *testing.F) {
	f.Add([]byte(credentialsFile))
	f.Add([]byte("[a]\nk=v\n[a]\nk2 = v2 ; not a comment"))
	f.Add([]byte("[default"))
	f.Fuzz(func(t *testing.T, data []byte) {
		profiles, err := ParseCredentialsFile(data)
		if err != nil {
			return
		}
		for name, p := range profiles {
			if name == "" || strings.TrimSpace(name) != name {
				t.Fatalf("profile name %q", name)
			}
			for k := range p {
				if k == "" || k != strings.ToLower(k) || strings.TrimSpace(k) != k {
					t.Fatalf("key %q", k)
				}
			}
		}
	})
}
