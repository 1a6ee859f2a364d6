package azure

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"

	"github.com/jitaccess/jit/provider"
)

func TestParseScope(t *testing.T) {
	good := map[string]string{
		"/subscriptions/" + strings.ToUpper(testSub):                                                                             "/subscriptions/" + testSub,
		"/SUBSCRIPTIONS/" + testSub + "/resourcegroups/My-RG_(1).x":                                                              "/subscriptions/" + testSub + "/resourceGroups/My-RG_(1).x",
		"/subscriptions/" + testSub + "/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/logs":                      "/subscriptions/" + testSub + "/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/logs",
		"/subscriptions/" + testSub + "/resourceGroups/rg/Providers/Microsoft.Storage/storageAccounts/logs/blobServices/default": "/subscriptions/" + testSub + "/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/logs/blobServices/default",
	}
	for in, want := range good {
		s, err := ParseScope(in)
		if err != nil {
			t.Errorf("ParseScope(%q): %v", in, err)
			continue
		}
		if s.String() != want {
			t.Errorf("ParseScope(%q) = %q, want %q", in, s, want)
		}
	}
	bad := []string{
		"", "subscriptions/" + testSub, "/subscriptions/" + testSub + "/", "/subscriptions/not-a-guid",
		"/subscriptions//" + testSub, "/subscriptions/" + testSub + "/resourceGroups",
		"/subscriptions/" + testSub + "/resourceGroups/rg.", "/subscriptions/" + testSub + "/resourceGroups/a b",
		"/subscriptions/" + testSub + "/resourceGroups/..", "/subscriptions/" + testSub + "/resourceGroups/rg/..",
		"/subscriptions/" + testSub + "/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts",
		"/subscriptions/" + testSub + "/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/..",
		"/subscriptions/" + testSub + "/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a%2F..",
		"/subscriptions/" + testSub + "/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a?x=1",
		"/subscriptions/" + testSub + "/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a#x",
		"/subscriptions/" + testSub + "/resourceGroups/rg/providers/Microsoft.Authorization/roleAssignments/x",
		"/subscriptions/" + testSub + "/resourceGroups/rg/providers/Storage/storageAccounts/x",
		"/subscriptions/" + testSub + "/providers/Microsoft.Storage/storageAccounts/x",
		"/providers/Microsoft.Management/managementGroups/corp",
		"/subscriptions/" + testSub + "/resourceGroups/" + strings.Repeat("r", 91),
		"/subscriptions/" + testSub + "/resourceGroups/rg/providers/A.B" + strings.Repeat("/t/n", 9),
	}
	for _, in := range bad {
		if s, err := ParseScope(in); err == nil {
			t.Errorf("ParseScope(%q) = %q; want an error", in, s)
		}
	}
}

// FuzzParseScope checks that every accepted scope is canonical (parsing
// its String gives it back), free of what would change a request URL, and
// no longer than the limit.
func FuzzParseScope(f *testing.F) {
	for _, s := range []string{
		"/subscriptions/" + testSub, testScope, testScope + "/providers/Microsoft.Web/sites/app/slots/staging",
		"/subscriptions/" + testSub + "/resourceGroups/../x", "/", "//", "/subscriptions/" + testSub + "/resourceGroups/rg/providers/a.b/c/%2e%2e",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseScope(in)
		if err != nil {
			if msg := err.Error(); len(msg) > 200 {
				t.Fatalf("error too long: %q", msg)
			}
			return
		}
		out := s.String()
		if !strings.EqualFold(out, in) {
			t.Fatalf("ParseScope(%q).String() = %q differs beyond case", in, out)
		}
		again, err := ParseScope(out)
		if err != nil || again.String() != out {
			t.Fatalf("canonical form %q does not parse to itself: %v", out, err)
		}
		if strings.ContainsAny(out, "?#%\\ \x00") || strings.Contains(out, "//") || strings.Contains(out, "/./") || strings.Contains(out, "/../") || len(out) > maxScopeLength {
			t.Fatalf("accepted %q", out)
		}
	})
}

