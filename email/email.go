// Package email is the jit.Notifier that tells people about requests by
// email over SMTP: approvers learn that a request waits for them, the
// requester learns how it ended (granted, denied, failed, revoked, expired,
// relinquished, lapsed) and is reminded before access ends. What each
// person receives and how to configure it is documented in
// docs/notifications.md (section "Email").
package email

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/jitaccess/jit"
)

// SinkName is what Name returns; notify job keys and metrics use it.
const SinkName = "email"

// TLS modes of Config.TLS.
const (
	// TLSStartTLS connects in plain text and upgrades with STARTTLS, which
	// the server must offer (submission, port 587). It is the default.
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (SMTPS, port 465).
	TLSImplicit = "tls"
	// TLSNone sends in plain text. It is accepted only for a relay on a
	// loopback address, where nothing crosses a network.
	TLSNone = "none"
)

// DefaultTimeout bounds one Notify call: connecting, the SMTP dialogue and
// every message of the notification.
const DefaultTimeout = 30 * time.Second

// Deduplication memory: how long and how many delivered messages a
// Notifier remembers, so that a retried notification is not sent again to
// the recipients that already got it. A notification is retried for about
// a day at most.
const (
	rememberFor   = 48 * time.Hour
	maxRemembered = 10000
)

// Config configures a Notifier.
type Config struct {
	// Addr is the SMTP server, host:port (required).
	Addr string
	// From is the sender, a plain address ("jit@example.com") or one with
	// a name ("jit <jit@example.com>") (required).
	From string
	// Username and Password authenticate with AUTH PLAIN, which is only
	// ever sent over TLS. Both or neither. The caller reads the password
	// from a file or the environment; it never appears in errors.
	Username string
	Password string
	// TLS is TLSStartTLS (default), TLSImplicit or TLSNone (loopback
	// relays only).
	TLS string
	// TLSConfig, if set, replaces the default TLS configuration (to trust
	// a private CA). Its ServerName defaults to Addr's host.
	TLSConfig *tls.Config
	// HelloName is the name given in EHLO after TLS is up (default: this
	// machine's host name when it is fully qualified, else "localhost").
	HelloName string
	// BaseURL is where the web app is served ("https://jit.example.com");
	// messages link to BaseURL/requests/<id> (required).
	BaseURL string
	// ApproverEmails returns the addresses of the people who may approve
	// r, resolved from the policy by the caller (required). The requester
	// is always left out.
	ApproverEmails func(r jit.Request) []string
	// DisplayName, if set, returns a person's name for an address ("" if
	// unknown); it is shown next to the address.
	DisplayName func(email string) string
	// Clock stamps the Date header (default jit.SystemClock).
	Clock jit.Clock
	// Timeout bounds one Notify call (default DefaultTimeout).
	Timeout time.Duration
}

