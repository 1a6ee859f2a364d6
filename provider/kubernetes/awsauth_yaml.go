package kubernetes

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// The aws-auth ConfigMap (EKS's original way of mapping IAM principals to
// Kubernetes users) holds in its data keys mapRoles and mapUsers a YAML
// list as a string:
//
//	mapRoles: |
//	  - rolearn: arn:aws:iam::111122223333:role/alice
//	    username: alice@example.com
//	mapUsers: |
//	  - userarn: arn:aws:iam::111122223333:user/bob
//	    username: bob@example.com
//
// The list is edited as text where possible, so that the entries of others
// (and their comments, order and quoting) stay byte for byte as they were:
// jit's entry is appended after the last item, and removed by cutting out
// exactly its lines. Each edit is checked by parsing the result: the list
// must be the old one with exactly that entry added or removed. Where a
// text edit cannot be checked that way (a flow-style list such as "[]", an
// unusual layout) the list is re-encoded from its parsed form, which keeps
// every entry and comment but not necessarily their layout.

// Data keys of the aws-auth ConfigMap and the ARN field of their entries.
const (
	awsAuthRoles = "mapRoles"
	awsAuthUsers = "mapUsers"
)

func arnField(key string) string {
	if key == awsAuthUsers {
		return "userarn"
	}
	return "rolearn"
}

// maxMapText bounds what is parsed (a ConfigMap holds at most 1 MiB).
const maxMapText = 1 << 20

// mapList is a parsed mapRoles or mapUsers value.
type mapList struct {
	doc *yaml.Node // the document, nil for an empty text
	seq *yaml.Node // the list, nil when the text holds none (empty, null)
	// items are the decoded entries.
	items []any
}

// parseMapList parses a mapRoles or mapUsers value. An empty text (or one
// holding only comments, or null) is an empty list; anything else that is
// not a YAML list is an error, and jit then leaves the key alone.
func parseMapList(text string) (*mapList, error) {
	if len(text) > maxMapText {
		return nil, fmt.Errorf("is longer than %d bytes", maxMapText)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(strings.NewReader(text))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			// No document at all: empty, or comments only.
			return &mapList{}, nil
		}
		return nil, fmt.Errorf("is not valid YAML: %v", err)
	}
	// A second document would be invisible to the EKS authenticator's
	// parser and to this check alike: refuse to guess.
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, errors.New("holds more than one YAML document")
	}
	l := &mapList{doc: &doc}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return l, nil
	}
	n := doc.Content[0]
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return l, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, errors.New("is not a YAML list")
	}
	l.seq = n
	if err := n.Decode(&l.items); err != nil {
		return nil, fmt.Errorf("cannot be decoded: %v", err)
	}
	return l, nil
}

// usernames returns the user names the list maps arn to (in the key's ARN
// field), in order. ARNs are compared without case, as the EKS
// authenticator does (IAM role and user names are unique without case):
// an entry for role/Alice maps role/alice too.
func (l *mapList) usernames(field, arn string) []string {
	var out []string
	for _, it := range l.items {
		m, ok := it.(map[string]any)
		if !ok {
			continue
		}
		if a, _ := m[field].(string); strings.EqualFold(a, arn) {
			u, _ := m["username"].(string)
			out = append(out, u)
		}
	}
	return out
}

// entryMap is the decoded form of jit's entry.
func entryMap(field, arn, username string) map[string]any {
	return map[string]any{field: arn, "username": username}
}

// renderEntry renders jit's entry as a list item at the given indentation,
// quoting the values as YAML requires.
func renderEntry(field, arn, username, indent string) (string, error) {
	m := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
		{Kind: yaml.ScalarNode, Value: field},
		{Kind: yaml.ScalarNode, Value: arn},
		{Kind: yaml.ScalarNode, Value: "username"},
		{Kind: yaml.ScalarNode, Value: username},
	}}
	b, err := yaml.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encoding the aws-auth entry: %w", err)
	}
	lines := strings.SplitAfter(strings.TrimRight(string(b), "\n")+"\n", "\n")
	var sb strings.Builder
	for i, ln := range lines {
		if ln == "" {
			continue
		}
		sb.WriteString(indent)
		if i == 0 {
			sb.WriteString("- ")
		} else {
			sb.WriteString("  ")
		}
		sb.WriteString(ln)
	}
	return sb.String(), nil
}

// isEmptyText reports whether text holds no YAML content: white space and
// comments only.
func isEmptyText(text string) bool {
	for _, ln := range strings.Split(text, "\n") {
		t := strings.TrimSpace(ln)
		if t != "" && !strings.HasPrefix(t, "#") {
			return false
		}
	}
	return true
}

