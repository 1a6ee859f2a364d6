package policy

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jitaccess/jit/provider"
	"gopkg.in/yaml.v3"
)

var (
	resourceName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	levelName    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
)

const (
	maxNameLen = 100
	// maxReasonPattern bounds a reason pattern's source; Go's RE2 engine
	// matches in linear time, so only compile cost needs a bound.
	maxReasonPattern = 1000
)

// resource is one configured resource.
type resource struct {
	name          string
	description   string
	providerType  string
	settings      map[string]any
	access        []string
	accessSet     map[string]bool
	defaultAccess string
	labels        map[string]string
	// rules lists, in file order, every rule that names this resource
	// literally or by a glob. Resources are fixed for the life of a Policy,
	// so globs are matched once at load instead of at every decision.
	rules []*rule
	cel   *celResource
}

// rule is one compiled rule.
type rule struct {
	index       int
	name        string
	description string

	everyone  bool
	reqUsers  map[string]bool
	reqGroups map[string]bool
	// reqUserList and reqGroupList keep file order for explanations.
	reqUserList  []string
	reqGroupList []string

	resNames map[string]bool
	resGlobs []string
	// access is nil when the rule covers every level.
	access     map[string]bool
	accessList []string

	maxDuration    time.Duration
	reasonRequired bool
	reasonPattern  *regexp.Regexp

	approverUsers  map[string]bool
	approverGroups map[string]bool
	peers          bool
	// approvers is the display form: "group:sre", "user:bob@example.com", "peers".
	approvers    []string
	approvals    int
	selfApproval bool

	auto *autoApprove
	cond *condition

	// emails is the sorted list of known people who may approve under this
	// rule, computed on first use: with peers and "everyone" it can be every
	// known identity, and most rules are never asked for it.
	emailsOnce sync.Once
	emails     []string
}

// autoApprove is a rule's automatic approval. Zero maxDuration means up to
// the rule's own maximum; nil cond means no condition; nil oncall means
// whoever asks, on call or not.
type autoApprove struct {
	maxDuration time.Duration
	// maxSet says max_duration was written, rather than defaulted.
	maxSet bool
	cond   *condition
	oncall *OnCallQuery
	// oncallLine is the line of the oncall key.
	oncallLine int
}

func (a *autoApprove) unconditional() bool {
	return a != nil && a.maxDuration == 0 && a.cond == nil && a.oncall == nil
}

// peekName returns the "name" value of a mapping node, for messages about
// the item that holds it, whatever the order of its keys.
func peekName(n *yaml.Node) string {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k, v := n.Content[i], resolve(n.Content[i+1]); k.Value == "name" && v != nil && v.Kind == yaml.ScalarNode {
			return v.Value
		}
	}
	return ""
}

func itemWhere(kind string, i int, item *yaml.Node) string {
	if name := peekName(item); name != "" && len(name) <= maxNameLen {
		return fmt.Sprintf("%s %q", kind, name)
	}
	return fmt.Sprintf("%ss[%d]", kind, i)
}

