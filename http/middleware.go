package jithttp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/jitaccess/jit"
)

// reqInfo collects what the request log needs from the inner layers: who
// the caller turned out to be and which error code was answered.
type reqInfo struct {
	route    string
	identity string
	via      string
	code     string
}

type infoKey struct{}

func infoFrom(ctx context.Context) *reqInfo {
	info, _ := ctx.Value(infoKey{}).(*reqInfo)
	return info
}

// routeOf returns the route label of r ("" outside the middleware).
func routeOf(r *http.Request) string {
	if info := infoFrom(r.Context()); info != nil {
		return info.route
	}
	return ""
}

// recorder remembers the status written through it.
type recorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *recorder) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flush,
// deadlines) through the recorder.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush passes flushes through for handlers that stream.
func (w *recorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// observe is the outermost layer: it logs every request and records the
// route's metrics. label is the route pattern (never the raw path, so that
// metric cardinality stays bounded).
func (s *Server) observe(label string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.clock.Now()
		info := &reqInfo{route: label}
		rec := &recorder{ResponseWriter: w}
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))
		// Every answer is specific to its caller and may hold access
		// details: no caching by browsers or proxies, no MIME sniffing.
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")

		next.ServeHTTP(rec, r)

		status := rec.status
		if !rec.wrote {
			status = http.StatusOK
		}
		elapsed := s.clock.Now().Sub(start)
		s.metrics.HTTPRequests.WithLabelValues(label, strconv.Itoa(status)).Inc()
		s.metrics.HTTPDuration.WithLabelValues(label).Observe(elapsed.Seconds())
		// Only the method, route, path and outcome are logged: never
		// headers or query strings, which may carry credentials.
		attrs := []any{"method", r.Method, "route", label, "path", r.URL.Path, "status", status,
			"duration", elapsed, "identity", info.identity}
		if info.via != "" {
			attrs = append(attrs, "via", info.via)
		}
		if info.code != "" {
			attrs = append(attrs, "code", info.code)
		}
		s.log.InfoContext(r.Context(), "http request", attrs...)
	})
}

// recoverer turns a panic in a handler into a logged 500 internal answer,
// so that one bad request does not take the connection (or the process)
// down silently.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec, _ := w.(*recorder)
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				panic(p) // the server's own signal to abort the response
			}
			s.log.ErrorContext(r.Context(), "panic in handler", "method", r.Method, "path", r.URL.Path,
				"route", routeOf(r), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if rec != nil && rec.wrote {
				return // too late for a problem document
			}
			s.writeError(w, r, fmt.Errorf("panic: %v", p))
		}()
		next.ServeHTTP(w, r)
	})
}

// clientKinds are the X-Jit-Client values recorded as the source kind.
var clientKinds = map[string]bool{"cli": true, "web": true, "slack": true}

// sourceOf says where r came from, for the audit log. The IP is the TCP
// peer's: X-Forwarded-For is not trusted, since anyone can set it.
func sourceOf(r *http.Request) jit.Source {
	src := jit.Source{Kind: "api", UserAgent: truncate(r.UserAgent(), 256)}
	if k := strings.ToLower(strings.TrimSpace(r.Header.Get("X-Jit-Client"))); clientKinds[k] {
		src.Kind = k
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		src.IP = host
	} else {
		src.IP = r.RemoteAddr
	}
	return src
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func (s *Server) withSource(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(jit.WithSource(r.Context(), sourceOf(r))))
	})
}

// authenticate asks each authenticator in turn; the first that claims the
// request decides. No claimant, or a claimant that finds the credentials
// invalid, is 401 unauthenticated.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := s.identify(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if info := infoFrom(r.Context()); info != nil {
			info.identity, info.via = id.Email, id.Via
		}
		next.ServeHTTP(w, r.WithContext(jit.WithIdentity(r.Context(), id)))
	})
}

func (s *Server) identify(r *http.Request) (jit.Identity, error) {
	for _, a := range s.auths {
		id, ok, err := a.Authenticate(r)
		if err != nil {
			var je *jit.Error
			if errors.As(err, &je) && je.Code != jit.ECodeUnauthenticated {
				// Not a verdict on the credentials (the token store or
				// the IdP's keys are unreachable): answered as such.
				return jit.Identity{}, fmt.Errorf("authenticate: %w", err)
			}
			// The reason stays in the log: telling a caller why its
			// credentials failed helps an attacker more than a user.
			s.log.InfoContext(r.Context(), "authentication failed", "path", r.URL.Path,
				"authenticator", fmt.Sprintf("%T", a), "err", err.Error())
			return jit.Identity{}, jit.Errorf(jit.ECodeUnauthenticated, "invalid credentials")
		}
		if ok {
			if id.Email == "" {
				return jit.Identity{}, fmt.Errorf("authenticator %T returned an identity without email", a)
			}
			return id, nil
		}
	}
	if strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		// A token was sent and nobody recognised it: unknown, revoked, a
		// dev token sent to a server not in dev mode, or for another
		// server.
		return jit.Identity{}, jit.Errorf(jit.ECodeUnauthenticated, "the token is not valid for this server")
	}
	return jit.Identity{}, jit.Errorf(jit.ECodeUnauthenticated,
		"authentication required: send Authorization: Bearer TOKEN")
}

// rateLimit refuses writes beyond the caller's allowance with 429 and
// Retry-After. It runs after authenticate: the limit is per identity.
func (s *Server) rateLimit(next http.Handler) http.Handler {
	if s.limiter == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := jit.IdentityFrom(r.Context())
		if ok, wait := s.limiter.allow(id.Email, s.clock.Now()); !ok {
			secs := int64((wait + time.Second - 1) / time.Second)
			if secs < 1 {
				secs = 1
			}
			w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
			s.writeError(w, r, jit.Errorf(jit.ECodeRateLimited,
				"too many writes; retry in %d seconds", secs))
			return
		}
		next.ServeHTTP(w, r)
	})
}
