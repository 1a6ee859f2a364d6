package policy

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jitaccess/jit"
	"gopkg.in/yaml.v3"
)

// The config is decoded by walking yaml.v3's node tree by hand rather than
// with yaml's struct decoding: that is what lets the loader report every
// problem (not just the first) with the line it is on, and word each
// message for a person editing jit.yaml rather than in terms of Go types.

// decoder collects problems while walking the tree.
type decoder struct {
	problems []Problem
	// merges counts merge-key expansions; a hostile file could nest them
	// to make expansion exponential, so it is capped.
	merges int
	// keyLine is the line of the key whose handler fields is running, for
	// problems about a value as a whole ("proxy: jwks_url is required"):
	// the key's line is where a person looks, not the line where a block
	// mapping's first entry happens to start.
	keyLine int
}

const maxMerges = 10000

func (d *decoder) addf(line int, format string, args ...any) {
	d.problems = append(d.problems, Problem{Line: line, Message: fmt.Sprintf(format, args...)})
}

// maxAliasDepth bounds alias chains; yaml.v3 already refuses cycles, this
// only keeps a pathological chain from costing much.
const maxAliasDepth = 32

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < maxAliasDepth; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// kindName says what a node is, for "expected X, got Y" messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "nothing"
		case "!!int":
			return "the integer " + n.Value
		case "!!bool":
			return "the boolean " + n.Value
		case "!!float":
			return "the number " + n.Value
		}
		return strconv.Quote(n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "an unknown node"
}

// pair is one key/value of a mapping, with merged ("<<") entries expanded.
type pair struct {
	key   *yaml.Node
	value *yaml.Node
}

// pairs returns the key/value pairs of mapping n, expanding YAML merge keys
// ("<<: *base") so that shared rule fragments work; keys written in the
// mapping itself override merged ones.
func (d *decoder) pairs(n *yaml.Node, depth int) []pair {
	var explicit, merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			d.merges++
			if depth >= maxAliasDepth || d.merges > maxMerges {
				d.addf(k.Line, "merge keys (<<) nest too deeply or are used too often")
				continue
			}
			src := resolve(v)
			var maps []*yaml.Node
			switch src.Kind {
			case yaml.MappingNode:
				maps = []*yaml.Node{src}
			case yaml.SequenceNode:
				for _, m := range src.Content {
					maps = append(maps, resolve(m))
				}
			}
			for _, m := range maps {
				if m == nil || m.Kind != yaml.MappingNode {
					d.addf(k.Line, "a merge key (<<) must refer to a mapping or a list of mappings")
					continue
				}
				for _, p := range d.pairs(m, depth+1) {
					// The first mapping merged wins, as YAML specifies.
					if !hasKey(merged, p.key.Value) {
						merged = append(merged, p)
					}
				}
			}
			continue
		}
		explicit = append(explicit, pair{k, v})
	}
	out := explicit
	for _, p := range merged {
		if !hasKey(explicit, p.key.Value) {
			out = append(out, p)
		}
	}
	return out
}

func hasKey(ps []pair, key string) bool {
	for _, p := range ps {
		if p.key.Value == key {
			return true
		}
	}
	return false
}

