package daemon

import (
	"fmt"

	"github.com/jitaccess/jit"
	"github.com/jitaccess/jit/email"
	"github.com/jitaccess/jit/policy"
)

// emailNotifier builds the SMTP notifier of server.notifications.email.
// Approvers are resolved from the policy in force when a message is sent.
func emailNotifier(ec *policy.EmailConfig, baseURL string, holder *policy.Holder, clock jit.Clock) (jit.Notifier, error) {
	var password string
	if ec.Username != "" {
		p, err := ec.Password.Read()
		if err != nil {
			return nil, fmt.Errorf("server.notifications.email: password: %w", err)
		}
		password = p
	}
	if baseURL == "" {
		return nil, fmt.Errorf("server.notifications.email: server.base_url is required (messages link to the web app)")
	}
	n, err := email.New(email.Config{
		Addr: ec.SMTP, From: ec.From, Username: ec.Username, Password: password, TLS: ec.TLS, BaseURL: baseURL,
		ApproverEmails: func(r jit.Request) []string { return holder.Get().ApproverEmailsOf(&r) },
		DisplayName:    func(e string) string { return holder.Get().DisplayName(e) },
		Clock:          clock,
	})
	if err != nil {
		return nil, fmt.Errorf("server.notifications.email: %w", err)
	}
	return n, nil
}
