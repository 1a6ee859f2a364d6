package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jitaccess/jit"
)

// Notifications.
//
// Every change that concerns a request and carries an audit event people
// care about (filed, approved, denied, granted, ended...) also enqueues, in
// the same transaction, one notify job per configured sink (Slack, email,
// each webhook endpoint). The job carries the notification; the scheduler
// runs it on whichever replica leases it, and a sink that fails is retried
// with backoff without resending to the sinks that succeeded. Delivery is
// at least once; each sink drops duplicates by Notification.ID. Order is
// not guaranteed (a retried notification arrives after later ones): a
// sink that shows state (a Slack message updated in place) compares
// Notification.Version and ignores older ones.

// notifyActions are the audit actions that are told to people and systems.
var notifyActions = map[string]bool{
	jit.ActionSubmit: true, jit.ActionExtend: true, jit.ActionApprove: true, jit.ActionAutoApprove: true,
	jit.ActionDeny: true, jit.ActionCancel: true, jit.ActionLapse: true, jit.ActionGrant: true,
	jit.ActionGrantFailed: true, jit.ActionRelinquish: true, jit.ActionRevoke: true, jit.ActionExpire: true,
	jit.ActionRevokeDone: true,
}

// notifyMaxAttempts bounds the deliveries of one notification to one sink
// (with backoff capped at notifyMaxBackoff, about a day in all); a
// notification is not worth keeping longer than the access it is about.
const (
	notifyMaxAttempts = 40
	notifyMaxBackoff  = time.Hour
)

// notificationJobs returns the notify jobs of change c (whose request, if
// any, is about to be stored at version), one per sink and notifiable
// event.
func (s *Service) notificationJobs(c *jit.Change, version int, now time.Time) ([]jit.Job, error) {
	if len(s.cfg.Notifiers) == 0 || c.Request == nil {
		return nil, nil
	}
	var jobs []jit.Job
	for _, ev := range c.Events {
		if !notifyActions[ev.Action] || ev.RequestID != c.Request.ID {
			continue
		}
		n := jit.Notification{
			ID:     c.Request.ID + ":" + strconv.Itoa(version) + ":" + ev.Action,
			Action: ev.Action, Actor: ev.Actor, Reason: ev.Reason, At: ev.Time,
			Request: *c.Request, Version: version,
		}
		js, err := s.jobsFor(n, now)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, js...)
	}
	return jobs, nil
}

// jobsFor returns one notify job per sink for n, due at runAt.
func (s *Service) jobsFor(n jit.Notification, runAt time.Time) ([]jit.Job, error) {
	n.Request.Handle = nil
	payload, err := json.Marshal(n)
	if err != nil {
		return nil, fmt.Errorf("encode notification %s: %w", n.ID, err)
	}
	jobs := make([]jit.Job, 0, len(s.cfg.Notifiers))
	for _, sink := range s.cfg.Notifiers {
		jobs = append(jobs, jit.Job{
			Key: "notify:" + sink.Name() + ":" + n.ID, Kind: jit.JobNotify, RequestID: n.Request.ID,
			RunAt: runAt, Payload: payload,
		})
	}
	return jobs, nil
}

// reminderJobs returns the reminders of access that became active in
// change c and ends at expiresAt: due RemindBefore ahead of the end, when
// that is still in the future.
func (s *Service) reminderJobs(r *jit.Request, version int, expiresAt, now time.Time) ([]jit.Job, error) {
	before := s.cfg.RemindBefore
	if len(s.cfg.Notifiers) == 0 || before <= 0 || !expiresAt.Add(-before).After(now) {
		return nil, nil
	}
	n := jit.Notification{
		ID:     r.ID + ":" + strconv.Itoa(version) + ":" + jit.ActionRemind,
		Action: jit.ActionRemind, Actor: jit.SystemActor, At: expiresAt.Add(-before),
		Request: *r, Version: version,
	}
	return s.jobsFor(n, expiresAt.Add(-before))
}

// runNotify delivers the notification of job j to its sink.
func (s *Service) runNotify(ctx context.Context, j jit.Job) error {
	var n jit.Notification
	if err := json.Unmarshal(j.Payload, &n); err != nil {
		s.log.Error("dropping a notify job with a bad payload", "job", j.Key, "err", err)
		return s.finishJob(ctx, j, nil)
	}
	sink := s.sinkFor(j.Key)
	if sink == nil {
		// The sink was removed from the configuration since.
		s.log.Warn("dropping a notification for a sink that is no longer configured", "job", j.Key)
		return s.finishJob(ctx, j, nil)
	}
	if n.Action == jit.ActionRemind {
		// A reminder is only worth sending while the access is still
		// the same active access.
		r, err := s.store.GetRequest(ctx, n.Request.ID)
		if jit.ErrorCode(err) == jit.ECodeNotFound {
			return s.finishJob(ctx, j, nil)
		} else if err != nil {
			return err
		}
		if r.Status != jit.StatusActive || r.ExpiresAt == nil || !r.ExpiresAt.After(s.clock.Now()) {
			return s.finishJob(ctx, j, nil)
		}
		n.Request = *r
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.ProviderTimeout)
	err := sink.Notify(cctx, n)
	cancel()
	var perm *jit.PermanentError
	switch {
	case err == nil:
		if m := s.cfg.Metrics; m != nil {
			m.Notifications.WithLabelValues(sink.Name(), "ok").Inc()
		}
		return s.finishJob(ctx, j, nil)
	case errors.As(err, &perm) || j.Attempt+1 >= notifyMaxAttempts:
		s.log.Error("notification dropped", "job", j.Key, "attempts", j.Attempt+1, "err", err)
		if m := s.cfg.Metrics; m != nil {
			m.Notifications.WithLabelValues(sink.Name(), "dropped").Inc()
		}
		return s.finishJob(ctx, j, nil)
	default:
		delay := backoff(j.Attempt+1, notifyMaxBackoff)
		s.log.Warn("notification failed; will retry", "job", j.Key, "attempt", j.Attempt+1, "retry_in", delay, "err", err)
		if m := s.cfg.Metrics; m != nil {
			m.Notifications.WithLabelValues(sink.Name(), "retry").Inc()
		}
		return s.store.RetryJob(ctx, j.ID, j.LeaseOwner, s.clock.Now().Add(delay), err.Error())
	}
}

// sinkFor finds the notifier a notify job's key names.
func (s *Service) sinkFor(key string) jit.Notifier {
	for _, n := range s.cfg.Notifiers {
		prefix := "notify:" + n.Name() + ":"
		if len(key) > len(prefix) && key[:len(prefix)] == prefix {
			return n
		}
	}
	return nil
}