func (p *Policy) resourceList(d *decoder, n *yaml.Node) {
	firstLine := map[string]int{}
	d.list(n, "resources", func(i int, item *yaml.Node) {
		where := itemWhere("resource", i, item)
		r := &resource{accessSet: map[string]bool{}}
		var name, typ, def text
		var settingsNode *yaml.Node
		var accessLine int
		if !d.fields(item, where, map[string]func(*yaml.Node){
			"name": func(v *yaml.Node) { name, _ = d.str(v, where+": name") },
			"description": func(v *yaml.Node) {
				if t, ok := d.str(v, where+": description"); ok {
					r.description = t.v
				}
			},
			"provider": func(v *yaml.Node) { typ, _ = d.str(v, where+": provider") },
			"settings": func(v *yaml.Node) { settingsNode = v },
			"access": func(v *yaml.Node) {
				accessLine = resolve(v).Line
				p.accessLevels(d, v, where, r)
			},
			"default_access": func(v *yaml.Node) { def, _ = d.str(v, where+": default_access") },
			"labels":         func(v *yaml.Node) { r.labels = d.strMap(v, where+": labels") },
		}) {
			return
		}
		line := resolve(item).Line
		switch {
		case name.v == "":
			d.addf(line, "%s: name is required", where)
		case len(name.v) > maxNameLen || !resourceName.MatchString(name.v):
			d.addf(name.line, "%s: name must match [a-z0-9][a-z0-9._-]* and have at most %d characters", where, maxNameLen)
		default:
			if first, dup := firstLine[name.v]; dup {
				d.addf(name.line, "%s: resource %q is defined twice (first on line %d)", where, name.v, first)
			} else {
				firstLine[name.v] = name.line
				r.name = name.v
			}
		}
		if len(r.access) == 0 && accessLine == 0 {
			d.addf(line, "%s: access is required: list at least one access level", where)
		} else if len(r.access) == 0 {
			d.addf(accessLine, "%s: access must list at least one access level", where)
		}
		if def.v != "" {
			if !r.accessSet[def.v] {
				d.addf(def.line, "%s: default_access %q is not one of its access levels (%s)", where, def.v, strings.Join(r.access, ", "))
			} else {
				r.defaultAccess = def.v
			}
		}
		settingsOK := true
		if settingsNode != nil {
			r.settings, settingsOK = d.settings(settingsNode, where)
		}
		if r.labels == nil {
			r.labels = map[string]string{}
		}
		known := provider.Types()
		switch {
		case typ.v == "":
			d.addf(line, "%s: provider is required (one of: %s)", where, strings.Join(known, ", "))
		case !contains(known, typ.v):
			d.addf(typ.line, "%s: unknown provider type %q (known: %s)", where, typ.v, strings.Join(known, ", "))
		default:
			r.providerType = typ.v
		}
		if r.name == "" {
			return
		}
		if r.providerType != "" && settingsOK {
			// The factory runs even when other parts of the resource have
			// problems, so that one load reports settings problems too.
			settingsLine := line
			if settingsNode != nil {
				settingsLine = resolve(settingsNode).Line
			}
			prov, err := newProvider(provider.Resource{Name: r.name, Type: r.providerType, Settings: r.settings, Access: r.access})
			if err != nil {
				d.addf(settingsLine, "%s: settings: %v", where, err)
			} else {
				p.providers[r.name] = prov
				if ex, ok := provider.As[provider.Exclusive](prov); ok {
					if key, what := ex.ExclusiveKey(); key != "" {
						if other, dup := p.exclusive[key]; dup {
							d.addf(settingsLine, "%s: shares %s with resource %s: give each resource its own", where, what, other)
						} else {
							p.exclusive[key] = r.name
						}
					}
				}
				// Two resources guarding the same route would make the
				// forward-auth decision depend on file order.
				if rt, ok := provider.As[provider.Router](prov); ok {
					host, prefix := rt.Route()
					key := host + " " + prefix
					if other, dup := p.routes[key]; dup {
						d.addf(settingsLine, "%s: guards the same route as resource %s (host %q, path_prefix %q)", where, other, host, prefix)
					} else {
						p.routes[key] = r.name
					}
				}
			}
		}
		// Register even a faulty resource so that rules naming it are not
		// also reported as naming an unknown resource.
		r.cel = &celResource{Name: r.name, Provider: r.providerType, Labels: r.labels}
		p.resources = append(p.resources, r)
		p.byName[r.name] = r
	})
}

// newProvider calls the factory, turning a panic into an error: a faulty
// factory must not crash config loading.
func newProvider(r provider.Resource) (prov provider.Provider, err error) {
	defer func() {
		if rec := recover(); rec != nil {
			prov, err = nil, fmt.Errorf("provider factory panicked: %v", rec)
		}
	}()
	prov, err = provider.New(r)
	if err != nil {
		// provider.New prefixes the type and resource, which the problem
		// already names.
		if inner := errors.Unwrap(err); inner != nil {
			err = inner
		}
		return nil, err
	}
	if prov == nil {
		return nil, errors.New("provider factory returned no provider")
	}
	return prov, nil
}

func (d *decoder) settings(n *yaml.Node, where string) (m map[string]any, ok bool) {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		d.addf(n.Line, "%s: settings: expected a mapping, got %s", where, kindName(n))
		return nil, false
	}
	defer func() {
		if r := recover(); r != nil {
			d.addf(n.Line, "%s: settings could not be read: %v", where, r)
			m, ok = nil, false
		}
	}()
	if err := n.Decode(&m); err != nil {
		d.addf(n.Line, "%s: settings: %v", where, strings.TrimPrefix(err.Error(), "yaml: "))
		return nil, false
	}
	return m, true
}

