package slack

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitaccess/jit"
)

// errUnknownUser: Slack has no usable email for the person (no such user,
// deactivated, a bot, no email shown to the app), so jit cannot tell who
// they are.
var errUnknownUser = errors.New("slack user has no usable email")

// maxCached bounds each cache of the directory.
const maxCached = 10000

// directory maps Slack users to emails and back through the Web API
// (users.info, users.lookupByEmail), remembering answers for a while so
// that each click does not cost a call. Failures are not remembered.
type directory struct {
	api   *slack.Client
	clock jit.Clock
	ttl   time.Duration

	mu      sync.Mutex
	emails  map[string]cached // Slack user ID → email
	userIDs map[string]cached // email → Slack user ID
}

type cached struct {
	value string
	until time.Time
}

func newDirectory(api *slack.Client, clock jit.Clock, ttl time.Duration) *directory {
	return &directory{api: api, clock: clock, ttl: ttl, emails: map[string]cached{}, userIDs: map[string]cached{}}
}

func (d *directory) get(m map[string]cached, key string) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := m[key]
	if !ok || !d.clock.Now().Before(c.until) {
		return "", false
	}
	return c.value, true
}

func (d *directory) put(m map[string]cached, key, value string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.clock.Now()
	if len(m) >= maxCached {
		for k, c := range m {
			if !now.Before(c.until) {
				delete(m, k)
			}
		}
		if len(m) >= maxCached {
			clear(m)
		}
	}
	m[key] = cached{value: value, until: now.Add(d.ttl)}
}

// emailOf returns the email of Slack user userID, lower-cased;
// errUnknownUser when Slack has none for them, any other error when Slack
// could not be asked.
func (d *directory) emailOf(ctx context.Context, userID string) (string, error) {
	if userID == "" {
		return "", errUnknownUser
	}
	if e, ok := d.get(d.emails, userID); ok {
		return e, nil
	}
	u, err := d.api.GetUserInfoContext(ctx, userID)
	if err != nil {
		if slackErrorIs(err, "user_not_found", "user_not_visible", "users_not_found") {
			return "", errUnknownUser
		}
		return "", fmt.Errorf("users.info: %w", err)
	}
	email := strings.ToLower(strings.TrimSpace(u.Profile.Email))
	if u.Deleted || u.IsBot || email == "" {
		return "", errUnknownUser
	}
	d.put(d.emails, userID, email)
	d.put(d.userIDs, email, userID)
	return email, nil
}

// userOf returns the Slack user ID of email; errUnknownUser when the
// workspace has no such person.
func (d *directory) userOf(ctx context.Context, email string) (string, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" || email == jit.SystemActor {
		return "", errUnknownUser
	}
	if id, ok := d.get(d.userIDs, email); ok {
		return id, nil
	}
	u, err := d.api.GetUserByEmailContext(ctx, email)
	if err != nil {
		if slackErrorIs(err, "users_not_found", "user_not_found") {
			return "", errUnknownUser
		}
		return "", fmt.Errorf("users.lookupByEmail: %w", err)
	}
	if u.Deleted || u.IsBot || u.ID == "" {
		return "", errUnknownUser
	}
	d.put(d.userIDs, email, u.ID)
	return u.ID, nil
}

// slackErrorIs reports whether err is a Slack Web API error with one of
// the codes.
func slackErrorIs(err error, codes ...string) bool {
	var se slack.SlackErrorResponse
	if !errors.As(err, &se) {
		return false
	}
	for _, c := range codes {
		if se.Err == c {
			return true
		}
	}
	return false
}

// identify returns ctx with the identity of Slack user userID of team
// teamID and the source "slack"; errUnknownUser when jit cannot tell who
// they are.
func (a *App) identify(ctx context.Context, teamID, userID string) (context.Context, jit.Identity, error) {
	if a.cfg.TeamID != "" && teamID != a.cfg.TeamID {
		return ctx, jit.Identity{}, errUnknownUser
	}
	email, err := a.dir.emailOf(ctx, userID)
	if err != nil {
		return ctx, jit.Identity{}, err
	}
	id := a.cfg.Resolve(email, nil, Via)
	if id.Email == "" {
		return ctx, jit.Identity{}, errUnknownUser
	}
	ctx = jit.WithIdentity(ctx, id)
	ctx = jit.WithSource(ctx, jit.Source{Kind: Via})
	return ctx, id, nil
}
