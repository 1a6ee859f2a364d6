package policy

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"
)

// Conditions are CEL expressions over these variables:
//
//	requester  jit.Requester {email string, groups list(string), admin bool}
//	resource   jit.Resource  {name string, provider string, labels map(string, string)}
//	access     string                       the resolved access level
//	duration   google.protobuf.Duration     the requested duration
//	reason     string                       the trimmed reason
//	time       google.protobuf.Timestamp    the decision time (UTC)
//	target     string                       the request's target ("" for the
//	                                        whole resource), as its provider
//	                                        made it canonical
//	labels     list(string)                 what the provider's check found
//	                                        about the requester's eligibility
//	                                        ("gcp:self-activation")
//
// requester and resource are typed objects rather than map(string, dyn)
// so that a misspelt field ("requester.emial") or a non-bool condition is
// refused when the file is loaded instead of silently evaluating to false
// later. Resource settings are deliberately absent: they can hold secrets.

// celRequester is the CEL view of the requester.
type celRequester struct {
	Email  string   `cel:"email"`
	Groups []string `cel:"groups"`
	Admin  bool     `cel:"admin"`
}

// celResource is the CEL view of a resource.
type celResource struct {
	Name     string            `cel:"name"`
	Provider string            `cel:"provider"`
	Labels   map[string]string `cel:"labels"`
}

const (
	// conditionCostLimit bounds one evaluation so that a hostile or careless
	// expression (nested comprehensions) cannot stall decisions: at the
	// limit an evaluation takes about a millisecond. Ordinary conditions
	// cost well under a hundred; a comprehension over a person's groups a
	// few per group.
	conditionCostLimit = 20_000
	// maxConditionLen bounds the text of a condition (in code points).
	maxConditionLen = 4096
)

// celEnv is built once per process: building an environment costs far more
// than compiling one expression, and it has no per-config state.
var celEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Types(
			cel.NativeTypeFor[celRequester](cel.NativeTypeAlias("jit.Requester"), ext.ParseStructTags(true)),
			cel.NativeTypeFor[celResource](cel.NativeTypeAlias("jit.Resource"), ext.ParseStructTags(true)),
		),
		cel.Variable("requester", cel.ObjectType("jit.Requester")),
		cel.Variable("resource", cel.ObjectType("jit.Resource")),
		cel.Variable("access", cel.StringType),
		cel.Variable("duration", cel.DurationType),
		cel.Variable("reason", cel.StringType),
		cel.Variable("time", cel.TimestampType),
		cel.Variable("target", cel.StringType),
		cel.Variable("labels", cel.ListType(cel.StringType)),
		// time.getHours() and friends mean UTC unless a zone is given.
		cel.DefaultUTCTimeZone(true),
		cel.ParserExpressionSizeLimit(maxConditionLen),
		ext.Strings(),
	)
})

// condition is one compiled CEL expression.
type condition struct {
	src string
	prg cel.Program
	// readsSubject is true when the expression reads target or labels,
	// which are known only once the resource's provider has checked a
	// request: such a condition may hold for an offer.
	readsSubject bool
}

// compileCondition parses and type-checks src; the result must be a bool.
// It never panics: a panic inside the CEL library is reported as an error,
// since a config file must not be able to crash jitd.
func compileCondition(src string) (c *condition, err error) {
	defer func() {
		if r := recover(); r != nil {
			c, err = nil, fmt.Errorf("condition could not be compiled: %v", r)
		}
	}()
	env, err := celEnv()
	if err != nil {
		return nil, fmt.Errorf("build CEL environment: %w", err)
	}
	ast, iss := env.Compile(src)
	if iss.Err() != nil {
		return nil, iss.Err()
	}
	if !ast.OutputType().IsExactType(types.BoolType) {
		return nil, fmt.Errorf("condition must be a bool expression, but it is of type %s", cel.FormatCELType(ast.OutputType()))
	}
	readsSubject := false
	for _, ref := range ast.NativeRep().ReferenceMap() {
		if ref.Name == "target" || ref.Name == "labels" {
			readsSubject = true
		}
	}
	prg, err := env.Program(ast, cel.CostLimit(conditionCostLimit))
	if err != nil {
		return nil, fmt.Errorf("prepare condition: %w", err)
	}
	return &condition{src: src, prg: prg, readsSubject: readsSubject}, nil
}

// celVars is the activation for one decision. It implements
// cel.Activation directly so that a decision allocates no map for it.
type celVars struct {
	requester *celRequester
	resource  *celResource
	access    string
	duration  time.Duration
	reason    string
	time      time.Time
	target    string
	labels    []string
}

func (v *celVars) ResolveName(name string) (any, bool) {
	switch name {
	case "requester":
		return v.requester, true
	case "resource":
		return v.resource, true
	case "access":
		return v.access, true
	case "duration":
		return v.duration, true
	case "reason":
		return v.reason, true
	case "time":
		return v.time, true
	case "target":
		return v.target, true
	case "labels":
		if v.labels == nil {
			return []string{}, true
		}
		return v.labels, true
	}
	return nil, false
}

func (v *celVars) Parent() cel.Activation { return nil }

var errNotBool = errors.New("condition did not produce a bool")

// eval runs the condition. An error (cost limit exceeded, a missing map
// key, overflow...) is returned with the result false: callers treat it as
// "condition false" and name it in the explanation.
func (c *condition) eval(vars *celVars) (ok bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			ok, err = false, fmt.Errorf("condition panicked: %v", r)
		}
	}()
	out, _, err := c.prg.Eval(vars)
	if err != nil {
		return false, err
	}
	b, isBool := out.Value().(bool)
	if !isBool {
		return false, errNotBool
	}
	return b, nil
}