func TestParseRoleRef(t *testing.T) {
	good := map[string]roleRef{
		"Reader":                    {name: "Reader"},
		"Storage Blob Data Reader":  {name: "Storage Blob Data Reader"},
		"O'Brien's Role":            {name: "O'Brien's Role"},
		strings.ToUpper(readerGUID): {guid: readerGUID},
		"/providers/Microsoft.Authorization/roleDefinitions/" + readerGUID:                               {guid: readerGUID},
		"/subscriptions/" + testSub + "/providers/microsoft.authorization/roleDefinitions/" + readerGUID: {guid: readerGUID},
	}
	for in, want := range good {
		got, err := parseRoleRef(in, testSub)
		if err != nil || got != want {
			t.Errorf("parseRoleRef(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	bad := []string{
		"", " Reader", "Reader\n", "Read\x00er", strings.Repeat("r", 257),
		"/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Authorization/roleDefinitions/" + readerGUID,
		"/subscriptions/" + testSub + "/providers/Microsoft.Authorization/roleAssignments/" + readerGUID,
		"/providers/Microsoft.Authorization/roleDefinitions/not-a-guid", "/" + readerGUID,
	}
	for _, in := range bad {
		if got, err := parseRoleRef(in, testSub); err == nil {
			t.Errorf("parseRoleRef(%q) = %+v; want an error", in, got)
		}
	}
	if q := odataString("O'Brien"); q != "'O''Brien'" {
		t.Errorf("odataString = %s", q)
	}
}

// FuzzParseRoleRef checks that an accepted role is a lower-case GUID or a
// printable name, and that its OData literal cannot end early.
func FuzzParseRoleRef(f *testing.F) {
	for _, s := range []string{"Reader", readerGUID, "/providers/Microsoft.Authorization/roleDefinitions/" + readerGUID, "a' or 1 eq 1 or 'b", "/x/y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r, err := parseRoleRef(in, testSub)
		if err != nil {
			return
		}
		switch {
		case r.guid != "":
			if g, err := parseGUID(r.guid); err != nil || g != r.guid || r.name != "" {
				t.Fatalf("parseRoleRef(%q) = %+v", in, r)
			}
		default:
			if r.name != in || !utf8.ValidString(r.name) || strings.TrimSpace(r.name) != r.name {
				t.Fatalf("parseRoleRef(%q) = %+v", in, r)
			}
			lit := odataString(r.name)
			inner := lit[1 : len(lit)-1]
			if strings.Count(strings.ReplaceAll(inner, "''", ""), "'") != 0 {
				t.Fatalf("OData literal %s can end early", lit)
			}
		}
	})
}

func TestRecordRoundTrip(t *testing.T) {
	exp := time.Unix(1767261600, 0).UTC()
	r := record{op: "req_b", claims: []claim{{"req_a", exp}, {"req_b", exp.Add(time.Hour)}}}
	j := r.justification("alice@example.com", "INC-42\nline two "+strings.Repeat("x", 600))
	if utf8.RuneCountInString(j) > maxJustification {
		t.Fatalf("justification has %d runes", utf8.RuneCountInString(j))
	}
	if strings.Contains(j, "\n") {
		t.Errorf("justification keeps a newline: %q", j)
	}
	got, ok := parseRecord(j)
	if !ok || got.op != "req_b" || len(got.claims) != 2 || !got.claims[1].expires.Equal(exp.Add(time.Hour)) {
		t.Fatalf("parseRecord(%q) = %+v, %v", j, got, ok)
	}
	// The largest record fits whole, with the user and reason cut.
	big := record{op: strings.Repeat("o", maxRequestID)}
	for i := 0; i < maxClaims; i++ {
		big.claims = append(big.claims, claim{strings.Repeat(string(rune('a'+i)), maxRequestID), exp})
	}
	bj := big.justification(strings.Repeat("u", 300)+"@example.com", strings.Repeat("r", 1000))
	if back, ok := parseRecord(bj); !ok || len(back.claims) != maxClaims {
		t.Fatalf("largest record does not survive: %q", bj)
	}
	for _, s := range []string{"", "jit", "jit x", "jit x [a@1", "jit x [a@b]", "jit x [a@1 a@2]", "jit x y [a@1]", "jit [a@1]", "jit x [a@-1]",
		"jit x [a@1 b@1 c@1 d@1 e@1]", "jit request lookalike [x@1] by hand"} {
		if r, ok := parseRecord(s); ok && s != "jit request lookalike [x@1] by hand" {
			t.Errorf("parseRecord(%q) = %+v; want refused", s, r)
		}
	}
	// A lookalike may parse, but it does not name the request that made it.
	if r, ok := parseRecord("jit request lookalike [x@1] by hand"); ok && r.createdBy("00000000-0000-0000-0000-000000000000") {
		t.Error("lookalike taken for jit's")
	}
}

// FuzzParseRecord checks that justifications read back from Azure never
// yield IDs jit would not write, nor more claims than it writes.
func FuzzParseRecord(f *testing.F) {
	f.Add("jit req_1 [req_1@1767261600] for alice@example.com: why")
	f.Add("jit a [b@1 c@2]")
	f.Add("jit a []")
	f.Fuzz(func(t *testing.T, s string) {
		r, ok := parseRecord(s)
		if !ok {
			return
		}
		if checkRequestID(r.op) != nil || len(r.claims) > maxClaims {
			t.Fatalf("parseRecord(%q) = %+v", s, r)
		}
		for _, c := range r.claims {
			if checkRequestID(c.id) != nil {
				t.Fatalf("claim %q", c.id)
			}
		}
		back, ok := parseRecord(r.justification("", ""))
		if !ok || back.op != r.op || len(back.claims) != len(r.claims) {
			t.Fatalf("record %+v does not round-trip", r)
		}
	})
}

func TestEscalation(t *testing.T) {
	def := func(name string, actions, not []string) *armauthorization.RoleDefinition {
		p := &armauthorization.Permission{}
		for _, a := range actions {
			p.Actions = append(p.Actions, ptr(a))
		}
		for _, a := range not {
			p.NotActions = append(p.NotActions, ptr(a))
		}
		return &armauthorization.RoleDefinition{Name: ptr("0a1b2c3d-0000-4000-8000-00000000ffff"), Properties: &armauthorization.RoleDefinitionProperties{RoleName: ptr(name), Permissions: []*armauthorization.Permission{p}}}
	}
	cases := []struct {
		d    *armauthorization.RoleDefinition
		want bool
	}{
		{def("Reader", []string{"*/read"}, nil), false},
		{def("Web", []string{"Microsoft.Web/*"}, nil), false},
		{def("All", []string{"*"}, nil), true},
		{def("Contributor-like", []string{"*"}, []string{"Microsoft.Authorization/*/Write"}), true},
		{def("Auth", []string{"Microsoft.Authorization/*"}, nil), true},
		{def("AuthWrite", []string{"microsoft.authorization/*/WRITE"}, nil), true},
		{def("Assign", []string{"Microsoft.Authorization/roleAssignments/write"}, nil), true},
		{def("PIM", []string{"Microsoft.Authorization/roleAssignmentScheduleRequests/*"}, nil), true},
		{def("Elevate", []string{"Microsoft.Authorization/elevateAccess/Action"}, nil), true},
		{def("AuthNotWrite", []string{"Microsoft.Authorization/*"}, []string{"Microsoft.Authorization/*/write", "Microsoft.Authorization/elevateAccess/action"}), false},
		{def("AuthRead", []string{"Microsoft.Authorization/*/read"}, nil), false},
		{def("owner", []string{"*/read"}, nil), true},
		// "*" in other spellings, with Contributor's notActions.
		{def("StarSlashStar", []string{"*/*"}, []string{"Microsoft.Authorization/*/Write", "Microsoft.Authorization/*/Delete", "Microsoft.Authorization/elevateAccess/Action"}), true},
		{def("AllMicrosoft", []string{"Microsoft.*"}, []string{"Microsoft.Authorization/*/Write", "Microsoft.Authorization/elevateAccess/Action"}), true},
		{def("DoubleStar", []string{"**"}, []string{"Microsoft.Authorization/*/Write", "Microsoft.Authorization/elevateAccess/Action"}), true},
		{def("Spaced", []string{" * "}, []string{"Microsoft.Authorization/*/Write", "Microsoft.Authorization/elevateAccess/Action"}), true},
		{def("AllWrites", []string{"*/write", "*/read"}, []string{"Microsoft.Authorization/*/Write"}), false},
	}
	for _, c := range cases {
		got := escalation(c.d)
		if (got != "") != c.want {
			t.Errorf("escalation(%s) = %q, want escalation %v", *c.d.Properties.RoleName, got, c.want)
		}
	}
	if escalation(&armauthorization.RoleDefinition{Name: ptr(ownerGUID)}) == "" {
		t.Error("Owner's GUID alone is not refused")
	}
	for _, m := range []struct {
		p, op string
		want  bool
	}{{"a*", "abc", true}, {"*c", "abc", true}, {"a*c*e", "abcde", true}, {"a*a", "a", false}, {"ab*b", "ab", false}, {"*", "", true}, {"a/*/w", "a/x/y/w", true}} {
		if got := actionMatch(m.p, m.op); got != m.want {
			t.Errorf("actionMatch(%q, %q) = %v", m.p, m.op, got)
		}
	}
}

func TestISODuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour: "PT1H", 90 * time.Minute: "PT1H30M", time.Hour - time.Second: "PT59M59S",
		36 * time.Hour: "PT36H", 1500 * time.Millisecond: "PT1S", 0: "PT0S", -time.Second: "PT0S",
	} {
		if got := isoDuration(d); got != want {
			t.Errorf("isoDuration(%v) = %s, want %s", d, got, want)
		}
		if back, ok := parseISODuration(want); want != "PT0S" && (!ok || back != d.Truncate(time.Second)) {
			t.Errorf("%s reads back as %v", want, back)
		}
	}
}

