package slack

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/slack-go/slack"

	"github.com/jitaccess/jit"
)

// MessageRecord is what the notifier remembers about one request: where
// its approval message is, which state of the request it shows, and which
// notifications were delivered. It is small JSON; Rev is kept beside it.
type MessageRecord struct {
	// Rev is the record's revision for compare-and-swap: 0 for a record
	// that was never stored; each successful Put stores Rev+1.
	Rev int `json:"-"`
	// Channel and TS locate the approval message ("" before it is posted).
	Channel string `json:"channel,omitempty"`
	TS      string `json:"ts,omitempty"`
	// Version is the newest stored version of the request the notifier
	// has seen, and Request that version; Shown is the version the
	// approval message was last updated to. The snapshot lets whoever
	// updates the message render the newest state, whichever
	// notification it is handling.
	Version int          `json:"version,omitempty"`
	Request *jit.Request `json:"request,omitempty"`
	Shown   int          `json:"shown,omitempty"`
	// Delivered are the IDs of the notifications fully delivered.
	Delivered []string `json:"delivered,omitempty"`
}

// ErrConflict is what MessageStore.Put returns when the record changed
// since it was read.
var ErrConflict = errors.New("slack: message record changed concurrently")

// MessageStore keeps a MessageRecord per request ID, so that a
// notification handled after a restart, or by another replica, finds the
// approval message and knows what was delivered. The daemon backs it with
// the jit store (one row per request: request_id primary key, rev integer,
// data JSON); MemoryStore serves tests and single-process trials.
type MessageStore interface {
	// Get returns the record of requestID, or a zero record (Rev 0) when
	// there is none. An error means the store could not be read. Read-only.
	Get(ctx context.Context, requestID string) (MessageRecord, error)
	// Put stores rec as the record of requestID if the stored revision
	// is still rec.Rev (0: nothing stored yet), making it rec.Rev+1, and
	// returns ErrConflict otherwise (nothing is written then). Any other
	// error means the store could not be written. Putting the same rec
	// twice succeeds once and conflicts after, so callers re-read.
	Put(ctx context.Context, requestID string, rec MessageRecord) error
}

// MemoryStore is a MessageStore in memory: it is lost on restart, so a
// daemon uses a persistent one.
type MemoryStore struct {
	mu   sync.Mutex
	recs map[string]MessageRecord
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{recs: map[string]MessageRecord{}} }

// Get implements MessageStore.
func (m *MemoryStore) Get(_ context.Context, id string) (MessageRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return cloneRecord(m.recs[id]), nil
}

// Put implements MessageStore.
func (m *MemoryStore) Put(_ context.Context, id string, rec MessageRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.recs[id].Rev != rec.Rev {
		return ErrConflict
	}
	rec = cloneRecord(rec)
	rec.Rev++
	m.recs[id] = rec
	return nil
}

func cloneRecord(r MessageRecord) MessageRecord {
	r.Delivered = slices.Clone(r.Delivered)
	if r.Request != nil {
		r.Request = r.Request.Clone()
	}
	return r
}

// maxCAS bounds the read-modify-write attempts on one record; running out
// returns an error, and the notification is retried later.
const maxCAS = 8

// modify applies fn to the record of id until it is stored without a
// conflict. fn returns false to store nothing.
func (a *App) modify(ctx context.Context, id string, fn func(*MessageRecord) bool) (MessageRecord, error) {
	for range maxCAS {
		rec, err := a.store.Get(ctx, id)
		if err != nil {
			return MessageRecord{}, fmt.Errorf("read slack message record of %s: %w", id, err)
		}
		if !fn(&rec) {
			return rec, nil
		}
		err = a.store.Put(ctx, id, rec)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return MessageRecord{}, fmt.Errorf("write slack message record of %s: %w", id, err)
		}
		rec.Rev++
		return rec, nil
	}
	return MessageRecord{}, fmt.Errorf("slack message record of %s keeps changing", id)
}

// Notify delivers n: it posts the approval message when a request is
// filed, updates that message in place on every later change, and tells
// the requester in a direct message what they need to know. It is
// idempotent on n.ID: a notification whose ID is recorded as delivered
// does nothing, a repeated one never posts a second approval message, and
// a notification older than what the message shows does not roll it back.
// A crash between posting a direct message and recording it can repeat
// that one message. Errors that retrying cannot fix (the channel does not
// exist, the token is revoked) are jit.Permanent.
func (a *App) Notify(ctx context.Context, n jit.Notification) error {
	id := n.Request.ID
	if id == "" || n.ID == "" {
		return jit.Permanent(errors.New("slack: notification without an ID or request"))
	}
	snapshot := n.Request.Clone()
	var done bool
	rec, err := a.modify(ctx, id, func(rec *MessageRecord) bool {
		if slices.Contains(rec.Delivered, n.ID) {
			done = true
			return false
		}
		if n.Version > rec.Version {
			rec.Version, rec.Request = n.Version, snapshot
			return true
		}
		return false
	})
	if err != nil || done {
		return err
	}
	if err := a.approvalMessageFor(ctx, n, rec); err != nil {
		return err
	}
	if msg, ok := a.requesterDM(n); ok {
		if err := a.sendDM(ctx, n.Request.Requester, msg); err != nil {
			return err
		}
	}
	_, err = a.modify(ctx, id, func(rec *MessageRecord) bool {
		if slices.Contains(rec.Delivered, n.ID) {
			return false
		}
		rec.Delivered = append(rec.Delivered, n.ID)
		return true
	})
	return err
}

