package sshca

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/jitaccess/jit/internal/sshdtest"
	"github.com/jitaccess/jit/provider"
)

// decodedSection is one certificate section of a KRL.
type decodedSection struct {
	ca      []byte
	serials []uint64
	ids     []string
}

// decodedKRL is what decodeKRL reads from a KRL: the first certificate
// section (ca is nil when there is none) and the others in more.
type decodedKRL struct {
	version, date uint64
	decodedSection
	more []decodedSection
}

// sections returns every certificate section, in order.
func (k decodedKRL) sections() []decodedSection {
	if k.ca == nil {
		return nil
	}
	return append([]decodedSection{k.decodedSection}, k.more...)
}

// decodeKRL reads a KRL as BuildKRL writes it, independently of the
// encoder: header, then certificate sections in increasing order of their
// CA key's wire form, each holding at most one serial list and one key ID
// list. Anything else is an error.
func decodeKRL(b []byte) (decodedKRL, error) {
	var k decodedKRL
	r := &reader{b: b}
	if string(r.take(8)) != "SSHKRL\n\x00" {
		return k, errors.New("bad magic")
	}
	if v := r.u32(); v != 1 {
		return k, fmt.Errorf("format version %d", v)
	}
	k.version, k.date = r.u64(), r.u64()
	if flags := r.u64(); flags != 0 {
		return k, fmt.Errorf("flags %d", flags)
	}
	r.str() // reserved
	r.str() // comment
	var all []decodedSection
	for r.err == nil && len(r.b) > 0 {
		typ := r.take(1)
		sect := &reader{b: r.str()}
		if r.err != nil {
			break
		}
		if typ[0] != 1 {
			return k, fmt.Errorf("unexpected section %d", typ[0])
		}
		var s decodedSection
		s.ca = sect.str()
		if len(s.ca) == 0 {
			return k, errors.New("a certificate section for any CA")
		}
		if n := len(all); n > 0 && string(all[n-1].ca) >= string(s.ca) {
			return k, errors.New("certificate sections out of order or repeated")
		}
		sect.str() // reserved
		for sect.err == nil && len(sect.b) > 0 {
			st := sect.take(1)
			sub := &reader{b: sect.str()}
			if sect.err != nil {
				break
			}
			switch st[0] {
			case 0x20:
				if s.serials != nil || len(sub.b)%8 != 0 || len(sub.b) == 0 {
					return k, errors.New("bad serial list")
				}
				for len(sub.b) > 0 {
					s.serials = append(s.serials, sub.u64())
				}
			case 0x23:
				if s.ids != nil || len(sub.b) == 0 {
					return k, errors.New("bad key ID list")
				}
				for sub.err == nil && len(sub.b) > 0 {
					s.ids = append(s.ids, string(sub.str()))
				}
				if sub.err != nil {
					return k, sub.err
				}
			default:
				return k, fmt.Errorf("unexpected certificate subsection 0x%x", st[0])
			}
		}
		if sect.err != nil {
			return k, sect.err
		}
		if s.serials == nil && s.ids == nil {
			return k, errors.New("empty certificate section")
		}
		all = append(all, s)
	}
	if len(all) > 0 {
		k.decodedSection, k.more = all[0], all[1:]
		if len(k.more) == 0 {
			k.more = nil
		}
	}
	return k, r.err
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil || n < 0 || len(r.b) < n {
		r.err = errors.New("truncated")
		return make([]byte, n)
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u32() uint32 { return binary.BigEndian.Uint32(r.take(4)) }
func (r *reader) u64() uint64 { return binary.BigEndian.Uint64(r.take(8)) }
func (r *reader) str() []byte {
	n := r.u32()
	if r.err != nil || uint64(n) > uint64(len(r.b)) {
		r.err = errors.New("truncated string")
		return nil
	}
	return r.take(int(n))
}

var krlNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func testCAKey(t testing.TB) ssh.PublicKey {
	t.Helper()
	s, err := LoadCA(newCAFile(t))
	if err != nil {
		t.Fatal(err)
	}
	return s.PublicKey()
}

func TestBuildKRL(t *testing.T) {
	ca := testCAKey(t)
	other := testCAKey(t)
	later, earlier := krlNow.Add(time.Hour), krlNow.Add(-time.Second)
	revoked := []Revoked{
		{Serial: 30, KeyID: "jit:b@example.com:req_2", ValidBefore: later},
		{Serial: 10, KeyID: "jit:a@example.com:req_1", ValidBefore: later, CAFingerprint: fingerprint(ca)},
		{Serial: 10, KeyID: "jit:a@example.com:req_1", ValidBefore: later},                                    // a duplicate
		{Serial: 20, KeyID: "jit:c@example.com:req_3", ValidBefore: earlier},                                  // expired
		{Serial: 25, KeyID: "jit:d@example.com:req_4", ValidBefore: krlNow},                                   // expires now
		{Serial: 40, KeyID: "jit:e@example.com:req_5", ValidBefore: later, CAFingerprint: fingerprint(other)}, // another CA
		{Serial: 50, ValidBefore: later},                                                                      // serial only
		{KeyID: "jit:f:req_6", ValidBefore: later},                                                            // key ID only
		{Serial: 60, KeyID: "jit:g:req_7"},                                                                    // no expiry: kept
	}
	b, err := BuildKRL(ca, revoked, krlNow, 7)
	if err != nil {
		t.Fatalf("BuildKRL: %v", err)
	}
	k, err := decodeKRL(b)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	want := decodedKRL{
		version: 7, date: uint64(krlNow.Unix()),
		decodedSection: decodedSection{
			ca:      ca.Marshal(),
			serials: []uint64{10, 30, 50, 60},
			ids:     []string{"jit:a@example.com:req_1", "jit:b@example.com:req_2", "jit:f:req_6", "jit:g:req_7"},
		},
	}
	if !reflect.DeepEqual(k, want) {
		t.Errorf("KRL =\n%+v\nwant\n%+v", k, want)
	}
	// The same input in another order gives the same bytes.
	shuffled := append([]Revoked(nil), revoked...)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	again, err := BuildKRL(ca, shuffled, krlNow, 7)
	if err != nil || !bytes.Equal(again, b) {
		t.Errorf("BuildKRL is not deterministic (%v)", err)
	}

	// Nothing to revoke: a header alone.
	empty, err := BuildKRL(ca, revoked[3:5], krlNow, 1)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := decodeKRL(empty); err != nil || k.ca != nil || len(empty) != 8+4+8+8+8+4+4 {
		t.Errorf("empty KRL: %+v, %v, %d bytes", k, err, len(empty))
	}
}

func TestBuildKRLErrors(t *testing.T) {
	ca := testCAKey(t)
	later := krlNow.Add(time.Hour)
	cert := &ssh.Certificate{Key: ca, CertType: ssh.UserCert}
	for _, tc := range []struct {
		name    string
		ca      ssh.PublicKey
		revoked []Revoked
		err     string
	}{
		{"no CA", nil, nil, "no CA key"},
		{"certificate CA", cert, nil, "is a certificate"},
		{"empty entry", ca, []Revoked{{ValidBefore: later}}, "neither a serial nor a key ID"},
		{"NUL in key ID", ca, []Revoked{{Serial: 1, KeyID: "a\x00b", ValidBefore: later}}, "NUL"},
		{"long key ID", ca, []Revoked{{Serial: 1, KeyID: strings.Repeat("a", 2000), ValidBefore: later}}, "longer than"},
	} {
		if _, err := BuildKRL(tc.ca, tc.revoked, krlNow, 1); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: BuildKRL = %v; want an error containing %q", tc.name, err, tc.err)
		}
	}
	// A bad entry that has expired anyway does not block the KRL.
	if _, err := BuildKRL(ca, []Revoked{{ValidBefore: krlNow.Add(-time.Hour)}}, krlNow, 1); err != nil {
		t.Errorf("an expired bad entry: %v", err)
	}
}

func TestRevokedFromHandle(t *testing.T) {
	vb := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	r, err := RevokedFromHandle(json.RawMessage(`{"serial":"18446744073709551615","key_id":"jit:a:req_1","valid_before":"2030-01-01T00:00:00Z","principals":["deploy"],"fingerprint":"SHA256:x","ca":"SHA256:y","ca_key":"ssh-ed25519 AAAA"}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Revoked{Serial: 1<<64 - 1, KeyID: "jit:a:req_1", ValidBefore: vb, CAFingerprint: "SHA256:y", CAKey: "ssh-ed25519 AAAA"}); r != want {
		t.Errorf("RevokedFromHandle = %+v, want %+v", r, want)
	}
	for _, h := range []string{
		``, `null`, `[]`, `{}`, `{"serial":"0","key_id":"k","valid_before":"2030-01-01T00:00:00Z"}`,
		`{"serial":"1","valid_before":"2030-01-01T00:00:00Z"}`, `{"serial":"1","key_id":"k"}`,
		`{"serial":1,"key_id":"k","valid_before":"2030-01-01T00:00:00Z"}`, `{"user":"x","kind":"level"}`,
		`{"serial":"1","key_id":"a\u0000b","valid_before":"2030-01-01T00:00:00Z"}`,
	} {
		if _, err := RevokedFromHandle(json.RawMessage(h)); err == nil {
			t.Errorf("RevokedFromHandle(%s) succeeded", h)
		}
	}
}

// TestKRLMatchesSSHKeygen compares BuildKRL's bytes with the KRL that
// ssh-keygen -k writes for the same serials and key IDs.
func TestKRLMatchesSSHKeygen(t *testing.T) {
	keygen := sshdtest.Require(t, "ssh-keygen")
	dir := t.TempDir()
	ca := testCAKey(t)
	caFile := filepath.Join(dir, "ca.pub")
	if err := os.WriteFile(caFile, []byte(AuthorizedKey(ca)), 0o644); err != nil {
		t.Fatal(err)
	}
	later := krlNow.Add(time.Hour)
	for _, tc := range []struct {
		name    string
		revoked []Revoked
	}{
		{"nothing", nil},
		{"serials", []Revoked{{Serial: 1<<64 - 1, ValidBefore: later}, {Serial: 5, ValidBefore: later}, {Serial: 1 << 40, ValidBefore: later}}},
		{"key IDs", []Revoked{{KeyID: "jit:b@example.com:req_2", ValidBefore: later}, {KeyID: "jit:a@example.com:req_1", ValidBefore: later}}},
		{"both", []Revoked{
			{Serial: 0x9e3779b97f4a7c15, KeyID: "jit:a@example.com:req_1", ValidBefore: later},
			{Serial: 0x1234567890abcdef, KeyID: "jit:b@example.com:req_2", ValidBefore: later},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var spec strings.Builder
			for _, r := range tc.revoked {
				if r.Serial != 0 {
					fmt.Fprintf(&spec, "serial: %d\n", r.Serial)
				}
				if r.KeyID != "" {
					fmt.Fprintf(&spec, "id: %s\n", r.KeyID)
				}
			}
			specFile, out := filepath.Join(dir, tc.name+".spec"), filepath.Join(dir, tc.name+".krl")
			if err := os.WriteFile(specFile, []byte(spec.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			if b, err := exec.Command(keygen, "-k", "-f", out, "-s", caFile, "-z", "42", specFile).CombinedOutput(); err != nil {
				t.Fatalf("ssh-keygen -k: %v: %s", err, b)
			}
			theirs, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if len(theirs) < 28 {
				t.Fatalf("ssh-keygen wrote %d bytes", len(theirs))
			}
			// ssh-keygen dates its KRL with its own clock.
			date := time.Unix(int64(binary.BigEndian.Uint64(theirs[20:28])), 0)
			ours, err := BuildKRL(ca, tc.revoked, date, 42)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ours, theirs) {
				t.Errorf("BuildKRL differs from ssh-keygen -k:\nours   %x\ntheirs %x", ours, theirs)
			}
		})
	}
}

// TestKRLWithSSHKeygenQuery issues certificates with the provider, for each
// CA key type, and asks ssh-keygen -Q which of them the KRL revokes.
func TestKRLWithSSHKeygenQuery(t *testing.T) {
	keygen := sshdtest.Require(t, "ssh-keygen")
	for _, caType := range CAKeyTypes {
		t.Run(caType, func(t *testing.T) {
			dir := t.TempDir()
			caFile := filepath.Join(dir, "ca")
			if _, _, err := InitCA(caFile, caType); err != nil {
				t.Fatal(err)
			}
			c := &clock{t: time.Now()}
			p, err := NewWithOptions(testResource(caFile, nil), Options{Now: c.Now})
			if err != nil {
				t.Fatal(err)
			}
			key := userKey(t, "ed25519")
			var files []string
			var handles []json.RawMessage
			for i := range 5 {
				resp, err := p.Grant(context.Background(), provider.GrantRequest{
					RequestID: "req_" + strconv.Itoa(i), User: "alice@example.com", Access: "deploy",
					ExpiresAt: c.t.Add(time.Hour), SSHPublicKey: key,
				})
				if err != nil {
					t.Fatalf("Grant: %v", err)
				}
				f := filepath.Join(dir, fmt.Sprintf("cert%d", i))
				if err := os.WriteFile(f, resp.Credential.Data, 0o644); err != nil {
					t.Fatal(err)
				}
				files = append(files, f)
				handles = append(handles, resp.Handle)
			}
			entry := func(i int) Revoked {
				r, err := RevokedFromHandle(handles[i])
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			bySerial, byID := entry(1), entry(2)
			bySerial.KeyID, byID.Serial = "", 0
			expired := entry(3)
			expired.ValidBefore = c.t.Add(-time.Minute)
			krl, err := p.KRL([]Revoked{entry(0), bySerial, byID, expired}, 1)
			if err != nil {
				t.Fatal(err)
			}
			krlFile := filepath.Join(dir, "krl")
			if err := os.WriteFile(krlFile, krl, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(keygen, append([]string{"-Q", "-f", krlFile}, files...)...).CombinedOutput()
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				t.Fatalf("ssh-keygen -Q: %v", err)
			}
			want := []string{"REVOKED", "REVOKED", "REVOKED", "ok", "ok"}
			got := queryResults(t, string(out), files)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("ssh-keygen -Q says %q, want %q:\n%s", got, want, out)
			}
			if exit == nil || exit.ExitCode() != 1 {
				t.Errorf("ssh-keygen -Q exit %v, want 1 (some revoked)", err)
			}
		})
	}
}

// queryResults reads ssh-keygen -Q's "FILE (COMMENT): REVOKED|ok" lines in
// the order of files.
func queryResults(t *testing.T, out string, files []string) []string {
	t.Helper()
	got := make([]string, len(files))
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		for i, f := range files {
			if !strings.HasPrefix(line, f+" ") && !strings.HasPrefix(line, f+":") {
				continue
			}
			switch {
			case strings.HasSuffix(line, ": REVOKED"):
				got[i] = "REVOKED"
			case strings.HasSuffix(line, ": ok"):
				got[i] = "ok"
			default:
				t.Errorf("unexpected ssh-keygen -Q line %q", line)
			}
		}
	}
	return got
}

// FuzzKRLRoundTrip builds KRLs from arbitrary entries and reads them back
// with the independent decoder: what comes out is exactly the unexpired
// entries, by CA key, sorted and de-duplicated, whatever their order.
func FuzzKRLRoundTrip(f *testing.F) {
	ca, old := testCAKey(f), testCAKey(f)
	f.Add([]byte{}, int64(0), uint64(1))
	f.Add([]byte("\x00\x00\x00\x00\x00\x00\x00\x01\x05abc\x00\x00\x00\x00\x00\x00\x00\x02\x81"), int64(1700000000), uint64(3))
	f.Add(bytes.Repeat([]byte{0xff, 1, 2, 3, 4, 5, 6, 7, 8, 0x40}, 20), int64(-5), uint64(1<<63))
	f.Add([]byte("\x00\x00\x00\x00\x00\x00\x00\x07\x44\x00\x00\x00\x00\x00\x00\x00\x07\x04\x00\x00\x00\x00\x00\x00\x00\x09\x64"), int64(1700000000), uint64(9))
	f.Fuzz(func(t *testing.T, data []byte, nowSec int64, version uint64) {
		now := time.Unix(nowSec%(1<<40), 0)
		// Each 9-byte chunk is an entry: 8 bytes of serial, then a byte
		// whose low bits pick the expiry, bit 0x40 the old CA key (named
		// by its key, or with 0x20 by its fingerprint alone) and the high
		// bit a key ID.
		var revoked []Revoked
		for len(data) >= 9 {
			serial := binary.BigEndian.Uint64(data[:8])
			sel := data[8]
			data = data[9:]
			r := Revoked{Serial: serial, ValidBefore: now.Add(time.Duration(int(sel&0x7)-3) * time.Minute)}
			if sel&0x80 != 0 || serial == 0 {
				r.KeyID = "jit:u@example.com:req_" + strconv.FormatUint(serial%1000, 10)
			}
			if sel&0x40 != 0 {
				r.CAFingerprint = fingerprint(old)
				if sel&0x20 == 0 {
					r.CAKey = caKeyLine(old)
				}
			}
			revoked = append(revoked, r)
		}
		b, err := BuildKRL(ca, revoked, now, version)
		if err != nil {
			t.Fatalf("BuildKRL: %v", err)
		}
		k, err := decodeKRL(b)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		want := map[string]decodedSection{}
		for i, key := range []ssh.PublicKey{ca, old} {
			isOld := i == 1
			serialSet, idSet := map[uint64]bool{}, map[string]bool{}
			for _, r := range revoked {
				if !r.ValidBefore.After(now) || isOld != (r.CAFingerprint != "") || (isOld && r.CAKey == "") {
					continue
				}
				if r.Serial != 0 {
					serialSet[r.Serial] = true
				}
				if r.KeyID != "" {
					idSet[r.KeyID] = true
				}
			}
			if len(serialSet)+len(idSet) == 0 {
				continue
			}
			s := decodedSection{ca: key.Marshal()}
			for n := range serialSet {
				s.serials = append(s.serials, n)
			}
			sort.Slice(s.serials, func(i, j int) bool { return s.serials[i] < s.serials[j] })
			for id := range idSet {
				s.ids = append(s.ids, id)
			}
			sort.Strings(s.ids)
			want[string(s.ca)] = s
		}
		got := map[string]decodedSection{}
		for _, s := range k.sections() {
			got[string(s.ca)] = s
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip:\n%+v\nwant\n%+v", got, want)
		}
		if k.version != version || (nowSec >= 0 && k.date != uint64(now.Unix())) {
			t.Fatalf("header: version %d date %d", k.version, k.date)
		}
		// Order does not matter.
		reversed := make([]Revoked, len(revoked))
		for i, r := range revoked {
			reversed[len(revoked)-1-i] = r
		}
		again, err := BuildKRL(ca, reversed, now, version)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("not deterministic (%v)", err)
		}
	})
}
