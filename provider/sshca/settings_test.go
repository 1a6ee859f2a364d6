package sshca

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit/provider"
)

func TestSettingsDefaults(t *testing.T) {
	c, err := parseConfig(testResource("/etc/jit/ssh_ca", nil))
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	if c.caKeyFile != "/etc/jit/ssh_ca" {
		t.Errorf("caKeyFile = %q", c.caKeyFile)
	}
	if !reflect.DeepEqual(c.hosts, []string{"web-*", "web-*.prod.example.com"}) {
		t.Errorf("hosts = %q", c.hosts)
	}
	if !reflect.DeepEqual(c.principals, map[string][]string{"deploy": {"deploy"}, "admin": {"root", "admin"}}) {
		t.Errorf("principals = %v", c.principals)
	}
	if !reflect.DeepEqual(c.extensions, []string{ExtPTY}) {
		t.Errorf("extensions = %q, want [permit-pty]", c.extensions)
	}
	if c.clockSkew != time.Minute || c.maxValidity != 12*time.Hour {
		t.Errorf("clock_skew %s, max_validity %s; want 1m, 12h", c.clockSkew, c.maxValidity)
	}
	if !reflect.DeepEqual(c.keys.types, KeyTypes) || c.keys.minRSABits != 3072 {
		t.Errorf("key policy = %+v", c.keys)
	}
	if c.sourceAddress != "" || c.forceCommand != "" {
		t.Errorf("critical options set by default: %q %q", c.sourceAddress, c.forceCommand)
	}
}

func TestSettingsAll(t *testing.T) {
	c, err := parseConfig(testResource("/k", map[string]any{
		"hosts":          []any{"Bastion.Example.COM", "10.1.2.*", "bastion.example.com"},
		"source_address": []any{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "10.0.0.0/8"},
		"force_command":  "/usr/local/bin/deploy --safe",
		"extensions":     []any{"permit-port-forwarding", "permit-pty", "permit-pty"},
		"clock_skew":     "30s",
		"max_validity":   "2h",
		"key_types":      []any{"ssh-ed25519", "sk-ssh-ed25519@openssh.com"},
		"rsa_min_bits":   4096,
	}))
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	want := config{
		resource: "web", caKeyFile: "/k",
		hosts:         []string{"bastion.example.com", "10.1.2.*"},
		principals:    map[string][]string{"deploy": {"deploy"}, "admin": {"root", "admin"}},
		sourceAddress: "10.0.0.0/8,192.0.2.7/32,2001:db8::/32",
		forceCommand:  "/usr/local/bin/deploy --safe",
		extensions:    []string{"permit-port-forwarding", "permit-pty"},
		clockSkew:     30 * time.Second, maxValidity: 2 * time.Hour,
		keys: keyPolicy{types: []string{"ssh-ed25519", "sk-ssh-ed25519@openssh.com"}, minRSABits: 4096},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("config =\n%+v\nwant\n%+v", c, want)
	}

	// An explicit empty extension list grants none.
	c, err = parseConfig(testResource("/k", map[string]any{"extensions": []any{}}))
	if err != nil || len(c.extensions) != 0 {
		t.Errorf("extensions: [] gave %q, %v", c.extensions, err)
	}
}

func TestSettingsErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra map[string]any
		key   string // the setting the error must name
		text  string // part of the message
	}{
		{"no CA file", map[string]any{"ca_key_file": nil}, "ca_key_file", "required"},
		{"no hosts", map[string]any{"hosts": nil}, "hosts", "required"},
		{"empty hosts", map[string]any{"hosts": []any{}}, "hosts", "at least one"},
		{"host with space", map[string]any{"hosts": []any{"web 1"}}, "hosts", "may contain only"},
		{"host negation", map[string]any{"hosts": []any{"!web-1"}}, "hosts", "may contain only"},
		{"host with comma", map[string]any{"hosts": []any{"a,b"}}, "hosts", "may contain only"},
		{"host empty label", map[string]any{"hosts": []any{"web..example.com"}}, "hosts", "empty label"},
		{"no principals", map[string]any{"principals": nil}, "principals", "required"},
		{"principals not a map", map[string]any{"principals": []any{"deploy"}}, "principals", "must be a map"},
		{"level without principals", map[string]any{"principals": map[string]any{"deploy": []any{"deploy"}}}, "principals", `"admin" of the resource has no principals`},
		{"empty principal list", map[string]any{"principals": map[string]any{"deploy": []any{}, "admin": []any{"root"}}}, "principals.deploy", "at least one"},
		{"unknown level", map[string]any{"principals": map[string]any{"deploy": []any{"d"}, "admin": []any{"r"}, "ops": []any{"o"}}}, "principals.ops", "not an access level"},
		{"bad principal", map[string]any{"principals": map[string]any{"deploy": []any{"de ploy"}, "admin": []any{"root"}}}, "principals.deploy", "may contain only"},
		{"principal with comma", map[string]any{"principals": map[string]any{"deploy": []any{"a,b"}, "admin": []any{"root"}}}, "principals.deploy", "may contain only"},
		{"principal leading dash", map[string]any{"principals": map[string]any{"deploy": []any{"-oProxyCommand"}, "admin": []any{"root"}}}, "principals.deploy", "may contain only"},
		{"principal a string", map[string]any{"principals": map[string]any{"deploy": "deploy", "admin": []any{"root"}}}, "principals.deploy", "list"},
		{"source not CIDR", map[string]any{"source_address": []any{"10.0.0.0/33"}}, "source_address", "not a CIDR"},
		{"source host bits", map[string]any{"source_address": []any{"10.0.0.1/8"}}, "source_address", "did you mean 10.0.0.0/8"},
		{"source name", map[string]any{"source_address": []any{"office.example.com"}}, "source_address", "not an address"},
		{"source empty list", map[string]any{"source_address": []any{}}, "source_address", "at least one"},
		{"source a string", map[string]any{"source_address": "10.0.0.0/8"}, "source_address", "list"},
		{"force_command empty", map[string]any{"force_command": " "}, "force_command", "must not be empty"},
		{"force_command newline", map[string]any{"force_command": "a\nb"}, "force_command", "control characters"},
		{"unknown extension", map[string]any{"extensions": []any{"permit-everything"}}, "extensions", "not a certificate extension"},
		{"extension case", map[string]any{"extensions": []any{"permit-x11-forwarding"}}, "extensions", "not a certificate extension"},
		{"clock_skew bare number", map[string]any{"clock_skew": 60}, "clock_skew", "duration"},
		{"clock_skew huge", map[string]any{"clock_skew": "2h"}, "clock_skew", "at most"},
		{"max_validity zero", map[string]any{"max_validity": "0s"}, "max_validity", "positive"},
		{"max_validity huge", map[string]any{"max_validity": "9000h"}, "max_validity", "at most"},
		{"key type dsa", map[string]any{"key_types": []any{"ssh-dss"}}, "key_types", "too weak"},
		{"key type unknown", map[string]any{"key_types": []any{"ed25519"}}, "key_types", "not a key type"},
		{"key types empty", map[string]any{"key_types": []any{}}, "key_types", "at least one"},
		{"rsa bits low", map[string]any{"rsa_min_bits": 1024}, "rsa_min_bits", "from 2048"},
		{"misspelt setting", map[string]any{"max_valdity": "1h"}, "max_valdity", "unknown setting"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(testResource("/k", tc.extra))
			if err == nil {
				t.Fatal("New succeeded")
			}
			if !hasSettingError(err, tc.key, tc.text) {
				t.Errorf("error does not name %q with %q:\n%v", tc.key, tc.text, err)
			}
		})
	}
}

// hasSettingError reports whether err holds a *provider.SettingError for
// key whose message contains text.
func hasSettingError(err error, key, text string) bool {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if hasSettingError(e, key, text) {
				return true
			}
		}
		return false
	}
	var se *provider.SettingError
	return errors.As(err, &se) && se.Key == key && strings.Contains(se.Err.Error(), text)
}

// TestNewReadsNoFile: configuration is checked offline, without the CA.
func TestNewReadsNoFile(t *testing.T) {
	if _, err := New(testResource("/nonexistent/ssh_ca", nil)); err != nil {
		t.Fatalf("New with an absent CA file: %v", err)
	}
}

func TestRegistered(t *testing.T) {
	p, err := provider.New(testResource("/k", nil))
	if err != nil {
		t.Fatalf("provider.New: %v", err)
	}
	if _, ok := p.(*Provider); !ok {
		t.Fatalf("provider.New gave %T", p)
	}
	if !provider.IssuesCredentials(p) {
		t.Error("IssuesCredentials is false")
	}
	if provider.IsStoreEnforced(p) {
		t.Error("the provider says it is store-enforced")
	}
}