// Validate reports every problem with c, or nil.
func (c Config) Validate() error {
	var errs []error
	host, port, err := net.SplitHostPort(c.Addr)
	switch {
	case c.Addr == "":
		errs = append(errs, errors.New("Addr is required (host:port of the SMTP server, e.g. smtp.example.com:587)"))
	case err != nil || host == "" || port == "":
		errs = append(errs, fmt.Errorf("Addr %q is not host:port", c.Addr))
	default:
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			errs = append(errs, fmt.Errorf("Addr %q has an invalid port", c.Addr))
		}
	}
	if c.From == "" {
		errs = append(errs, errors.New("From is required (the sender address)"))
	} else if _, err := parseFrom(c.From); err != nil {
		errs = append(errs, fmt.Errorf("From %q: %w", c.From, err))
	}
	if (c.Username == "") != (c.Password == "") {
		errs = append(errs, errors.New("Username and Password go together: set both or neither"))
	}
	if strings.ContainsAny(c.Username, "\x00\r\n") {
		errs = append(errs, errors.New("Username contains a NUL or line break"))
	}
	switch c.TLS {
	case "", TLSStartTLS, TLSImplicit:
	case TLSNone:
		if host != "" && !isLoopback(host) {
			errs = append(errs, fmt.Errorf("TLS %q is only allowed for a relay on a loopback address (localhost, 127.0.0.1, ::1), not %q: mail and credentials would cross the network in plain text; use %q or %q",
				TLSNone, host, TLSStartTLS, TLSImplicit))
		}
		if c.Username != "" {
			errs = append(errs, fmt.Errorf("Username/Password need TLS: AUTH PLAIN is never sent with TLS %q", TLSNone))
		}
	default:
		errs = append(errs, fmt.Errorf("TLS %q is not one of %q (default), %q, %q", c.TLS, TLSStartTLS, TLSImplicit, TLSNone))
	}
	if c.HelloName != "" && (strings.ContainsAny(c.HelloName, " \t\r\n") || !isASCII(c.HelloName)) {
		errs = append(errs, fmt.Errorf("HelloName %q is not a host name", c.HelloName))
	}
	if c.BaseURL == "" {
		errs = append(errs, errors.New("BaseURL is required (where the web app is served, for links)"))
	} else if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		errs = append(errs, fmt.Errorf("BaseURL %q is not an http(s) URL like https://jit.example.com", c.BaseURL))
	}
	if c.ApproverEmails == nil {
		errs = append(errs, errors.New("ApproverEmails is required (it tells who may approve a request)"))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("Timeout %v must not be negative", c.Timeout))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("email config: %w", err)
	}
	return nil
}

// Notifier sends notifications by email. It is safe for concurrent use.
type Notifier struct {
	cfg       Config
	from      *mail.Address
	msgDomain string
	baseURL   string
	tlsConfig *tls.Config

	mu   sync.Mutex
	sent map[string]time.Time // Message-ID → when the server accepted it
}

var _ jit.Notifier = (*Notifier)(nil)