// approvalMessageFor posts the approval message of a newly filed request,
// or brings an existing one up to date.
func (a *App) approvalMessageFor(ctx context.Context, n jit.Notification, rec MessageRecord) error {
	id := n.Request.ID
	filed := n.Action == jit.ActionSubmit || n.Action == jit.ActionExtend
	// Only a request still waiting for a decision is worth a message in
	// the approvers' channel; one decided before its filing notice got
	// here (or approved automatically) has nothing to ask of them.
	if rec.TS == "" && filed && rec.Request != nil && rec.Request.Status == jit.StatusPending {
		channel := a.channelFor(n.Request.Resource)
		if channel == "" {
			a.log.InfoContext(ctx, "no slack channel for the resource; no approval message", "request", id, "resource", n.Request.Resource)
			return nil
		}
		text, blocks := a.approvalMessage(rec.Request)
		ch, ts, err := a.api.PostMessageContext(ctx, channel, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...))
		if err != nil {
			return classify(fmt.Errorf("post approval message of %s to %s: %w", id, channel, err))
		}
		var lost bool
		if _, err := a.modify(ctx, id, func(r *MessageRecord) bool {
			if r.TS != "" {
				lost = r.TS != ts
				return false
			}
			r.Channel, r.TS, r.Shown = ch, ts, rec.Version
			return true
		}); err != nil {
			// The message is posted but not recorded: delete it, so that
			// the retry's message is the only one.
			a.deleteMessage(ctx, ch, ts)
			return err
		}
		if lost {
			// Another delivery of this notification posted at the same
			// time and recorded its message first.
			a.deleteMessage(ctx, ch, ts)
		}
	}
	return a.refresh(ctx, id)
}

func (a *App) deleteMessage(ctx context.Context, ch, ts string) {
	if _, _, err := a.api.DeleteMessageContext(ctx, ch, ts); err != nil {
		a.log.WarnContext(ctx, "delete duplicate slack message", "channel", ch, "ts", ts, "err", err)
	}
}

// refresh updates the approval message of request id until it shows the
// newest state recorded. Each updater re-reads the record after its own
// chat.update landed and updates again if a newer state arrived
// meanwhile, so the update that lands last always shows the newest state,
// however concurrent deliveries interleave.
func (a *App) refresh(ctx context.Context, id string) error {
	rendered := -1
	for range maxCAS {
		rec, err := a.store.Get(ctx, id)
		if err != nil {
			return fmt.Errorf("read slack message record of %s: %w", id, err)
		}
		if rec.TS == "" || rec.Request == nil {
			return nil
		}
		if rec.Version == rendered || (rendered < 0 && rec.Shown >= rec.Version) {
			return nil
		}
		text, blocks := a.approvalMessage(rec.Request)
		if _, _, _, err := a.api.UpdateMessageContext(ctx, rec.Channel, rec.TS, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...)); err != nil {
			if slackErrorIs(err, "message_not_found", "cant_update_message", "edit_window_closed") {
				// Someone deleted the message or it can no longer be
				// edited: nothing to keep up to date.
				a.log.WarnContext(ctx, "slack approval message can no longer be updated", "request", id, "err", err)
				return nil
			}
			return classify(fmt.Errorf("update approval message of %s: %w", id, err))
		}
		rendered = rec.Version
		if _, err := a.modify(ctx, id, func(r *MessageRecord) bool {
			if r.Shown >= rendered {
				return false
			}
			r.Shown = rendered
			return true
		}); err != nil {
			return err
		}
	}
	return fmt.Errorf("approval message of %s: the request keeps changing", id)
}

// sendDM sends msg to the Slack user with email; a person Slack does not
// know is skipped (logged), since retrying cannot help.
func (a *App) sendDM(ctx context.Context, email string, msg dm) error {
	user, err := a.dir.userOf(ctx, email)
	if errors.Is(err, errUnknownUser) {
		a.log.InfoContext(ctx, "requester is not in slack; no direct message", "email", email)
		return nil
	}
	if err != nil {
		return classify(err)
	}
	ch, _, _, err := a.api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{user}})
	if err != nil {
		return classify(fmt.Errorf("conversations.open with %s: %w", user, err))
	}
	if _, _, err := a.api.PostMessageContext(ctx, ch.ID, slack.MsgOptionText(msg.text, false), slack.MsgOptionBlocks(msg.blocks...)); err != nil {
		return classify(fmt.Errorf("direct message to %s: %w", user, err))
	}
	return nil
}

// classify marks Slack's errors that retrying cannot fix as permanent.
// not_in_channel is not one of them: inviting the bot fixes it, and the
// retries then succeed.
func classify(err error) error {
	if slackErrorIs(err, "invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
		"no_permission", "missing_scope", "channel_not_found", "is_archived", "msg_too_long", "invalid_blocks",
		"invalid_blocks_format", "no_text", "too_many_attachments", "restricted_action", "cannot_dm_bot",
		"user_disabled", "user_not_found") {
		return jit.Permanent(err)
	}
	return err
}
