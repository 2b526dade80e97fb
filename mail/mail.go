// Package mail sends the app's email over SMTP, or logs it when no server
// is configured (development).
package mail

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"

	gomail "github.com/wneessen/go-mail"
)

// Sender sends one plain-text message.
type Sender interface {
	Send(ctx context.Context, to, subject, body string) error
}

// New returns an SMTP sender for smtpURL (smtp://user:pass@host:port, with
// STARTTLS when the server offers it, or smtps:// for implicit TLS), or a
// sender that only logs when smtpURL is empty.
func New(smtpURL, from string, log *slog.Logger) (Sender, error) {
	if smtpURL == "" {
		return logSender{log}, nil
	}
	u, err := url.Parse(smtpURL)
	if err != nil || u.Hostname() == "" || (u.Scheme != "smtp" && u.Scheme != "smtps") {
		return nil, fmt.Errorf("SMTP_URL must look like smtp://user:pass@host:587 or smtps://host:465")
	}
	opts := []gomail.Option{}
	if u.Scheme == "smtps" {
		opts = append(opts, gomail.WithSSL())
	} else {
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	if p := u.Port(); p != "" {
		port, err := strconv.Atoi(p)
		if err != nil {
			return nil, fmt.Errorf("SMTP_URL port %q: %w", p, err)
		}
		opts = append(opts, gomail.WithPort(port))
	}
	if u.User != nil {
		pass, _ := u.User.Password()
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(u.User.Username()), gomail.WithPassword(pass))
	}
	return &smtpSender{host: u.Hostname(), opts: opts, from: from}, nil
}

type smtpSender struct {
	host string
	opts []gomail.Option
	from string
}

func (s *smtpSender) Send(ctx context.Context, to, subject, body string) error {
	m := gomail.NewMsg()
	if err := m.From(s.from); err != nil {
		return fmt.Errorf("mail from %q: %w", s.from, err)
	}
	if err := m.To(to); err != nil {
		return fmt.Errorf("mail to %q: %w", to, err)
	}
	m.Subject(subject)
	m.SetBodyString(gomail.TypeTextPlain, body)
	c, err := gomail.NewClient(s.host, s.opts...)
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, m); err != nil {
		return fmt.Errorf("sending mail: %w", err)
	}
	return nil
}

type logSender struct{ log *slog.Logger }

// Send logs the message: without SMTP_URL, the developer reads links here.
func (l logSender) Send(ctx context.Context, to, subject, body string) error {
	l.log.Info("mail not sent: SMTP_URL is unset", "to", to, "subject", subject, "body", body)
	return nil
}