// appendEntry returns text with jit's entry added as the last item.
func appendEntry(text, field, arn, username string) (string, error) {
	l, err := parseMapList(text)
	if err != nil {
		return "", err
	}
	want := append(append([]any(nil), l.items...), entryMap(field, arn, username))
	switch {
	case l.seq == nil && isEmptyText(text):
		// Keep comments; add the list after them.
		entry, err := renderEntry(field, arn, username, "")
		if err != nil {
			return "", err
		}
		out := text
		if out != "" && !strings.HasSuffix(out, "\n") {
			out += "\n"
		}
		if strings.TrimSpace(out) == "" {
			out = ""
		}
		out += entry
		if sameList(out, want) {
			return out, nil
		}
	case l.seq != nil && l.seq.Style&yaml.FlowStyle == 0 && len(l.seq.Content) > 0 && l.seq.Column >= 1:
		entry, err := renderEntry(field, arn, username, strings.Repeat(" ", l.seq.Column-1))
		if err != nil {
			return "", err
		}
		out := text
		if !strings.HasSuffix(out, "\n") {
			out += "\n"
		}
		out += entry
		if sameList(out, want) {
			return out, nil
		}
	}
	// Re-encode: the layout could not be kept.
	doc := l.doc
	if doc == nil || doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		doc = &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.SequenceNode, Tag: "!!seq"}}}
	}
	seq := doc.Content[0]
	if seq.Kind != yaml.SequenceNode {
		*seq = yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", HeadComment: seq.HeadComment}
	}
	seq.Style = 0
	seq.Content = append(seq.Content, &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{
		{Kind: yaml.ScalarNode, Tag: "!!str", Value: field},
		{Kind: yaml.ScalarNode, Tag: "!!str", Value: arn},
		{Kind: yaml.ScalarNode, Tag: "!!str", Value: "username"},
		{Kind: yaml.ScalarNode, Tag: "!!str", Value: username},
	}})
	out, err := encodeDoc(doc)
	if err != nil {
		return "", err
	}
	if !sameList(out, want) {
		return "", errors.New("adding the entry would change other entries; left alone")
	}
	return out, nil
}

// removeEntry returns text without jit's entry (the last one mapping arn
// to username) and whether there was one. It also reports whether the list
// is now empty.
func removeEntry(text, field, arn, username string) (out string, removed, empty bool, err error) {
	l, err := parseMapList(text)
	if err != nil {
		return "", false, false, err
	}
	idx := -1
	for i, it := range l.items {
		if m, ok := it.(map[string]any); ok && reflect.DeepEqual(m, entryMap(field, arn, username)) {
			idx = i
		}
	}
	if idx < 0 {
		// Someone else may have added fields (groups) to jit's entry:
		// it is still the principal's mapping to username.
		for i, it := range l.items {
			if m, ok := it.(map[string]any); ok && m["username"] == username {
				if a, _ := m[field].(string); !strings.EqualFold(a, arn) {
					continue
				}
				idx = i
			}
		}
	}
	if idx < 0 {
		return text, false, len(l.items) == 0, nil
	}
	want := append(append([]any(nil), l.items[:idx]...), l.items[idx+1:]...)
	if out, ok := cutItem(text, l, idx); ok && sameList(out, want) {
		if len(want) == 0 && isEmptyText(out) && strings.TrimSpace(out) == "" {
			out = ""
		}
		return out, true, len(want) == 0, nil
	}
	seq := l.seq
	seq.Content = append(seq.Content[:idx:idx], seq.Content[idx+1:]...)
	if len(seq.Content) == 0 {
		seq.Style = yaml.FlowStyle
	}
	out, err = encodeDoc(l.doc)
	if err != nil {
		return "", false, false, err
	}
	if !sameList(out, want) {
		return "", false, false, errors.New("removing the entry would change other entries; left alone")
	}
	return out, true, len(want) == 0, nil
}

// cutItem removes the lines of item idx of a block list: from its dash to
// the last following line indented deeper than the dash (blank lines and
// comments at the dash's level stay with what follows).
func cutItem(text string, l *mapList, idx int) (string, bool) {
	if l.seq == nil || l.seq.Style&yaml.FlowStyle != 0 || idx >= len(l.seq.Content) {
		return "", false
	}
	item := l.seq.Content[idx]
	lines := strings.SplitAfter(text, "\n")
	start := item.Line - 1
	dashCol := l.seq.Column - 1
	if start < 0 || start >= len(lines) || dashCol < 0 {
		return "", false
	}
	ln := lines[start]
	if indentOf(ln) != dashCol || !strings.HasPrefix(ln[dashCol:], "-") {
		return "", false
	}
	limit := len(lines)
	if idx+1 < len(l.seq.Content) {
		limit = l.seq.Content[idx+1].Line - 1
	}
	end := start + 1
	for end < limit {
		ln := lines[end]
		if strings.TrimSpace(ln) == "" || indentOf(ln) <= dashCol {
			break
		}
		end++
	}
	return strings.Join(lines[:start], "") + strings.Join(lines[end:], ""), true
}

func indentOf(s string) int { return len(s) - len(strings.TrimLeft(s, " ")) }

// sameList reports whether text parses to exactly want.
func sameList(text string, want []any) bool {
	l, err := parseMapList(text)
	if err != nil {
		return false
	}
	if len(l.items) == 0 && len(want) == 0 {
		return true
	}
	return reflect.DeepEqual(l.items, want)
}

func encodeDoc(doc *yaml.Node) (string, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return "", fmt.Errorf("encoding the aws-auth list: %w", err)
	}
	if err := enc.Close(); err != nil {
		return "", fmt.Errorf("encoding the aws-auth list: %w", err)
	}
	return b.String(), nil
}
