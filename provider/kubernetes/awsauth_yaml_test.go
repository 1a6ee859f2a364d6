package kubernetes

import (
	"reflect"
	"strings"
	"testing"
)

const (
	testARN  = "arn:aws:iam::111122223333:role/alice"
	testUser = "alice@example.com"
	jitItem  = "- rolearn: arn:aws:iam::111122223333:role/alice\n  username: alice@example.com\n"
)

func TestAppendRemoveEntry(t *testing.T) {
	tests := []struct {
		name string
		in   string
		// want is the text after appending; "" means it is re-encoded
		// and only its parsed form is checked.
		want string
	}{
		{name: "empty", in: "", want: jitItem},
		{name: "comment only", in: "# mapped by hand\n", want: "# mapped by hand\n" + jitItem},
		{name: "block list", in: "- rolearn: arn:aws:iam::111122223333:role/ops\n  username: ops\n", want: "- rolearn: arn:aws:iam::111122223333:role/ops\n  username: ops\n" + jitItem},
		{name: "no final newline", in: "- rolearn: x\n  username: y", want: "- rolearn: x\n  username: y\n" + jitItem},
		{name: "indented list", in: "    - rolearn: x\n      username: y\n", want: "    - rolearn: x\n      username: y\n    - rolearn: arn:aws:iam::111122223333:role/alice\n      username: alice@example.com\n"},
		{name: "comments and quoting kept", in: "# nodes\n- groups:\n  - system:nodes\n  rolearn: \"arn:aws:iam::111122223333:role/n\" # node role\n  username: 'system:node:{{EC2PrivateDNSName}}'\n\n# end\n",
			want: "# nodes\n- groups:\n  - system:nodes\n  rolearn: \"arn:aws:iam::111122223333:role/n\" # node role\n  username: 'system:node:{{EC2PrivateDNSName}}'\n\n# end\n" + jitItem},
		{name: "flow empty", in: "[]\n"},
		{name: "flow list", in: "[{rolearn: x, username: y}]\n"},
		{name: "null", in: "null\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, err := parseMapList(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			out, err := appendEntry(tc.in, "rolearn", testARN, testUser)
			if err != nil {
				t.Fatalf("appendEntry: %v", err)
			}
			if tc.want != "" && out != tc.want {
				t.Fatalf("appendEntry =\n%q\nwant\n%q", out, tc.want)
			}
			after, err := parseMapList(out)
			if err != nil {
				t.Fatal(err)
			}
			want := append(append([]any(nil), before.items...), entryMap("rolearn", testARN, testUser))
			if !reflect.DeepEqual(after.items, want) {
				t.Fatalf("appended list = %v, want %v", after.items, want)
			}
			back, removed, empty, err := removeEntry(out, "rolearn", testARN, testUser)
			if err != nil || !removed || empty != (len(before.items) == 0) {
				t.Fatalf("removeEntry = %v, %v, %v", removed, empty, err)
			}
			if tc.want != "" && strings.TrimRight(back, "\n") != strings.TrimRight(tc.in, "\n") {
				t.Fatalf("removeEntry =\n%q\nwant the original\n%q", back, tc.in)
			}
			if !sameList(back, before.items) {
				t.Fatalf("removeEntry left %q", back)
			}
		})
	}
}

func TestRemoveEntryFromTheMiddle(t *testing.T) {
	ops := "- rolearn: arn:aws:iam::111122223333:role/ops # ops\n  username: ops\n  groups:\n    - system:masters\n"
	in := ops + jitItem + "# bob, by hand\n" + "- rolearn: arn:aws:iam::111122223333:role/bob\n  username: bob\n"
	out, removed, empty, err := removeEntry(in, "rolearn", testARN, testUser)
	if err != nil || !removed || empty {
		t.Fatalf("removeEntry = %v, %v, %v", removed, empty, err)
	}
	if want := ops + "# bob, by hand\n" + "- rolearn: arn:aws:iam::111122223333:role/bob\n  username: bob\n"; out != want {
		t.Fatalf("removeEntry =\n%s\nwant\n%s", out, want)
	}
	// Someone added groups to jit's entry: it is still jit's to remove.
	edited := ops + "- rolearn: arn:aws:iam::111122223333:role/alice\n  username: alice@example.com\n  groups: [viewers]\n"
	out, removed, _, err = removeEntry(edited, "rolearn", testARN, testUser)
	if err != nil || !removed || out != ops {
		t.Fatalf("removeEntry of an edited entry = %q, %v, %v", out, removed, err)
	}
	// Nothing to remove: the text is returned as it is.
	out, removed, _, err = removeEntry(ops, "rolearn", testARN, testUser)
	if err != nil || removed || out != ops {
		t.Fatalf("removeEntry without the entry = %q, %v, %v", out, removed, err)
	}
}

func TestMapListRefusesWhatItCannotEdit(t *testing.T) {
	for name, in := range map[string]string{
		"a map":           "rolearn: x\nusername: y\n",
		"a scalar":        "hello\n",
		"two documents":   "- rolearn: x\n---\n- rolearn: y\n",
		"invalid":         "- [unclosed\n",
		"tabs for indent": "- rolearn: x\n\tusername: y\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := appendEntry(in, "rolearn", testARN, testUser); err == nil {
				t.Fatalf("appendEntry accepted %q", in)
			}
			if _, _, _, err := removeEntry(in, "rolearn", testARN, testUser); err == nil {
				t.Fatalf("removeEntry accepted %q", in)
			}
		})
	}
}

func TestRenderEntryQuotes(t *testing.T) {
	// A user prefix with ':' and a name YAML would read as something else.
	out, err := appendEntry("", "userarn", "arn:aws:iam::111122223333:user/yes", "oidc:true")
	if err != nil {
		t.Fatal(err)
	}
	l, err := parseMapList(out)
	if err != nil || !reflect.DeepEqual(l.items, []any{entryMap("userarn", "arn:aws:iam::111122223333:user/yes", "oidc:true")}) {
		t.Fatalf("%q parses to %v, %v", out, l, err)
	}
	out, err = appendEntry("", "rolearn", testARN, "true")
	if err != nil || !strings.Contains(out, `"true"`) {
		t.Fatalf("a user named true is not quoted: %q, %v", out, err)
	}
}

// FuzzAWSAuthEdit edits arbitrary mapRoles texts: whatever the input, an
// edit either refuses or changes exactly jit's entry, and removing it
// again gives back the original list.
func FuzzAWSAuthEdit(f *testing.F) {
	for _, s := range []string{"", "[]", "- rolearn: x\n  username: y\n", "# c\n- {rolearn: a, username: b}\n", "  - a\n  - b\n", "- rolearn: x\n  username: y\n  groups:\n  - g\n"} {
		f.Add(s, "alice@example.com")
	}
	f.Fuzz(func(t *testing.T, text, username string) {
		before, err := parseMapList(text)
		if err != nil {
			return
		}
		out, err := appendEntry(text, "rolearn", testARN, username)
		if err != nil {
			return
		}
		want := append(append([]any(nil), before.items...), entryMap("rolearn", testARN, username))
		if !sameList(out, want) {
			t.Fatalf("appendEntry(%q) = %q: not the old list plus the entry", text, out)
		}
		back, removed, _, err := removeEntry(out, "rolearn", testARN, username)
		if err != nil || !removed {
			t.Fatalf("removeEntry(%q) = %v, %v", out, removed, err)
		}
		if !sameList(back, before.items) {
			t.Fatalf("removeEntry(%q) = %q: not the original list", out, back)
		}
	})
}
