package kubernetes

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/jitaccess/jit/provider"
)

// testCA returns a self-signed CA certificate in PEM.
func testCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"}, IsCA: true,
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<33, 0), BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestKubeconfigExec(t *testing.T) {
	ca := testCA(t)
	settings := map[string]any{
		"kubeconfig_file": "/nonexistent/kubeconfig",
		"client": map[string]any{
			"server":                     "https://prod.k8s.example.com",
			"certificate_authority_data": base64.StdEncoding.EncodeToString(ca),
			"user": map[string]any{"exec": map[string]any{
				"command": "aws",
				"args":    []any{"eks", "get-token", "--cluster-name", "prod"},
				"env":     map[string]any{"AWS_PROFILE": "prod", "AWS_REGION": "eu-west-1"},
			}},
		},
	}
	p, err := NewWithOptions(provider.Resource{Name: "prod-k8s", Type: Type, Settings: settings, Access: l("view")},
		// jit's own connection, with credentials that must not leak.
		Options{Config: &rest.Config{Host: "https://10.0.0.1", BearerToken: "jit-secret-token", TLSClientConfig: rest.TLSClientConfig{CAData: []byte("other")}}})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := p.Kubeconfig("alice@example.com")
	if err != nil {
		t.Fatalf("Kubeconfig: %v", err)
	}
	if strings.Contains(string(raw), "jit-secret-token") || strings.Contains(string(raw), "10.0.0.1") {
		t.Fatalf("the kubeconfig holds jit's connection:\n%s", raw)
	}
	got, err := clientcmd.Load(raw)
	if err != nil {
		t.Fatalf("clientcmd.Load: %v\n%s", err, raw)
	}
	wantExec := clientcmdapi.ExecConfig{
		Command: "aws", Args: l("eks", "get-token", "--cluster-name", "prod"),
		Env:        []clientcmdapi.ExecEnvVar{{Name: "AWS_PROFILE", Value: "prod"}, {Name: "AWS_REGION", Value: "eu-west-1"}},
		APIVersion: "client.authentication.k8s.io/v1beta1", InteractiveMode: clientcmdapi.IfAvailableExecInteractiveMode,
	}
	if len(got.Clusters) != 1 || len(got.AuthInfos) != 1 || len(got.Contexts) != 1 || got.CurrentContext != "prod-k8s" {
		t.Fatalf("kubeconfig has other entries:\n%s", raw)
	}
	gc := got.Clusters["prod-k8s"]
	if gc == nil || gc.Server != "https://prod.k8s.example.com" || string(gc.CertificateAuthorityData) != string(ca) || gc.InsecureSkipTLSVerify || gc.CertificateAuthority != "" || gc.ProxyURL != "" || gc.TLSServerName != "" {
		t.Fatalf("cluster = %+v", gc)
	}
	gctx := got.Contexts["prod-k8s"]
	if gctx == nil || gctx.Cluster != "prod-k8s" || gctx.AuthInfo != "alice@example.com" || gctx.Namespace != "" {
		t.Fatalf("context = %+v", gctx)
	}
	ga := got.AuthInfos["alice@example.com"]
	if ga == nil || ga.Exec == nil || !reflect.DeepEqual(*ga.Exec, wantExec) {
		t.Fatalf("user entry = %+v; want exec %+v", ga, wantExec)
	}
	if hasCredentials(ga) {
		t.Fatalf("user entry has credentials besides the exec plugin: %+v", ga)
	}
	if err := clientcmd.Validate(*got); err != nil {
		t.Fatalf("clientcmd.Validate: %v", err)
	}
}

