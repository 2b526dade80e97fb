package app_test

import (
	"context"
	"io"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"captionai/config"
)

// mailbox is a real SMTP server inside the test process.
type mailbox struct {
	addr string
	msgs chan message
}

type message struct {
	to   []string
	data string
}

type smtpSession struct {
	box *mailbox
	msg message
}

func (s *smtpSession) Reset()                                      { s.msg = message{} }
func (s *smtpSession) Logout() error                               { return nil }
func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error { return nil }
func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.msg.to = append(s.msg.to, to)
	return nil
}
func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.msg.data = string(b)
	s.box.msgs <- s.msg
	return err
}

func startMailbox(t *testing.T) *mailbox {
	box := &mailbox{msgs: make(chan message, 10)}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &smtpSession{box: box}, nil }))
	srv.Domain = "localhost"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	box.addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return box
}

// next waits for a message and returns it with its body decoded.
func (b *mailbox) next(t *testing.T) message {
	select {
	case m := <-b.msgs:
		msg, err := mail.ReadMessage(strings.NewReader(m.data))
		if err != nil {
			t.Fatal(err)
		}
		var body io.Reader = msg.Body
		if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
			body = quotedprintable.NewReader(body)
		}
		b, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		m.data = string(b)
		return m
	case <-time.After(30 * time.Second):
		t.Fatal("no mail arrived")
	}
	return message{}
}

var linkRE = regexp.MustCompile(`/reset\?token=([A-Za-z0-9_-]+)`)

func TestPasswordResetByMail(t *testing.T) {
	t.Parallel()
	box := startMailbox(t)
	s := start(t, opts{roles: both, tweak: func(c *config.Config) { c.SMTPURL = "smtp://" + box.addr }})
	u := visitor(t, s.URL)
	u.Signup("forgetful@example.com", "old password")
	if m := box.next(t); !strings.Contains(m.data, "/verify?token=") {
		t.Fatalf("sign-up sent no verification link:\n%s", m.data)
	}

	// The answer is the same for an address with no account, and no mail goes out.
	anon := visitor(t, s.URL)
	code1, body1, _ := anon.Form("/forgot", url.Values{"email": {"forgetful@example.com"}})
	code2, body2, _ := anon.Form("/forgot", url.Values{"email": {"nobody@example.com"}})
	if code1 != 200 || code2 != 200 ||
		strings.ReplaceAll(body1, "forgetful@example.com", "X") != strings.ReplaceAll(body2, "nobody@example.com", "X") {
		t.Fatalf("/forgot answers differ: %d vs %d", code1, code2)
	}

	m := box.next(t)
	if len(m.to) != 1 || m.to[0] != "forgetful@example.com" {
		t.Fatalf("mail to %v", m.to)
	}
	match := linkRE.FindStringSubmatch(m.data)
	if match == nil {
		t.Fatalf("no reset link in:\n%s", m.data)
	}
	token := match[1]
	var stored int
	s.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM account_tokens WHERE token_hash = sha256(convert_to($1, 'UTF8'))`, token).Scan(&stored)
	var plain int
	s.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM account_tokens WHERE encode(token_hash, 'escape') LIKE '%' || $1 || '%'`, token).Scan(&plain)
	if stored != 1 || plain != 0 {
		t.Fatalf("token stored %d times by hash, %d in plain", stored, plain)
	}
	select {
	case extra := <-box.msgs:
		t.Fatalf("a mail went to %v for an address without an account", extra.to)
	case <-time.After(500 * time.Millisecond):
	}

	if code, _ := anon.Get("/reset?token=" + token); code != http.StatusOK {
		t.Fatalf("reset page: %d", code)
	}
	if code, _, h := anon.Form("/reset", url.Values{"token": {token}, "password": {"new password"}}); code != http.StatusSeeOther || h.Get("Location") != "/login" {
		t.Fatalf("reset: %d %s", code, h.Get("Location"))
	}
	if code, _, _ := anon.Form("/reset", url.Values{"token": {token}, "password": {"third password"}}); code != http.StatusGone {
		t.Fatalf("second use of the link: %d, want 410", code)
	}
	fresh := visitor(t, s.URL)
	if code, _, _ := fresh.Form("/login", url.Values{"email": {"forgetful@example.com"}, "password": {"old password"}}); code != http.StatusUnauthorized {
		t.Fatalf("old password still works: %d", code)
	}
	if code, _, _ := fresh.Form("/login", url.Values{"email": {"forgetful@example.com"}, "password": {"new password"}}); code != http.StatusSeeOther {
		t.Fatalf("new password: %d", code)
	}

	// An expired link fails too.
	anon.Form("/forgot", url.Values{"email": {"forgetful@example.com"}})
	token = linkRE.FindStringSubmatch(box.next(t).data)[1]
	if _, err := s.app.Pool.Exec(context.Background(), `UPDATE account_tokens SET expires_at = now() - interval '1 minute'`); err != nil {
		t.Fatal(err)
	}
	if code, _ := anon.Get("/reset?token=" + token); code != http.StatusGone {
		t.Fatalf("expired link page: %d, want 410", code)
	}
	if code, _, _ := anon.Form("/reset", url.Values{"token": {token}, "password": {"later password"}}); code != http.StatusGone {
		t.Fatalf("expired link: %d, want 410", code)
	}
}
