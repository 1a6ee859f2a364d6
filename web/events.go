package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jitaccess/jit"
)

// events streams server-sent events to a signed-in page: "change" with the
// ID of a request the visitor may see that changed (here or on another
// replica), "reload" when changes were dropped because the stream fell
// behind, "signed-out" when the session ends. Comments every heartbeat keep
// proxies from closing the idle connection. The stream ends when the
// visitor goes away or the server shuts down.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v := visitorFrom(ctx)
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	// nginx buffers proxied answers unless told not to.
	h.Set("X-Accel-Buffering", "no")

	// A change made after the page read what it shows, but before this
	// stream opened, would otherwise be lost: the page is told to reload.
	sub, missed := s.svc.SubscribeChangesSince(r.URL.Query().Get("since"))
	defer sub.Close()

	w.WriteHeader(http.StatusOK)
	send := func(format string, args ...any) bool {
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	// retry: how long a browser waits before reconnecting.
	if !send("retry: 5000\n: connected\n\n") {
		return
	}
	if missed && !send("event: reload\ndata: missed\n\n") {
		return
	}
	beat := time.NewTicker(s.cfg.Heartbeat)
	defer beat.Stop()
	// A stream is checked once, when it opens; ending it now and then
	// makes the browser reconnect, and so sign in again (a proxy's
	// assertion expires; a person may have been removed).
	maxAge := time.NewTimer(streamMaxAge)
	defer maxAge.Stop()
	for {
		var ok bool
		select {
		case <-ctx.Done():
			return
		case <-s.done:
			return
		case <-maxAge.C:
			return
		case id := <-sub.C:
			switch {
			case sub.Lagged():
				ok = send("event: reload\ndata: lagged\n\n")
			case strings.ContainsAny(id, "\r\n") || !s.mayStream(r, id):
				continue
			default:
				ok = send("event: change\ndata: %s\n\n", id)
			}
		case <-beat.C:
			if v.sess != nil && s.clock.Now().Unix() >= v.sess.Expires {
				send("event: signed-out\ndata: expired\n\n")
				return
			}
			if sub.Lagged() {
				ok = send("event: reload\ndata: lagged\n\n")
			} else {
				ok = send(": heartbeat\n\n")
			}
		}
		if !ok {
			return
		}
	}
}

// streamMaxAge is how long one event stream lasts before the browser is
// made to reconnect.
const streamMaxAge = 30 * time.Minute

// mayStream reports whether the visitor may see request id: the service
// decides, so that the stream names no request the visitor could not
// open.
func (s *Server) mayStream(r *http.Request, id string) bool {
	_, err := s.svc.Get(r.Context(), id)
	if err != nil && jit.ErrorCode(err) != jit.ECodeNotFound {
		s.log.DebugContext(r.Context(), "web events: look up changed request", "request", id, "err", err.Error())
	}
	return err == nil
}

// auditExportPage is how many events the export reads at a time.
const auditExportPage = 1000

// auditExport writes the audit events the filters select as JSON lines
// (the format of `jitd audit export`), one event per line in chain order,
// reading the log a page at a time through the service (admins only,
// as the service decides).
func (s *Server) auditExport(w http.ResponseWriter, r *http.Request) {
	f, fe := auditFilter(r)
	if fe != nil {
		s.errorPage(w, r, http.StatusBadRequest, jit.Errorf(jit.ECodeInvalid, "check the filters: %s", fmtFields(fe)))
		return
	}
	f.Limit = auditExportPage
	evs, err := s.svc.Audit(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/jsonl; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="jit-audit.jsonl"`)
	enc := json.NewEncoder(w)
	for {
		for i := range evs {
			if err := enc.Encode(&evs[i]); err != nil {
				s.log.InfoContext(r.Context(), "web audit export cut short", "err", err.Error())
				return
			}
		}
		if len(evs) < auditExportPage {
			return
		}
		f.AfterSeq = evs[len(evs)-1].Seq
		if evs, err = s.svc.Audit(r.Context(), f); err != nil {
			// The answer has begun; the cut is in the log, and the file
			// ends early, which its last sequence number shows.
			s.log.ErrorContext(r.Context(), "web audit export failed", "after", f.AfterSeq, "err", err.Error())
			return
		}
	}
}

func fmtFields(fe *formErrors) string {
	var parts []string
	for k, v := range fe.Fields {
		parts = append(parts, k+": "+v)
	}
	return strings.Join(parts, "; ")
}