// New checks cfg and returns a Notifier. It does not connect: the server is
// first contacted by Notify.
func New(cfg Config) (*Notifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.TLS == "" {
		cfg.TLS = TLSStartTLS
	}
	if cfg.Clock == nil {
		cfg.Clock = jit.SystemClock{}
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.HelloName == "" {
		cfg.HelloName = "localhost"
		if h, err := os.Hostname(); err == nil && strings.Contains(h, ".") && isASCII(h) && !strings.ContainsAny(h, " \t\r\n") {
			cfg.HelloName = h
		}
	}
	from, _ := parseFrom(cfg.From)
	host, _, _ := net.SplitHostPort(cfg.Addr)
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLSConfig != nil {
		tc = cfg.TLSConfig.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = host
	}
	// Message-IDs must be ASCII; an internationalised sender domain
	// cannot name them.
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	if !isASCII(domain) || domain == "" {
		domain = "jit.invalid"
	}
	return &Notifier{
		cfg: cfg, from: from, msgDomain: domain,
		baseURL:   strings.TrimRight(cfg.BaseURL, "/"),
		tlsConfig: tc,
		sent:      map[string]time.Time{},
	}, nil
}

// Name returns "email".
func (n *Notifier) Name() string { return SinkName }

// Notify emails the people notification nt concerns (see
// docs/notifications.md): one message per recipient, all over one SMTP
// connection. Actions that concern nobody by email return nil without
// connecting.
//
// Errors: a recipient or message the server refuses with a 5xx reply, an
// approver address that is not a plain email address, a request whose
// header fields (requester, resource, access) hold line breaks or other
// control characters, or an approval request without any approver
// address is a jit.Permanent error (retrying cannot help). Anything else
// (network, TLS, authentication, 4xx replies, a refused sender) is a
// plain error, to be retried: those are outages or configuration
// mistakes that a later attempt may find fixed. When some recipients
// failed temporarily, the error is plain even if others failed
// permanently.
//
// Idempotency on nt.ID: each message's Message-ID is derived from nt.ID
// and the recipient, so every attempt carries the same Message-ID and mail
// systems that drop duplicates do so. Besides, the Notifier remembers for
// two days the messages the server accepted and does not send them again,
// so a retry after a partial failure only goes to the recipients that
// have not got it yet (a retry on another replica or after a restart
// resends, with the same Message-ID).
func (n *Notifier) Notify(ctx context.Context, nt jit.Notification) error {
	msgs, skipped, err := n.compose(nt)
	if err != nil {
		return err
	}
	// Recipients whose address is unusable are permanent failures; the
	// others still get their message.
	permanent := skipped
	msgs = n.unsent(msgs)
	if len(msgs) == 0 {
		if len(permanent) > 0 {
			return jit.Permanent(fmt.Errorf("email: notification %s: %w", nt.ID, errors.Join(permanent...)))
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	c, closeConn, err := n.connect(ctx)
	if err != nil {
		return n.ctxErr(ctx, err)
	}
	defer closeConn()

	var temporary []error
	for _, m := range msgs {
		senderRefused, err := n.deliver(c, m)
		if err == nil {
			n.remember(m.messageID)
			continue
		}
		var se *smtp.SMTPError
		switch {
		case errors.As(err, &se) && se.Code >= 500 && !senderRefused:
			permanent = append(permanent, fmt.Errorf("to %s: %w", m.to, err))
		case errors.As(err, &se):
			temporary = append(temporary, fmt.Errorf("to %s: %w", m.to, err))
		default:
			// The connection is broken (or the context is done): the
			// remaining messages are not tried, the retry sends them.
			return fmt.Errorf("email: notification %s to %s: %w", nt.ID, m.to, n.ctxErr(ctx, err))
		}
		// Abort the failed transaction so the next recipient starts
		// clean; a failure here means the connection is unusable.
		if err := c.Reset(); err != nil {
			return fmt.Errorf("email: notification %s: %w", nt.ID, errors.Join(append(append(temporary, permanent...), n.ctxErr(ctx, err))...))
		}
	}
	// The messages are accepted; a failing QUIT changes nothing for them.
	_ = c.Quit()
	switch {
	case len(temporary) > 0:
		return fmt.Errorf("email: notification %s: %w", nt.ID, errors.Join(append(temporary, permanent...)...))
	case len(permanent) > 0:
		return jit.Permanent(fmt.Errorf("email: notification %s refused: %w", nt.ID, errors.Join(permanent...)))
	}
	return nil
}

// ctxErr names the context's end as the cause when it ended.
func (n *Notifier) ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w (%w)", err, cerr)
	}
	return err
}

// connect dials the server, secures the connection as configured and
// authenticates. The returned func closes the connection.
func (n *Notifier) connect(ctx context.Context) (*smtp.Client, func(), error) {
	d := &net.Dialer{Timeout: n.cfg.Timeout}
	var conn net.Conn
	var err error
	if n.cfg.TLS == TLSImplicit {
		conn, err = (&tls.Dialer{NetDialer: d, Config: n.tlsConfig}).DialContext(ctx, "tcp", n.cfg.Addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", n.cfg.Addr)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("email: connect to %s: %w", n.cfg.Addr, err)
	}
	if n.cfg.TLS == TLSNone {
		// Validate checked the configured host; this checks where the
		// name actually led.
		if ta, ok := conn.RemoteAddr().(*net.TCPAddr); !ok || !ta.IP.IsLoopback() {
			conn.Close()
			return nil, nil, fmt.Errorf("email: %s is %v, not a loopback address; refusing to send without TLS", n.cfg.Addr, conn.RemoteAddr())
		}
	}
	// go-smtp bounds each command with deadlines of its own; closing the
	// connection when ctx ends is what makes the whole call respect ctx.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	closeConn := func() {
		stop()
		conn.Close()
	}
	c, err := n.handshake(conn)
	if err != nil {
		closeConn()
		return nil, nil, err
	}
	return c, closeConn, nil
}

// handshake runs the SMTP greeting, STARTTLS and AUTH on conn.
func (n *Notifier) handshake(conn net.Conn) (*smtp.Client, error) {
	var c *smtp.Client
	if n.cfg.TLS == TLSStartTLS {
		// go-smtp only offers STARTTLS as part of the client's creation;
		// it greets with "EHLO localhost" before TLS and with HelloName
		// after, when the server first learns anything about us.
		var err error
		c, err = smtp.NewClientStartTLS(conn, n.tlsConfig)
		if err != nil {
			return nil, fmt.Errorf("email: STARTTLS with %s (TLS %q requires the server to offer it): %w", n.cfg.Addr, TLSStartTLS, err)
		}
	} else {
		c = smtp.NewClient(conn)
	}
	c.CommandTimeout = n.cfg.Timeout
	c.SubmissionTimeout = n.cfg.Timeout
	if err := c.Hello(n.cfg.HelloName); err != nil {
		return nil, fmt.Errorf("email: greet %s: %w", n.cfg.Addr, err)
	}
	if n.cfg.Username == "" {
		return c, nil
	}
	if _, isTLS := c.TLSConnectionState(); !isTLS {
		// Validate forbids this; the check keeps the password off a
		// plain-text connection whatever happens.
		return nil, fmt.Errorf("email: refusing to authenticate to %s without TLS", n.cfg.Addr)
	}
	if !c.SupportsAuth(sasl.Plain) {
		return nil, fmt.Errorf("email: %s does not offer AUTH PLAIN", n.cfg.Addr)
	}
	if err := c.Auth(sasl.NewPlainClient("", n.cfg.Username, n.cfg.Password)); err != nil {
		return nil, fmt.Errorf("email: authenticate to %s as %s: %w", n.cfg.Addr, n.cfg.Username, err)
	}
	return c, nil
}

// deliver sends one message in one SMTP transaction. senderRefused says
// the server refused the envelope sender (MAIL FROM), which is about the
// configuration rather than this recipient.
func (n *Notifier) deliver(c *smtp.Client, m message) (senderRefused bool, err error) {
	var opts *smtp.MailOptions
	if !isASCII(n.from.Address) || !isASCII(m.to) {
		opts = &smtp.MailOptions{UTF8: true}
	}
	if err := c.Mail(n.from.Address, opts); err != nil {
		return true, fmt.Errorf("sender %s refused: %w", n.from.Address, err)
	}
	if err := c.Rcpt(m.to, nil); err != nil {
		return false, fmt.Errorf("recipient refused: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return false, fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(m.data); err != nil {
		w.Close()
		return false, fmt.Errorf("write message: %w", err)
	}
	if err := w.Close(); err != nil {
		return false, fmt.Errorf("message refused: %w", err)
	}
	return false, nil
}

// unsent drops the messages this Notifier already delivered.
func (n *Notifier) unsent(msgs []message) []message {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := msgs[:0:0]
	for _, m := range msgs {
		if _, done := n.sent[m.messageID]; !done {
			out = append(out, m)
		}
	}
	return out
}

// remember records that the server accepted the message with id, and
// forgets old entries to keep the memory bounded.
func (n *Notifier) remember(id string) {
	now := n.cfg.Clock.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent[id] = now
	if len(n.sent) <= maxRemembered {
		return
	}
	oldestID, oldest := "", now
	for k, t := range n.sent {
		if now.Sub(t) > rememberFor {
			delete(n.sent, k)
		} else if !t.After(oldest) {
			oldestID, oldest = k, t
		}
	}
	if len(n.sent) > maxRemembered {
		delete(n.sent, oldestID)
	}
}

// messageID is the Message-ID of the message of notification id to
// recipient: the same on every attempt, different for every recipient.
func (n *Notifier) messageID(id, recipient string) string {
	h := sha256.Sum256([]byte("jit-email\x00" + id + "\x00" + strings.ToLower(recipient)))
	return "<" + hex.EncodeToString(h[:20]) + "@" + n.msgDomain + ">"
}

// parseFrom parses Config.From.
func parseFrom(s string) (*mail.Address, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("contains a line break")
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("not an email address: %w", err)
	}
	if !strings.Contains(a.Address, "@") {
		return nil, errors.New("not an email address")
	}
	return a, nil
}

// isLoopback reports whether host names this machine without a network.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
