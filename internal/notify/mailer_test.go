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

package notify_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/notify"
	"reportd.io/reportd/internal/testsupport"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// mailerFor returns a mailer sending to srv without TLS (mailpit has none).
func mailerFor(t *testing.T, srv *testsupport.SMTP, cfg notify.SMTPConfig, domains ...string) *notify.Mailer {
	t.Helper()
	policy, err := notify.NewAddressPolicy(nil, domains, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Host, cfg.Port, cfg.TLS = srv.SMTPHost, srv.SMTPPort, notify.TLSNone
	if cfg.From == "" {
		cfg.From = "reportd <reports@example.org>"
	}
	cfg.Timeout = 5 * time.Second
	m, err := notify.NewMailer(cfg, policy)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func completedReport() notify.Report {
	done := metav1.NewTime(time.Date(2026, 11, 29, 9, 2, 3, 0, time.UTC))
	return notify.ReportOf(&v1alpha1.ReportRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "sales-abc12", Namespace: "reports"},
		Spec: v1alpha1.ReportRequestSpec{Type: "sales", RequestedBy: "alice",
			Parameters: map[string]v1alpha1.ParameterValue{"startDate": "2024-01-01"}},
		Status: v1alpha1.ReportRequestStatus{Phase: v1alpha1.PhaseCompleted, Rows: 42, Bytes: 2048, CompletedAt: &done},
	}, "https://reports.example.com")
}

// TestMailerDeliversToMailpit sends through a real SMTP server and reads the mail back: one recipient, the delivery id
// as Message-ID, a text and an HTML body with the page link.
func TestMailerDeliversToMailpit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := testsupport.NewSMTP(t)
	m := mailerFor(t, srv, notify.SMTPConfig{})
	if err := m.SendEmail(ctx, "uid-1.email.abc", "alice@example.com", completedReport()); err != nil {
		t.Fatal(err)
	}
	msgs, err := srv.WaitMessages(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("%d mails, want 1", len(msgs))
	}
	got := msgs[0]
	if got.MessageID != "uid-1.email.abc@example.org" || got.Subject != "Report sales is ready (42 rows)" ||
		len(got.To) != 1 || got.To[0].Address != "alice@example.com" || got.From.Address != "reports@example.org" {
		t.Errorf("unexpected mail %+v", got)
	}
	detail, err := srv.Message(ctx, got.ID)
	if err != nil {
		t.Fatal(err)
	}
	link := "https://reports.example.com/reports/sales-abc12"
	if !strings.Contains(detail.Text, link) || !strings.Contains(detail.HTML, `href="`+link+`"`) || !strings.Contains(detail.Text, "2.0 kB") {
		t.Errorf("bodies lack the link or the size:\n%s\n%s", detail.Text, detail.HTML)
	}
	if detail.Headers[notify.HeaderDelivery][0] != "uid-1.email.abc" || detail.Headers["Auto-Submitted"][0] != "auto-generated" {
		t.Errorf("headers %v", detail.Headers)
	}
}

// TestMailerErrors: a rejected recipient is temporary (4xx) or permanent
// (5xx) as the server says; a server that is down is temporary and named;
// a recipient outside the allowed domains is refused before any
// connection.
func TestMailerErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := testsupport.NewSMTP(t)
	m := mailerFor(t, srv, notify.SMTPConfig{}, "example.com")
	r := completedReport()

	if err := srv.FailRecipients(ctx, 451, 100); err != nil {
		t.Fatal(err)
	}
	if err := m.SendEmail(ctx, "d1", "alice@example.com", r); err == nil || notify.IsPermanent(err) || !strings.Contains(err.Error(), "451") {
		t.Errorf("451: %v, want a temporary error naming the code", err)
	}
	if err := srv.FailRecipients(ctx, 550, 100); err != nil {
		t.Fatal(err)
	}
	if err := m.SendEmail(ctx, "d2", "alice@example.com", r); err == nil || !notify.IsPermanent(err) {
		t.Errorf("550: %v, want a permanent error", err)
	}
	if err := srv.FailRecipients(ctx, 451, 0); err != nil {
		t.Fatal(err)
	}
	if err := m.SendEmail(ctx, "d3", "eve@evil.org", r); err == nil || !notify.IsPermanent(err) || !strings.Contains(err.Error(), "allowed e-mail domain") {
		t.Errorf("outside the domains: %v", err)
	}
	if err := srv.Down(); err != nil {
		t.Fatal(err)
	}
	err := m.SendEmail(ctx, "d4", "alice@example.com", r)
	if err == nil || notify.IsPermanent(err) || !strings.Contains(err.Error(), srv.SMTPAddr()) {
		t.Errorf("server down: %v, want a temporary error naming the server", err)
	}
	if err := srv.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if msgs, err := srv.Messages(ctx); err != nil || len(msgs) != 0 {
		t.Errorf("mails after the failures: %v, %v", msgs, err)
	}
	if err := m.SendEmail(ctx, "d5", "alice@example.com", r); err != nil {
		t.Errorf("after the server came back: %v", err)
	}
}

func TestSMTPConfigValidate(t *testing.T) {
	for _, c := range []struct {
		cfg  notify.SMTPConfig
		says string
	}{
		{notify.SMTPConfig{Host: "smtp.example.com"}, "--smtp-from is required"},
		{notify.SMTPConfig{Host: "smtp.example.com", From: "not an address"}, "--smtp-from"},
		{notify.SMTPConfig{Host: "smtp.example.com", From: "a@example.com", TLS: "ssl"}, "--smtp-tls"},
		{notify.SMTPConfig{Host: "smtp.example.com", From: "a@example.com", Port: 70000}, "--smtp-port"},
		{notify.SMTPConfig{Host: "smtp.example.com", From: "a@example.com", Password: "x"}, "--smtp-username"},
		{notify.SMTPConfig{Host: "smtp.example.com", From: "a@example.com", TLS: notify.TLSNone, Username: "u"}, "in clear"},
	} {
		if err := c.cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%+v: %v, want an error naming %s", c.cfg, err, c.says)
		}
	}
	if err := (notify.SMTPConfig{}).Validate(); err != nil {
		t.Errorf("no SMTP at all is valid: %v", err)
	}
}
