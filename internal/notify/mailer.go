/*
Copyright 2026 The reportd Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package notify

import (
	"context"
	"errors"
	"fmt"
	netmail "net/mail"
	"strings"
	"time"

	"github.com/wneessen/go-mail"
)

// TLSMode is how the SMTP connection is protected.
type TLSMode string

// TLS modes of SMTPConfig.
const (
	// TLSStartTLS requires STARTTLS (the usual for port 587).
	TLSStartTLS TLSMode = "starttls"
	// TLSImplicit connects with TLS from the first byte (port 465).
	TLSImplicit TLSMode = "tls"
	// TLSNone sends in plain text: only for a relay on a trusted network
	// (or a development server such as mailpit).
	TLSNone TLSMode = "none"
)

// DefaultSMTPPort is the submission port.
const DefaultSMTPPort = 587

// SMTPConfig is how reportd sends mail.
type SMTPConfig struct {
	// Host is the SMTP server; e-mail is off when empty.
	Host string
	// Port of the server; DefaultSMTPPort when zero.
	Port int
	// TLS is starttls (default), tls or none.
	TLS TLSMode
	// Username and Password authenticate (the strongest mechanism the
	// server offers); no authentication when Username is empty.
	Username string
	Password string
	// From is the sender, e.g. "reportd <reports@example.com>".
	From string
	// Timeout bounds connecting and each SMTP command; 30 s when zero.
	Timeout time.Duration
}

// Validate reports settings that cannot work, naming the flag.
func (c SMTPConfig) Validate() error {
	var errs []error
	if c.Host == "" {
		return nil
	}
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("--smtp-port %d: not a port", c.Port))
	}
	switch c.TLS {
	case "", TLSStartTLS, TLSImplicit, TLSNone:
	default:
		errs = append(errs, fmt.Errorf("--smtp-tls %q: use starttls, tls or none", c.TLS))
	}
	if c.From == "" {
		errs = append(errs, errors.New("--smtp-from is required with --smtp-host: the sender address, e.g. reports@example.com"))
	} else if _, err := netmail.ParseAddress(c.From); err != nil {
		errs = append(errs, fmt.Errorf("--smtp-from %q: not an e-mail address: %w", c.From, err))
	}
	if c.Password != "" && c.Username == "" {
		errs = append(errs, errors.New("--smtp-password is set without --smtp-username"))
	}
	if c.Username != "" && c.TLS == TLSNone {
		errs = append(errs, errors.New("--smtp-username with --smtp-tls none would send the password in clear: use starttls or tls"))
	}
	return errors.Join(errs...)
}

// Mailer sends notification e-mails over SMTP, one message per
// recipient, so recipients never see each other and each has its own
// delivery id.
type Mailer struct {
	cfg    SMTPConfig
	policy *AddressPolicy
	from   *netmail.Address
	// idDomain is the right-hand side of Message-IDs: the sender's domain.
	idDomain string
}

// NewMailer returns a Mailer for cfg; recipients are checked against policy.
func NewMailer(cfg SMTPConfig, policy *AddressPolicy) (*Mailer, error) {
	if cfg.Host == "" {
		return nil, errors.New("no SMTP host configured (--smtp-host)")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultSMTPPort
	}
	if cfg.TLS == "" {
		cfg.TLS = TLSStartTLS
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	from, _ := netmail.ParseAddress(cfg.From) // validated above
	m := &Mailer{cfg: cfg, policy: policy, from: from, idDomain: "reportd.invalid"}
	if at := strings.LastIndexByte(from.Address, '@'); at >= 0 && at < len(from.Address)-1 {
		m.idDomain = from.Address[at+1:]
	}
	return m, nil
}

// MessageID is the Message-ID (without angle brackets) of the delivery.
func (m *Mailer) MessageID(deliveryID string) string {
	return deliveryID + "@" + m.idDomain
}

// SendEmail sends the e-mail about r to one recipient, with the
// delivery id as its Message-ID (and in X-Reportd-Delivery). The error is
// permanent when retrying cannot help: a recipient the policy refuses or
// the server rejects for good (5xx).
func (m *Mailer) SendEmail(ctx context.Context, deliveryID, to string, r Report) error {
	if err := m.policy.CheckEmail(to); err != nil {
		return err
	}
	content, err := RenderEmail(r)
	if err != nil {
		return Permanent(err)
	}
	msg := mail.NewMsg()
	msg.FromMailAddress(m.from)
	if err := msg.To(to); err != nil {
		return Permanent(fmt.Errorf("recipient %q: %w", to, err))
	}
	msg.Subject(content.Subject)
	msg.SetMessageIDWithValue(m.MessageID(deliveryID))
	msg.SetDate()
	msg.SetGenHeader("Auto-Submitted", "auto-generated") // RFC 3834: no vacation replies
	msg.SetGenHeader(mail.HeaderXAutoResponseSuppress, "All")
	msg.SetGenHeader(HeaderDelivery, deliveryID)
	msg.SetBodyString(mail.TypeTextPlain, content.Text)
	msg.AddAlternativeString(mail.TypeTextHTML, content.HTML)

	client, err := mail.NewClient(m.cfg.Host, m.clientOptions()...)
	if err != nil {
		return Permanent(fmt.Errorf("SMTP settings: %w", err))
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return classifySMTP(m.cfg, err)
	}
	return nil
}

// clientOptions are go-mail's options for the configuration.
func (m *Mailer) clientOptions() []mail.Option {
	opts := []mail.Option{mail.WithPort(m.cfg.Port), mail.WithTimeout(m.cfg.Timeout)}
	switch m.cfg.TLS {
	case TLSImplicit:
		opts = append(opts, mail.WithSSL())
	case TLSNone:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	if m.cfg.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover),
			mail.WithUsername(m.cfg.Username), mail.WithPassword(m.cfg.Password))
	}
	return opts
}

// classifySMTP says what went wrong in words an operator acts on, and
// marks what retrying cannot cure: an answer of 5xx from the server.
func classifySMTP(cfg SMTPConfig, err error) error {
	err = fmt.Errorf("sending through %s:%d: %w", cfg.Host, cfg.Port, err)
	var sendErr *mail.SendError
	if errors.As(err, &sendErr) && sendErr.ErrorCode() >= 500 && sendErr.ErrorCode() < 600 {
		return Permanent(err)
	}
	return err
}
