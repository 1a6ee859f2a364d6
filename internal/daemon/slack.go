package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/policy"
	"github.com/jitaccess/jit/slack"
	"github.com/jitaccess/jit/workflow"
)

// lateNotifier is a sink registered with the service before the notifier
// itself can be built: the Slack app needs the service, and the service
// needs its sinks. Notifications that arrive before it is set are retried.
type lateNotifier struct {
	name string
	n    atomic.Pointer[jit.Notifier]
}

func (l *lateNotifier) Name() string { return l.name }

func (l *lateNotifier) Notify(ctx context.Context, n jit.Notification) error {
	p := l.n.Load()
	if p == nil {
		return errors.New(l.name + " is not ready yet")
	}
	return (*p).Notify(ctx, n)
}

func (l *lateNotifier) set(n jit.Notifier) { l.n.Store(&n) }

// newSlack builds the Slack app of server.notifications.slack, or nil.
func newSlack(srv policy.ServerConfig, svc *workflow.Service, messages slack.MessageStore, clock jit.Clock, log *slog.Logger) (*slack.App, error) {
	nc := srv.Notifications
	if nc == nil || nc.Slack == nil {
		return nil, nil
	}
	sc := nc.Slack
	token, err := sc.BotToken.Read()
	if err != nil {
		return nil, fmt.Errorf("server.notifications.slack: bot token: %w", err)
	}
	secret, err := sc.SigningSecret.Read()
	if err != nil {
		return nil, fmt.Errorf("server.notifications.slack: signing secret: %w", err)
	}
	app, err := slack.New(slack.Config{
		BotToken: token, SigningSecret: secret, Channels: sc.Channels, DefaultChannel: sc.DefaultChannel,
		BaseURL: srv.BaseURL, StepUpRules: sc.StepUpRules, Service: svc, Resolve: svc.ResolveIdentity,
		Messages: messages, Clock: clock, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("server.notifications.slack: %w", err)
	}
	return app, nil
}

// slackMessages is where the Slack app keeps the positions of its
// messages: in the store, so that a restart or another replica updates the
// same message; in this process only for a store without records.
func slackMessages(st jit.Store) slack.MessageStore {
	if rs, ok := st.(jit.RecordStore); ok {
		return recordMessages{rs: rs}
	}
	return slack.NewMemoryStore()
}

// recordMessages keeps the Slack app's records in the store's records
// (namespace "slack", keyed by request ID).
type recordMessages struct{ rs jit.RecordStore }

const slackNamespace = "slack"

func (m recordMessages) Get(ctx context.Context, id string) (slack.MessageRecord, error) {
	v, rev, err := m.rs.GetRecord(ctx, slackNamespace, id)
	if jit.ErrorCode(err) == jit.ECodeNotFound {
		return slack.MessageRecord{}, nil
	} else if err != nil {
		return slack.MessageRecord{}, err
	}
	var rec slack.MessageRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return slack.MessageRecord{}, fmt.Errorf("slack message record of %s: %w", id, err)
	}
	rec.Rev = int(rev)
	return rec, nil
}

func (m recordMessages) Put(ctx context.Context, id string, rec slack.MessageRecord) error {
	v, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("slack message record of %s: %w", id, err)
	}
	_, err = m.rs.PutRecord(ctx, slackNamespace, id, v, int64(rec.Rev))
	switch jit.ErrorCode(err) {
	case jit.ECodeConflict, jit.ECodeNotFound:
		return slack.ErrConflict
	}
	return err
}

// slackRecordAge is how long the Slack app's record of a request is kept
// after its last change: long after any request has ended, so a late
// notification still finds its message.
const slackRecordAge = 30 * 24 * time.Hour

// pruneSlackRecords deletes old Slack message records every few hours
// until ctx ends. Every replica may do it; deleting is idempotent.
func pruneSlackRecords(ctx context.Context, rs jit.RecordStore, clock jit.Clock, log *slog.Logger) {
	t := time.NewTicker(6 * time.Hour)
	defer t.Stop()
	for {
		if n, err := rs.DeleteRecords(ctx, slackNamespace, clock.Now().Add(-slackRecordAge)); err != nil && ctx.Err() == nil {
			log.Warn("prune old Slack message records", "err", err)
		} else if n > 0 {
			log.Info("pruned old Slack message records", "deleted", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