// fields walks mapping n. Each key must be one of handlers' keys; its
// handler is called with the value (null values are skipped, so "key:"
// with nothing after it means "not set"). Unknown and duplicate keys are
// reported. It returns false, after reporting, when n is not a mapping.
func (d *decoder) fields(n *yaml.Node, where string, handlers map[string]func(v *yaml.Node)) bool {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		line := 0
		if n != nil {
			line = n.Line
		}
		d.addf(line, "%s: expected a mapping, got %s", where, kindName(n))
		return false
	}
	seen := map[string]int{}
	for _, p := range d.pairs(n, 0) {
		k := resolve(p.key)
		if k == nil || k.Kind != yaml.ScalarNode {
			d.addf(p.key.Line, "%s: keys must be plain names", where)
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.addf(k.Line, "%s: key %q appears twice (first on line %d)", where, k.Value, first)
			continue
		}
		seen[k.Value] = k.Line
		h, ok := handlers[k.Value]
		if !ok {
			d.addf(k.Line, "%s: unknown key %q (expected one of: %s)", where, k.Value, strings.Join(sortedKeys(handlers), ", "))
			continue
		}
		if isNull(p.value) {
			continue
		}
		d.keyLine = k.Line
		h(p.value)
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// text is a string value with the line it came from.
type text struct {
	v    string
	line int
}

// str reads a scalar as a string. Numbers and booleans are accepted and
// kept as written, so that `name: 2024` means the name "2024".
func (d *decoder) str(n *yaml.Node, where string) (text, bool) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode {
		d.addf(n.Line, "%s: expected a string, got %s", where, kindName(n))
		return text{line: n.Line}, false
	}
	if n.Tag == "!!null" {
		return text{line: n.Line}, true
	}
	return text{v: n.Value, line: n.Line}, true
}

func (d *decoder) boolean(n *yaml.Node, where string) (bool, bool) {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!bool" {
		var b bool
		if err := n.Decode(&b); err == nil {
			return b, true
		}
	}
	d.addf(n.Line, "%s: expected true or false, got %s", where, kindName(n))
	return false, false
}

// integer reads an int in [lo, hi].
func (d *decoder) integer(n *yaml.Node, where string, lo, hi int) (int, bool) {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!int" {
		var i int64
		if err := n.Decode(&i); err == nil {
			if i < int64(lo) || i > int64(hi) {
				d.addf(n.Line, "%s: %d is out of range (%d to %d)", where, i, lo, hi)
				return 0, false
			}
			return int(i), true
		}
	}
	d.addf(n.Line, "%s: expected an integer, got %s", where, kindName(n))
	return 0, false
}

func (d *decoder) duration(n *yaml.Node, where string) (time.Duration, bool) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode {
		d.addf(n.Line, "%s: expected a duration like \"8h\", got %s", where, kindName(n))
		return 0, false
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		d.addf(n.Line, "%s: %s", where, jit.ErrorMessage(err))
		return 0, false
	}
	return v, true
}

// strList reads a list of strings.
func (d *decoder) strList(n *yaml.Node, where string) []text {
	n = resolve(n)
	if n.Kind != yaml.SequenceNode {
		d.addf(n.Line, "%s: expected a list, got %s", where, kindName(n))
		return nil
	}
	out := make([]text, 0, len(n.Content))
	for _, item := range n.Content {
		if isNull(item) {
			d.addf(item.Line, "%s: empty list item", where)
			continue
		}
		if t, ok := d.str(item, where); ok {
			out = append(out, t)
		}
	}
	return out
}

// list calls each for every item of a sequence.
func (d *decoder) list(n *yaml.Node, where string, each func(i int, item *yaml.Node)) {
	n = resolve(n)
	if n.Kind != yaml.SequenceNode {
		d.addf(n.Line, "%s: expected a list, got %s", where, kindName(n))
		return
	}
	for i, item := range n.Content {
		each(i, item)
	}
}

// strMap reads a mapping of strings to strings (labels).
func (d *decoder) strMap(n *yaml.Node, where string) map[string]string {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		d.addf(n.Line, "%s: expected a mapping, got %s", where, kindName(n))
		return nil
	}
	out := map[string]string{}
	for _, p := range d.pairs(n, 0) {
		k := resolve(p.key)
		if k.Kind != yaml.ScalarNode {
			d.addf(p.key.Line, "%s: keys must be plain names", where)
			continue
		}
		if _, dup := out[k.Value]; dup {
			d.addf(k.Line, "%s: key %q appears twice", where, k.Value)
			continue
		}
		if isNull(p.value) {
			out[k.Value] = ""
			continue
		}
		if v, ok := d.str(p.value, where+"."+k.Value); ok {
			out[k.Value] = v.v
		}
	}
	return out
}