func TestKubeconfigDefaults(t *testing.T) {
	ca := testCA(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca, 0o600); err != nil {
		t.Fatal(err)
	}
	conn := &rest.Config{Host: "127.0.0.1:6443", Username: "jit", Password: "s3cret", TLSClientConfig: rest.TLSClientConfig{CAFile: caFile, CertData: []byte("cert"), KeyData: []byte("key")}}
	p, err := NewWithOptions(provider.Resource{Name: "dev", Type: Type, Settings: map[string]any{"in_cluster": true}}, Options{Config: conn})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := p.Kubeconfig("bob@example.com")
	if err != nil {
		t.Fatal(err)
	}
	got, err := clientcmd.Load(raw)
	if err != nil {
		t.Fatal(err)
	}
	if cl := got.Clusters["dev"]; cl == nil || cl.Server != "https://127.0.0.1:6443" || string(cl.CertificateAuthorityData) != string(ca) {
		t.Fatalf("cluster = %+v", cl)
	}
	if ai := got.AuthInfos["bob@example.com"]; ai == nil || hasCredentials(ai) || ai.Exec != nil || len(got.AuthInfos) != 1 {
		t.Fatalf("user entry = %+v; want it empty", ai)
	}
	for _, secret := range []string{"s3cret", base64.StdEncoding.EncodeToString([]byte("key")), "password", "username"} {
		if strings.Contains(string(raw), secret) {
			t.Fatalf("the kubeconfig holds %q:\n%s", secret, raw)
		}
	}

	// A CA file from the settings, read at the time of the call.
	p2, err := NewWithOptions(provider.Resource{Name: "dev", Type: Type, Settings: map[string]any{"in_cluster": true,
		"client": map[string]any{"server": "https://k8s.example.com:8443", "certificate_authority_file": caFile}}}, Options{Client: newFixture(t, nil).client})
	if err != nil {
		t.Fatal(err)
	}
	raw, err = p2.Kubeconfig("bob@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := clientcmd.Load(raw); got.Clusters["dev"].Server != "https://k8s.example.com:8443" || string(got.Clusters["dev"].CertificateAuthorityData) != string(ca) {
		t.Fatalf("kubeconfig with certificate_authority_file:\n%s", raw)
	}
	if err := os.WriteFile(caFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := p2.Kubeconfig("bob@example.com"); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("Kubeconfig with a bad CA file = %v", err)
	}

	// No connection and no server: nothing to point at.
	p3, err := NewWithOptions(provider.Resource{Name: "dev", Type: Type, Settings: map[string]any{"in_cluster": true}}, Options{Client: newFixture(t, nil).client})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p3.Kubeconfig("bob@example.com"); err == nil || !strings.Contains(err.Error(), "client.server") {
		t.Fatalf("Kubeconfig without server = %v", err)
	}
	if _, err := p.Kubeconfig("bad\nuser"); err == nil {
		t.Fatal("Kubeconfig accepted a user name with a newline")
	}
}

// hasCredentials reports whether a has any credential but an exec plugin.
func hasCredentials(a *clientcmdapi.AuthInfo) bool {
	return a.ClientCertificate != "" || len(a.ClientCertificateData) > 0 || a.ClientKey != "" || len(a.ClientKeyData) > 0 ||
		a.Token != "" || a.TokenFile != "" || a.Username != "" || a.Password != "" || a.AuthProvider != nil ||
		a.Impersonate != "" || len(a.ImpersonateGroups) > 0 || a.ImpersonateUID != ""
}

// The defaults come from jit's own connection: whatever in it is a
// credential (user information in the server URL, a private key in a PEM
// file given as its certificate authority) must not reach the file.
func TestKubeconfigDefaultsCarryNoSecrets(t *testing.T) {
	ca := testCA(t)
	key := "-----BEGIN PRIVATE KEY-----\nc2VjcmV0IGtleSBtYXRlcmlhbA==\n-----END PRIVATE KEY-----\n"
	bundle := filepath.Join(t.TempDir(), "bundle.pem")
	if err := os.WriteFile(bundle, append(append([]byte(nil), ca...), key...), 0o600); err != nil {
		t.Fatal(err)
	}
	mk := func(conn *rest.Config) *Provider {
		p, err := NewWithOptions(provider.Resource{Name: "dev", Type: Type, Settings: map[string]any{"in_cluster": true}}, Options{Config: conn})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	raw, err := mk(&rest.Config{Host: "https://k8s.example.com", TLSClientConfig: rest.TLSClientConfig{CAFile: bundle}}).Kubeconfig("bob@example.com")
	if err != nil {
		t.Fatal(err)
	}
	got, err := clientcmd.Load(raw)
	if err != nil {
		t.Fatal(err)
	}
	if cl := got.Clusters["dev"]; cl == nil || string(cl.CertificateAuthorityData) != string(ca) {
		t.Fatalf("certificate authority = %q; want only the certificate", cl.CertificateAuthorityData)
	}
	if strings.Contains(string(raw), base64.StdEncoding.EncodeToString([]byte(key))[:20]) || strings.Contains(string(got.Clusters["dev"].CertificateAuthorityData), "PRIVATE KEY") {
		t.Fatalf("the kubeconfig holds the private key:\n%s", raw)
	}
	for _, host := range []string{"https://jit:s3cret@k8s.example.com", "https://k8s.example.com/?token=s3cret"} {
		raw, err := mk(&rest.Config{Host: host, TLSClientConfig: rest.TLSClientConfig{CAData: ca}}).Kubeconfig("bob@example.com")
		if err == nil || strings.Contains(string(raw), "s3cret") || strings.Contains(err.Error(), "s3cret") {
			t.Fatalf("Kubeconfig with server %s = %v\n%s", host, err, raw)
		}
	}
}