func TestSettings(t *testing.T) {
	e := newEnv(t)
	ok := e.settings(nil)
	if _, err := parseConfig(provider.Resource{Name: "az", Settings: ok, Access: []string{"read", "ops"}}); err != nil {
		t.Fatalf("good settings: %v", err)
	}
	cases := []struct {
		over map[string]any
		want string
	}{
		{map[string]any{"tenant_id": nil}, `"tenant_id": is required`},
		{map[string]any{"tenant_id": "evil/../x"}, `"tenant_id"`},
		{map[string]any{"client_id": "app"}, `"client_id"`},
		{map[string]any{"client_secret_file": nil}, "one of client_secret_file and client_secret_env"},
		{map[string]any{"client_secret_env": "AZ_SECRET"}, "only one of"},
		{map[string]any{"client_secret_file": nil, "client_secret_env": "NOT A NAME"}, "environment variable name"},
		{map[string]any{"client_secret": "inline"}, `"client_secret": unknown setting`},
		{map[string]any{"scope": "/subscriptions/x"}, `"scope"`},
		{map[string]any{"roles": nil}, `"roles": is required`},
		{map[string]any{"roles": map[string]any{"read": "Owner"}}, "can grant access to others"},
		{map[string]any{"roles": map[string]any{"read": ownerGUID}}, "can grant access to others"},
		{map[string]any{"roles": map[string]any{"read": "Reader\x00"}}, "control"},
		{map[string]any{"roles": map[string]any{"write": "Reader"}}, `access level "read" of the resource has no role`},
		{map[string]any{"mode": "activate"}, "SelfActivate"},
		{map[string]any{"mode": "sometimes"}, `"mode"`},
		{map[string]any{"principals": map[string]any{"alice@example.com": "not-a-guid"}}, "not a GUID"},
		{map[string]any{"principals": map[string]any{"alice@example.com": aliceOID, "ALICE@example.com": bobOID}}, "listed twice"},
		{map[string]any{"principals": nil}, "principal_lookup: graph"},
		{map[string]any{"principal_lookup": "ldap"}, `"principal_lookup"`},
		{map[string]any{"arm_endpoint": "http://management.azure.com"}, "https"},
		{map[string]any{"allow_roles": []any{"/bad"}}, `"allow_roles"`},
	}
	for _, c := range cases {
		_, err := parseConfig(provider.Resource{Name: "az", Settings: e.settings(c.over), Access: []string{"read"}})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("settings %v: error %v, want it to contain %q", c.over, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), testSecret) {
			t.Errorf("settings error reveals the secret: %v", err)
		}
	}
	// Owner by GUID, allowed by name; and by name, allowed by GUID.
	for _, over := range []map[string]any{
		{"roles": map[string]any{"read": ownerGUID}, "allow_roles": []any{"owner"}},
		{"roles": map[string]any{"read": "Owner"}, "allow_roles": []any{ownerGUID}},
	} {
		if _, err := parseConfig(provider.Resource{Name: "az", Settings: e.settings(over), Access: []string{"read"}}); err != nil {
			t.Errorf("settings %v: %v", over, err)
		}
	}
}

func TestCheckEmail(t *testing.T) {
	for _, s := range []string{"alice@example.com", "a.b+c@x.y", "o'neil@example.com"} {
		if err := checkEmail(s); err != nil {
			t.Errorf("checkEmail(%q): %v", s, err)
		}
	}
	for _, s := range []string{"", "alice", "a@b@c", "@x", "a@", "$a@x", "a/b@x", "a?b@x", "a%2f@x", "a b@x", "a\\b@x", "ä@x"} {
		if err := checkEmail(s); err == nil {
			t.Errorf("checkEmail(%q) accepted", s)
		}
	}
}
