package sshca

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/jitaccess/jit/internal/sshdtest"
	"github.com/jitaccess/jit/provider"
)

// rotated grants one request on the resource's first CA key, then replaces
// the key file with a new key (as an operator rotating the CA does) and
// grants another request on the new key. It returns the provider of the
// new key, the two handles and the two certificates.
func rotated(t *testing.T, c *clock, key string) (p2 *Provider, handles []json.RawMessage, certs [][]byte) {
	t.Helper()
	caFile := newCAFile(t)
	o := Options{}
	if c != nil {
		o.Now = c.Now
	}
	expires := time.Now().Add(time.Hour)
	if c != nil {
		expires = c.t.Add(time.Hour)
	}
	grant := func(p *Provider, id string) {
		t.Helper()
		resp, err := p.Grant(context.Background(), provider.GrantRequest{RequestID: id, User: "alice@example.com",
			Resource: "web", Access: "deploy", ExpiresAt: expires, SSHPublicKey: key})
		if err != nil {
			t.Fatalf("Grant %s: %v", id, err)
		}
		handles = append(handles, resp.Handle)
		certs = append(certs, resp.Credential.Data)
	}
	p1, err := NewWithOptions(testResource(caFile, nil), o)
	if err != nil {
		t.Fatal(err)
	}
	grant(p1, "req_old")
	if err := os.Remove(caFile); err != nil {
		t.Fatal(err)
	}
	if _, _, err := InitCA(caFile, CAKeyECDSAP256); err != nil {
		t.Fatal(err)
	}
	if p2, err = NewWithOptions(testResource(caFile, nil), o); err != nil {
		t.Fatal(err)
	}
	grant(p2, "req_new")
	return p2, handles, certs
}

// TestKRLAfterCARotation: while hosts trust both the old and the new CA
// key, as they must until the old key's certificates have expired, a
// certificate of the old key that was revoked stays on the list.
func TestKRLAfterCARotation(t *testing.T) {
	c := &clock{t: t0}
	p, handles, certs := rotated(t, c, userKey(t, "ed25519"))
	b, err := p.RevocationList(handles, 3)
	if err != nil {
		t.Fatalf("RevocationList: %v", err)
	}
	k, err := decodeKRL(b)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]uint64{}
	for _, data := range certs {
		cert := parseCert(t, data)
		ca := string(cert.SignatureKey.Marshal())
		want[ca] = append(want[ca], cert.Serial)
	}
	got := map[string][]uint64{}
	for _, s := range k.sections() {
		if s.ids != nil {
			t.Errorf("the list names key IDs: %q", s.ids)
		}
		got[string(s.ca)] = s.serials
	}
	if len(want) != 2 || !reflect.DeepEqual(got, want) {
		t.Errorf("sections by CA: %d, want %d (one per CA key)", len(got), len(want))
	}
	// Once the old key's certificate has expired, its section goes.
	c.t = t0.Add(2 * time.Hour)
	if b, err = p.RevocationList(handles, 4); err != nil {
		t.Fatal(err)
	}
	if k, err = decodeKRL(b); err != nil || len(k.sections()) != 0 {
		t.Errorf("after expiry: %+v, %v", k, err)
	}
}

