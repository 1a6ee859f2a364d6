package jithttp

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/jitaccess/jit"
)

// ProblemType is the "type" of every problem document: the error section of
// the API documentation, where the codes are listed.
const ProblemType = "https://github.com/jitaccess/jit/blob/main/docs/api.md#errors"

// Problem is an RFC 9457 problem document with jit's extension members
// (code, field).
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	// Code is the stable jit error code (jit.ECode*).
	Code string `json:"code"`
	// Field names the input field the problem is about, or is empty.
	Field string `json:"field"`
	// Instance is the path of the request that failed.
	Instance string `json:"instance"`
}

// StatusFor returns the HTTP status of a jit error code (jit.HTTPStatus:
// the API and the web app answer every code alike).
func StatusFor(code string) int { return jit.HTTPStatus(code) }

// problemFor turns err into a problem document. A *jit.Error keeps its code,
// message and field. Anything else is internal: its text stays in the log
// and the client gets a generic message. log reports whether the error must
// be logged, and at which level.
func problemFor(r *http.Request, err error) (p Problem, logLevel slog.Level, log bool) {
	var je *jit.Error
	switch {
	case errors.As(err, &je):
		p = Problem{Code: je.Code, Detail: je.Message, Field: je.Field}
		if je.Code == jit.ECodeInternal || je.Code == jit.ECodeUnavailable {
			logLevel, log = slog.LevelError, true
		}
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
		p = Problem{Code: jit.ECodeUnavailable, Detail: "the request was cancelled"}
		logLevel, log = slog.LevelInfo, true
	case errors.Is(err, context.DeadlineExceeded):
		p = Problem{Code: jit.ECodeUnavailable, Detail: "the server did not answer in time; retry later"}
		logLevel, log = slog.LevelError, true
	default:
		p = Problem{Code: jit.ECodeInternal, Detail: "internal error; the server log has the details"}
		logLevel, log = slog.LevelError, true
	}
	p.Status = StatusFor(p.Code)
	p.Type = ProblemType
	p.Title = http.StatusText(p.Status)
	p.Instance = r.URL.Path
	return p, logLevel, log
}

// writeError answers with the problem document for err, logging errors
// whose text the client does not see.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	p, level, log := problemFor(r, err)
	if log {
		s.log.Log(r.Context(), level, "request failed", "method", r.Method, "path", r.URL.Path,
			"route", routeOf(r), "code", p.Code, "err", err.Error())
	}
	if p.Code == jit.ECodeUnauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer realm="jit"`)
	}
	writeProblem(w, r, p)
}

// writeProblem answers with p and notes its code for the request log.
func writeProblem(w http.ResponseWriter, r *http.Request, p Problem) {
	if info := infoFrom(r.Context()); info != nil {
		info.code = p.Code
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