func (p *Policy) accessLevels(d *decoder, n *yaml.Node, where string, r *resource) {
	first := map[string]int{}
	d.list(n, where+": access", func(i int, item *yaml.Node) {
		var name text
		it := resolve(item)
		if it.Kind == yaml.ScalarNode {
			// "- user" is shorthand for "- {name: user}".
			name, _ = d.str(it, where+": access")
		} else if !d.fields(it, fmt.Sprintf("%s: access[%d]", where, i), map[string]func(*yaml.Node){
			"name":        func(v *yaml.Node) { name, _ = d.str(v, where+": access name") },
			"description": func(v *yaml.Node) { d.str(v, where+": access description") },
		}) {
			return
		}
		switch {
		case name.v == "":
			d.addf(it.Line, "%s: access[%d]: name is required", where, i)
		case len(name.v) > maxNameLen || !levelName.MatchString(name.v):
			d.addf(name.line, "%s: access level %q must match [A-Za-z0-9][A-Za-z0-9._-]*", where, name.v)
		default:
			if line, dup := first[name.v]; dup {
				d.addf(name.line, "%s: access level %q is listed twice (first on line %d)", where, name.v, line)
				return
			}
			first[name.v] = name.line
			r.access = append(r.access, name.v)
			r.accessSet[name.v] = true
		}
	})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func validRuleName(s string) bool {
	if s == "" || len(s) > maxNameLen {
		return false
	}
	for _, c := range s {
		if c <= ' ' || c == 0x7f || c == '"' {
			return false
		}
	}
	return true
}

// isGlob reports whether a rule's resource entry is a path.Match pattern.
func isGlob(s string) bool { return strings.ContainsAny(s, `*?[\`) }

func (p *Policy) ruleList(d *decoder, n *yaml.Node) {
	firstLine := map[string]int{}
	d.list(n, "rules", func(i int, item *yaml.Node) {
		if r := p.parseRule(d, i, item, firstLine); r != nil {
			r.index = len(p.rules)
			p.rules = append(p.rules, r)
			p.ruleByName[r.name] = r
		}
	})
}

// parseRule reads and checks one rule; it returns nil when the rule cannot
// be used at all (no valid name), after reporting why.
func (p *Policy) parseRule(d *decoder, i int, item *yaml.Node, firstLine map[string]int) *rule {
	where := itemWhere("rule", i, item)
	r := &rule{approvals: 1}
	var name text
	var resources, access []text
	var maxNode, approvalsNode, resourcesNode *yaml.Node
	var requestersLine, autoLine int
	if !d.fields(item, where, map[string]func(*yaml.Node){
		"name": func(v *yaml.Node) { name, _ = d.str(v, where+": name") },
		"description": func(v *yaml.Node) {
			if t, ok := d.str(v, where+": description"); ok {
				r.description = t.v
			}
		},
		"requesters": func(v *yaml.Node) {
			requestersLine = d.keyLine
			d.fields(v, where+": requesters", map[string]func(*yaml.Node){
				"groups": func(v *yaml.Node) {
					r.reqGroupList, r.reqGroups = d.groupSet(v, where+": requesters.groups")
				},
				"users": func(v *yaml.Node) {
					r.reqUserList, r.reqUsers = d.emailSet(v, where+": requesters.users")
				},
				"everyone": func(v *yaml.Node) { r.everyone, _ = d.boolean(v, where+": requesters.everyone") },
			})
		},
		"resources": func(v *yaml.Node) {
			resourcesNode = v
			resources = d.strList(v, where+": resources")
		},
		"access": func(v *yaml.Node) { access = d.strList(v, where+": access") },
		"max_duration": func(v *yaml.Node) {
			maxNode = v
			r.maxDuration, _ = d.duration(v, where+": max_duration")
		},
		"reason": func(v *yaml.Node) {
			d.fields(v, where+": reason", map[string]func(*yaml.Node){
				"required": func(v *yaml.Node) { r.reasonRequired, _ = d.boolean(v, where+": reason.required") },
				"pattern": func(v *yaml.Node) {
					t, ok := d.str(v, where+": reason.pattern")
					if !ok || t.v == "" {
						return
					}
					if len(t.v) > maxReasonPattern {
						d.addf(t.line, "%s: reason.pattern is longer than %d characters", where, maxReasonPattern)
						return
					}
					re, err := regexp.Compile(t.v)
					if err != nil {
						d.addf(t.line, "%s: reason.pattern is not a valid regular expression: %v", where, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
						return
					}
					r.reasonPattern = re
				},
			})
		},
		"approvers": func(v *yaml.Node) {
			var users, groups []string
			d.fields(v, where+": approvers", map[string]func(*yaml.Node){
				"groups": func(v *yaml.Node) { groups, r.approverGroups = d.groupSet(v, where+": approvers.groups") },
				"users":  func(v *yaml.Node) { users, r.approverUsers = d.emailSet(v, where+": approvers.users") },
				"peers":  func(v *yaml.Node) { r.peers, _ = d.boolean(v, where+": approvers.peers") },
			})
			for _, g := range groups {
				r.approvers = append(r.approvers, "group:"+g)
			}
			for _, u := range users {
				r.approvers = append(r.approvers, "user:"+u)
			}
			if r.peers {
				r.approvers = append(r.approvers, "peers")
			}
		},
		"approvals": func(v *yaml.Node) {
			approvalsNode = v
			r.approvals, _ = d.integer(v, where+": approvals", 0, 100)
		},
		"self_approval": func(v *yaml.Node) { r.selfApproval, _ = d.boolean(v, where+": self_approval") },
		"auto_approve": func(v *yaml.Node) {
			autoLine = d.keyLine
			r.auto = d.autoApprove(v, where)
		},
		"condition": func(v *yaml.Node) { r.cond = d.condition(v, where+": condition") },
	}) {
		return nil
	}
	line := resolve(item).Line

	if !r.everyone && len(r.reqUsers) == 0 && len(r.reqGroups) == 0 {
		at := line
		if requestersLine != 0 {
			at = requestersLine
		}
		d.addf(at, "%s: no one may request under it: set requesters.users, requesters.groups or requesters.everyone: true", where)
	}
	if maxNode == nil {
		d.addf(line, "%s: max_duration is required", where)
	}
	if resourcesNode == nil {
		d.addf(line, "%s: resources is required: list resource names or globs", where)
	} else if len(resources) == 0 && resolve(resourcesNode).Kind == yaml.SequenceNode {
		d.addf(resolve(resourcesNode).Line, "%s: resources must list at least one resource name or glob", where)
	}
	p.ruleResources(d, r, where, resources, access)

	if r.approvers == nil && !r.auto.unconditional() {
		if r.auto == nil {
			d.addf(line, "%s: has no approvers and no auto_approve: set approvers (users, groups or peers) or auto_approve", where)
		} else {
			d.addf(line, "%s: has no approvers, so requests its auto_approve does not cover could never be approved: set approvers or make auto_approve unconditional (auto_approve: true)", where)
		}
	}
	if r.approvals < 1 && !r.auto.unconditional() {
		at := line
		if approvalsNode != nil {
			at = resolve(approvalsNode).Line
		}
		d.addf(at, "%s: approvals must be at least 1 (only a rule with auto_approve: true may need none)", where)
	}
	if !r.peers && len(r.approverGroups) == 0 && len(r.approverUsers) > 0 && r.approvals > len(r.approverUsers) {
		at := line
		if approvalsNode != nil {
			at = resolve(approvalsNode).Line
		}
		d.addf(at, "%s: needs %d approvals but only %d users may approve", where, r.approvals, len(r.approverUsers))
	}
	if a := r.auto; a != nil && a.oncall != nil {
		if p.server.PagerDuty == nil {
			d.addf(a.oncallLine, "%s: auto_approve.oncall needs server.pagerduty (where jitd asks who is on call)", where)
		}
		if !a.maxSet {
			// "On call" grants short access unless the rule says otherwise.
			a.maxDuration = DefaultOnCallMaxDuration
			if r.maxDuration > 0 && r.maxDuration < a.maxDuration {
				a.maxDuration = r.maxDuration
			}
		}
	}
	if r.auto != nil && r.maxDuration > 0 && r.auto.maxDuration > r.maxDuration {
		d.addf(autoLine, "%s: auto_approve.max_duration %s is longer than the rule's max_duration %s", where,
			FormatDuration(r.auto.maxDuration), FormatDuration(r.maxDuration))
	}

	switch {
	case name.v == "":
		d.addf(line, "%s: name is required", where)
		return nil
	case !validRuleName(name.v):
		d.addf(name.line, "%s: name must be 1 to %d characters without spaces or quotes", where, maxNameLen)
		return nil
	}
	if first, dup := firstLine[name.v]; dup {
		d.addf(name.line, "%s: rule %q is defined twice (first on line %d)", where, name.v, first)
		return nil
	}
	firstLine[name.v] = name.line
	r.name = name.v
	return r
}

// ruleResources checks a rule's resources and access levels.
func (p *Policy) ruleResources(d *decoder, r *rule, where string, resources, access []text) {
	r.resNames = map[string]bool{}
	var literal []*resource
	for _, t := range resources {
		if isGlob(t.v) {
			if _, err := path.Match(t.v, ""); err != nil {
				d.addf(t.line, "%s: resource pattern %q is not a valid glob", where, t.v)
				continue
			}
			r.resGlobs = append(r.resGlobs, t.v)
			continue
		}
		res, ok := p.byName[t.v]
		if !ok {
			d.addf(t.line, "%s: unknown resource %q", where, t.v)
			continue
		}
		if !r.resNames[t.v] {
			r.resNames[t.v] = true
			literal = append(literal, res)
		}
	}
	if len(access) == 0 {
		return
	}
	r.access = map[string]bool{}
	for _, t := range access {
		if r.access[t.v] {
			d.addf(t.line, "%s: access level %q is listed twice", where, t.v)
			continue
		}
		r.access[t.v] = true
		r.accessList = append(r.accessList, t.v)
		for _, res := range literal {
			if !res.accessSet[t.v] {
				d.addf(t.line, "%s: resource %q has no access level %q (levels: %s)", where, res.name, t.v, strings.Join(res.access, ", "))
			}
		}
	}
}

func (d *decoder) groupSet(n *yaml.Node, where string) ([]string, map[string]bool) {
	var list []string
	set := map[string]bool{}
	for _, t := range d.strList(n, where) {
		if !validGroup(t.v) {
			d.addf(t.line, "%s: %q is not a valid group name", where, t.v)
			continue
		}
		if !set[t.v] {
			set[t.v] = true
			list = append(list, t.v)
		}
	}
	return list, set
}

func (d *decoder) emailSet(n *yaml.Node, where string) ([]string, map[string]bool) {
	var list []string
	set := map[string]bool{}
	for _, t := range d.strList(n, where) {
		e := normEmail(t.v)
		if !validEmail(e) {
			hint := ""
			if !strings.Contains(e, "@") {
				hint = " (groups go under groups:, not users:)"
			}
			d.addf(t.line, "%s: %q is not an email address%s", where, t.v, hint)
			continue
		}
		if !set[e] {
			set[e] = true
			list = append(list, e)
		}
	}
	return list, set
}

// autoApprove reads `auto_approve: true|false` or
// `auto_approve: {max_duration: 1h, condition: '...', oncall: {pagerduty: {...}}}`.
func (d *decoder) autoApprove(n *yaml.Node, where string) *autoApprove {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode {
		on, ok := d.boolean(n, where+": auto_approve")
		if !ok || !on {
			return nil
		}
		return &autoApprove{}
	}
	a := &autoApprove{}
	if !d.fields(n, where+": auto_approve", map[string]func(*yaml.Node){
		"max_duration": func(v *yaml.Node) {
			if dur, ok := d.duration(v, where+": auto_approve.max_duration"); ok {
				a.maxDuration, a.maxSet = dur, true
			}
		},
		"condition": func(v *yaml.Node) { a.cond = d.condition(v, where+": auto_approve.condition") },
		"oncall": func(v *yaml.Node) {
			a.oncallLine = d.keyLine
			a.oncall = d.onCall(v, where+": auto_approve.oncall")
		},
	}) {
		return nil
	}
	return a
}

func (d *decoder) condition(n *yaml.Node, where string) *condition {
	t, ok := d.str(n, where)
	if !ok {
		return nil
	}
	if strings.TrimSpace(t.v) == "" {
		d.addf(t.line, "%s: must not be empty (remove it to have no condition)", where)
		return nil
	}
	c, err := compileCondition(t.v)
	if err != nil {
		d.addf(t.line, "%s: %s", where, celMessage(err))
		return nil
	}
	return c
}

// indexRules gives each resource the rules that cover it, in file order.
func (p *Policy) indexRules() {
	for _, res := range p.resources {
		for _, r := range p.rules {
			if r.covers(res.name) {
				res.rules = append(res.rules, r)
			}
		}
	}
}

func (r *rule) covers(resource string) bool {
	if r.resNames[resource] {
		return true
	}
	for _, g := range r.resGlobs {
		if ok, _ := path.Match(g, resource); ok {
			return true
		}
	}
	return false
}

// celMessage turns a CEL compile error into one line. CEL reports each
// issue as "ERROR: <input>:L:C: message" followed by a source excerpt and a
// caret line; the problem list is one line per problem, so only the
// messages are kept, with their position inside the expression.
func celMessage(err error) string {
	var msgs []string
	for _, l := range strings.Split(err.Error(), "\n") {
		if m, ok := strings.CutPrefix(l, "ERROR: <input>:"); ok {
			msgs = append(msgs, "at "+m)
		}
	}
	if len(msgs) == 0 {
		return strings.Join(strings.Fields(err.Error()), " ")
	}
	return "invalid CEL " + strings.Join(msgs, "; ")
}