// TestKRLAfterCARotationSSHKeygen asks ssh-keygen -Q whether the list
// revokes the certificates of both keys.
func TestKRLAfterCARotationSSHKeygen(t *testing.T) {
	keygen := sshdtest.Require(t, "ssh-keygen")
	p, handles, certs := rotated(t, nil, userKey(t, "ed25519"))
	krl, err := p.RevocationList(handles, 1)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	krlFile := filepath.Join(dir, "krl")
	if err := os.WriteFile(krlFile, krl, 0o644); err != nil {
		t.Fatal(err)
	}
	var files []string
	for i, data := range certs {
		f := filepath.Join(dir, []string{"old", "new"}[i])
		if err := os.WriteFile(f, data, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	out, err := exec.Command(keygen, append([]string{"-Q", "-f", krlFile}, files...)...).CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("ssh-keygen -Q: %v", err)
	}
	if got := queryResults(t, string(out), files); !reflect.DeepEqual(got, []string{"REVOKED", "REVOKED"}) {
		t.Errorf("ssh-keygen -Q says %q for the old and new key's certificates, want both revoked:\n%s", got, out)
	}
}

// TestRealSSHDCARotation: an sshd that trusts the old and the new CA key
// refuses a revoked certificate of the old key once it has the new KRL,
// and still accepts one that was not revoked.
func TestRealSSHDCARotation(t *testing.T) {
	t.Parallel()
	key := sshdtest.NewUserKey(t)
	p, handles, certs := rotated(t, nil, key.AuthorizedKey)
	var trusted []string
	for _, data := range certs {
		trusted = append(trusted, AuthorizedKey(parseCert(t, data).SignatureKey))
	}
	srv := sshdtest.Start(t, sshdtest.Config{TrustedCAKeys: trusted})
	oldCert := key.WriteCertificate(t, "old-cert.pub", certs[0])
	newCert := key.WriteCertificate(t, "new-cert.pub", certs[1])
	for _, c := range []string{oldCert, newCert} {
		if r := srv.Login(t, key.PrivateFile, c); !r.OK {
			t.Fatalf("before any revocation, %s: %v", filepath.Base(c), r)
		}
	}
	krl, err := p.RevocationList(handles[:1], 1)
	if err != nil {
		t.Fatal(err)
	}
	srv.SetKRL(t, krl)
	loginFails(t, srv, key, oldCert, "revoked by file "+srv.KRLFile)
	if r := srv.Login(t, key.PrivateFile, newCert); !r.OK {
		t.Errorf("the new key's certificate, not revoked: %v", r)
	}
}

// TestKRLCAKeyChecks: an entry whose CA key is unreadable, is a
// certificate, or does not match its CA fingerprint fails the list, since
// the certificate could not be listed; an entry of another CA whose key is
// not known (a handle that names only the fingerprint) cannot be listed and
// is left out.
func TestKRLCAKeyChecks(t *testing.T) {
	ca, other := testCAKey(t), testCAKey(t)
	later := krlNow.Add(time.Hour)
	certKey := strings.TrimSpace(certificateLine(t, AuthorizedKey(other)))
	for name, r := range map[string]Revoked{
		"garbage":     {Serial: 1, ValidBefore: later, CAKey: "ssh-ed25519 nope"},
		"certificate": {Serial: 1, ValidBefore: later, CAKey: certKey},
		"mismatch":    {Serial: 1, ValidBefore: later, CAKey: authorizedKeyLine(other), CAFingerprint: fingerprint(ca)},
		"weak":        {Serial: 1, ValidBefore: later, CAKey: dsaKeyLine(t)},
	} {
		if _, err := BuildKRL(ca, []Revoked{r}, krlNow, 1); err == nil {
			t.Errorf("%s: BuildKRL succeeded", name)
		}
	}
	b, err := BuildKRL(ca, []Revoked{{Serial: 1, ValidBefore: later, CAFingerprint: fingerprint(other)}}, krlNow, 1)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := decodeKRL(b); err != nil || len(k.sections()) != 0 {
		t.Errorf("an entry of an unknown CA: %+v, %v", k, err)
	}
	// An entry that names the CA it was given lands in that CA's section.
	b, err = BuildKRL(ca, []Revoked{{Serial: 2, ValidBefore: later, CAKey: authorizedKeyLine(ca), CAFingerprint: fingerprint(ca)}, {Serial: 3, ValidBefore: later}}, krlNow, 1)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := decodeKRL(b); err != nil || len(k.sections()) != 1 || !reflect.DeepEqual(k.serials, []uint64{2, 3}) {
		t.Errorf("entries of the given CA: %+v, %v", k, err)
	}
}

func authorizedKeyLine(pub ssh.PublicKey) string { return strings.TrimSpace(AuthorizedKey(pub)) }
