package policy

import (
	"errors"
	"fmt"
	"net/mail"
	"os"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// NotificationsConfig is server.notifications: who is told about changes,
// and how. Secrets are named (a file or an environment variable), never
// written in the policy.
type NotificationsConfig struct {
	// RemindBefore is how long before expiry active access is reminded
	// of (default 10m; 0 turns reminders off).
	RemindBefore time.Duration
	Email        *EmailConfig
	Webhooks     []WebhookConfig
	Slack        *SlackConfig
}

// SecretRef names where a secret is: a file or an environment variable.
type SecretRef struct {
	File string
	Env  string
}

// Read returns the secret, without surrounding white space. Its errors
// name the file or variable, never the secret.
func (r SecretRef) Read() (string, error) {
	switch {
	case r.File != "":
		b, err := os.ReadFile(r.File)
		if err != nil {
			return "", fmt.Errorf("read %s: %w", r.File, err)
		}
		if len(b) > maxSecretFile {
			return "", fmt.Errorf("%s is larger than %d bytes", r.File, maxSecretFile)
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			return "", fmt.Errorf("%s is empty", r.File)
		}
		return s, nil
	case r.Env != "":
		s := strings.TrimSpace(os.Getenv(r.Env))
		if s == "" {
			return "", fmt.Errorf("the environment variable %s is not set or empty", r.Env)
		}
		return s, nil
	}
	return "", errors.New("no secret file or environment variable is named")
}

// EmailConfig is server.notifications.email (SMTP).
type EmailConfig struct {
	// SMTP is host:port of the submission server.
	SMTP     string
	From     string
	Username string
	Password SecretRef
	// TLS is "starttls" (default), "tls" (implicit, port 465) or "none"
	// (loopback servers only).
	TLS string
}

// WebhookConfig is one of server.notifications.webhooks.
type WebhookConfig struct {
	Name   string
	URL    string
	Secret SecretRef
	// Actions limits the events sent (empty: all).
	Actions []string
}

// SlackConfig is server.notifications.slack.
type SlackConfig struct {
	BotToken       SecretRef
	SigningSecret  SecretRef
	DefaultChannel string
	// Channels maps resource names to the channel their approval
	// messages go to.
	Channels map[string]string
	// StepUpRules are rules whose approvals cannot be given in Slack
	// alone: an Approve click links to the web app to confirm there.
	StepUpRules []string
}

// DefaultRemindBefore is when active access is reminded of its end.
const DefaultRemindBefore = 10 * time.Minute

var (
	sinkName   = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	envVarName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	slackID    = regexp.MustCompile(`^[A-Z0-9]{2,32}$`)
)

func (d *decoder) notifications(n *yaml.Node) *NotificationsConfig {
	nc := &NotificationsConfig{RemindBefore: DefaultRemindBefore}
	const where = "server.notifications"
	d.fields(n, where, map[string]func(*yaml.Node){
		"remind_before": func(v *yaml.Node) {
			if t, ok := d.duration(v, where+".remind_before"); ok {
				nc.RemindBefore = t
			}
		},
		"email": func(v *yaml.Node) { nc.Email = d.emailConfig(v) },
		"webhooks": func(v *yaml.Node) {
			seen := map[string]bool{}
			d.list(v, where+".webhooks", func(i int, item *yaml.Node) {
				w := d.webhookConfig(item, fmt.Sprintf("%s.webhooks[%d]", where, i))
				if w == nil {
					return
				}
				if seen[w.Name] {
					d.addf(item.Line, "%s.webhooks[%d]: name %q is used twice", where, i, w.Name)
					return
				}
				seen[w.Name] = true
				nc.Webhooks = append(nc.Webhooks, *w)
			})
		},
		"slack": func(v *yaml.Node) { nc.Slack = d.slackConfig(v) },
	})
	return nc
}

// secretRef reads the "<name>_file" / "<name>_env" pair of a secret
// into ref; exactly one must be given (checked by needSecret).
func (d *decoder) secretRef(ref *SecretRef, where, name string) map[string]func(*yaml.Node) {
	return map[string]func(*yaml.Node){
		name + "_file": func(v *yaml.Node) {
			if t, ok := d.str(v, where+"."+name+"_file"); ok {
				ref.File = strings.TrimSpace(t.v)
			}
		},
		name + "_env": func(v *yaml.Node) {
			if t, ok := d.str(v, where+"."+name+"_env"); ok {
				if !envVarName.MatchString(t.v) {
					d.addf(t.line, "%s.%s_env: %q is not an environment variable name", where, name, t.v)
				}
				ref.Env = t.v
			}
		},
	}
}

func (d *decoder) needSecret(ref SecretRef, line int, where, name string) {
	switch {
	case ref.File != "" && ref.Env != "":
		d.addf(line, "%s: set %s_file or %s_env, not both", where, name, name)
	case ref.File == "" && ref.Env == "":
		d.addf(line, "%s: %s_file or %s_env is required (the secret itself never goes in this file)", where, name, name)
	}
}

func merge(ms ...map[string]func(*yaml.Node)) map[string]func(*yaml.Node) {
	out := map[string]func(*yaml.Node){}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func (d *decoder) emailConfig(n *yaml.Node) *EmailConfig {
	line := d.keyLine
	const where = "server.notifications.email"
	ec := &EmailConfig{TLS: "starttls"}
	str := func(dst *string, key string) func(*yaml.Node) {
		return func(v *yaml.Node) {
			if t, ok := d.str(v, where+"."+key); ok {
				*dst = strings.TrimSpace(t.v)
			}
		}
	}
	if !d.fields(n, where, merge(map[string]func(*yaml.Node){
		"smtp": str(&ec.SMTP, "smtp"), "from": str(&ec.From, "from"), "username": str(&ec.Username, "username"),
		"tls": str(&ec.TLS, "tls"),
	}, d.secretRef(&ec.Password, where, "password"))) {
		return nil
	}
	if ec.SMTP == "" || !strings.Contains(ec.SMTP, ":") {
		d.addf(line, "%s: smtp (host:port) is required", where)
	}
	if _, err := mail.ParseAddress(ec.From); err != nil {
		d.addf(line, "%s: from must be an email address: %v", where, err)
	}
	switch ec.TLS {
	case "starttls", "tls", "none":
	default:
		d.addf(line, "%s: tls must be starttls, tls or none, not %q", where, ec.TLS)
	}
	if ec.Username != "" {
		d.needSecret(ec.Password, line, where, "password")
	}
	return ec
}

func (d *decoder) webhookConfig(n *yaml.Node, where string) *WebhookConfig {
	line := resolve(n).Line
	w := &WebhookConfig{}
	if !d.fields(n, where, merge(map[string]func(*yaml.Node){
		"name": func(v *yaml.Node) {
			if t, ok := d.str(v, where+".name"); ok {
				if !sinkName.MatchString(t.v) {
					d.addf(t.line, "%s.name: %q must be lower-case letters, digits, - and _", where, t.v)
				}
				w.Name = t.v
			}
		},
		"url": func(v *yaml.Node) {
			if t, ok := d.str(v, where+".url"); ok {
				if err := checkHTTPURL(t.v); err != nil {
					d.addf(t.line, "%s.url: %v", where, err)
				}
				w.URL = t.v
			}
		},
		"actions": func(v *yaml.Node) {
			for _, t := range d.strList(v, where+".actions") {
				w.Actions = append(w.Actions, t.v)
			}
		},
	}, d.secretRef(&w.Secret, where, "secret"))) {
		return nil
	}
	if w.Name == "" || w.URL == "" {
		d.addf(line, "%s: name and url are required", where)
	}
	d.needSecret(w.Secret, line, where, "secret")
	return w
}

func (d *decoder) slackConfig(n *yaml.Node) *SlackConfig {
	line := d.keyLine
	const where = "server.notifications.slack"
	sc := &SlackConfig{}
	if !d.fields(n, where, merge(map[string]func(*yaml.Node){
		"default_channel": func(v *yaml.Node) {
			if t, ok := d.str(v, where+".default_channel"); ok {
				if !slackID.MatchString(t.v) {
					d.addf(t.line, "%s.default_channel: %q is not a Slack channel ID (like C0123ABCD)", where, t.v)
				}
				sc.DefaultChannel = t.v
			}
		},
		"channels": func(v *yaml.Node) {
			sc.Channels = d.strMap(v, where+".channels")
			for res, ch := range sc.Channels {
				if !slackID.MatchString(ch) {
					d.addf(resolve(v).Line, "%s.channels.%s: %q is not a Slack channel ID (like C0123ABCD)", where, res, ch)
				}
			}
		},
		"step_up_rules": func(v *yaml.Node) {
			for _, t := range d.strList(v, where+".step_up_rules") {
				sc.StepUpRules = append(sc.StepUpRules, t.v)
			}
		},
	}, d.secretRef(&sc.BotToken, where, "bot_token"), d.secretRef(&sc.SigningSecret, where, "signing_secret"))) {
		return nil
	}
	d.needSecret(sc.BotToken, line, where, "bot_token")
	d.needSecret(sc.SigningSecret, line, where, "signing_secret")
	if sc.DefaultChannel == "" {
		d.addf(line, "%s: default_channel is required (where approval messages go)", where)
	}
	return sc
}
