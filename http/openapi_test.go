package jithttp

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/jitaccess/jit"
)

type openAPIDoc struct {
	OpenAPI    string                          `json:"openapi"`
	Paths      map[string]map[string]openAPIOp `json:"paths"`
	Components struct {
		Schemas map[string]any `json:"schemas"`
	} `json:"components"`
}

type openAPIOp struct {
	OperationID string            `json:"operationId"`
	Parameters  []json.RawMessage `json:"parameters"`
	Responses   map[string]any    `json:"responses"`
}

var openAPIMethods = []string{"get", "head", "post", "put", "patch", "delete", "options", "trace"}

func loadOpenAPI(t *testing.T) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Fatalf("openapi = %q, want 3.1.x", doc.OpenAPI)
	}
	return doc
}

// Every registered route is in the document with its method, and every
// path and method in the document is registered.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	h := newHarness(t)
	routes := h.srv.routes()

	registered := map[string]bool{} // "get /path"
	anyMethod := map[string]bool{}
	for _, rt := range routes {
		if rt.Method == "" {
			anyMethod[rt.Path] = true
			continue
		}
		registered[strings.ToLower(rt.Method)+" "+rt.Path] = true
	}

	for _, rt := range routes {
		ops, ok := doc.Paths[rt.Path]
		if !ok {
			t.Errorf("route %s (%s) is not in openapi.json", rt.pattern(), rt.Name)
			continue
		}
		method := strings.ToLower(rt.Method)
		if method == "" {
			method = "get" // an any-method route documents at least GET
		}
		if _, ok := ops[method]; !ok {
			t.Errorf("route %s: openapi.json has no %s operation", rt.pattern(), method)
		}
	}

	var ids []string
	for path, ops := range doc.Paths {
		for method, op := range ops {
			if !contains(openAPIMethods, method) {
				continue // parameters, summary...
			}
			if !registered[method+" "+path] && !anyMethod[path] {
				t.Errorf("openapi.json documents %s %s, which is not registered", strings.ToUpper(method), path)
			}
			if op.OperationID == "" {
				t.Errorf("%s %s has no operationId", method, path)
			}
			ids = append(ids, op.OperationID)
			if len(op.Responses) == 0 {
				t.Errorf("%s %s has no responses", method, path)
			}
			if strings.Contains(path, "{id}") && !hasIDParam(op.Parameters) {
				t.Errorf("%s %s does not describe its {id} parameter", method, path)
			}
		}
	}
	sort.Strings(ids)
	for i := 1; i < len(ids); i++ {
		if ids[i] == ids[i-1] {
			t.Errorf("operationId %q is used twice", ids[i])
		}
	}
}

func hasIDParam(params []json.RawMessage) bool {
	for _, p := range params {
		if strings.Contains(string(p), `"#/components/parameters/id"`) || strings.Contains(string(p), `"name": "id"`) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// The schemas the API answers with are described, and every $ref points
// at something that exists.
func TestOpenAPISchemasAndRefs(t *testing.T) {
	doc := loadOpenAPI(t)
	for _, name := range []string{"Request", "Approval", "AuditEvent", "Identity", "Offer", "Decision", "Problem",
		"RequestPage", "AuditPage", "AuthzResult", "AuditVerifyResult", "OfferList"} {
		if _, ok := doc.Components.Schemas[name]; !ok {
			t.Errorf("schema %s is missing", name)
		}
	}
	var raw any
	if err := json.Unmarshal(openAPI, &raw); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				if k == "$ref" {
					ref, _ := c.(string)
					if !resolves(raw, ref) {
						t.Errorf("$ref %q does not resolve", ref)
					}
				}
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(raw)
}

func resolves(root any, ref string) bool {
	if !strings.HasPrefix(ref, "#/") {
		return false
	}
	cur := root
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[part]; !ok {
			return false
		}
	}
	return true
}

// The Problem schema lists every code the status table knows.
func TestOpenAPIProblemCodes(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas struct {
				Problem struct {
					Properties struct {
						Code struct {
							Enum []string `json:"enum"`
						} `json:"code"`
					} `json:"properties"`
				} `json:"Problem"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	enum := doc.Components.Schemas.Problem.Properties.Code.Enum
	codes := jit.ErrorCodes()
	for _, code := range codes {
		if !contains(enum, code) {
			t.Errorf("code %q is not in the Problem schema", code)
		}
	}
	if len(enum) != len(codes) {
		t.Errorf("Problem schema lists %d codes, the status table %d", len(enum), len(codes))
	}
}

func TestOpenAPIServed(t *testing.T) {
	h := newHarness(t)
	w := h.do("GET", "/api/v1/openapi.json", "", "X-Test-User", "")
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" || w.Body.String() != string(openAPI) {
		t.Errorf("status %d, type %q", w.Code, w.Header().Get("Content-Type"))
	}
}
