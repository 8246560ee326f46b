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

package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"reportd.io/reportd/controllers"
	"reportd.io/reportd/internal/manager"
	"reportd.io/reportd/internal/notify"
)

// TestNotifyFlagsFromTheChartsEnvironment: the variables the chart sets
// reach the notification settings; the page link's base is --public-url.
func TestNotifyFlagsFromTheChartsEnvironment(t *testing.T) {
	for k, v := range map[string]string{
		"REPORTD_SMTP_HOST": "smtp.example.com", "REPORTD_SMTP_PORT": "465", "REPORTD_SMTP_FROM": "reportd <reports@example.com>",
		"REPORTD_SMTP_TLS": "tls", "REPORTD_SMTP_USERNAME": "reportd", "REPORTD_SMTP_PASSWORD": "pw",
		"REPORTD_WEBHOOK_ALLOW_CIDRS": "10.20.0.0/16,192.168.7.7", "REPORTD_EMAIL_ALLOWED_DOMAINS": "example.com,*.example.com",
		"REPORTD_NOTIFY_MAX_ATTEMPTS": "8", "REPORTD_NOTIFY_BACKOFF": "30s", "REPORTD_NOTIFY_MAX_BACKOFF": "30m",
		"REPORTD_NOTIFY_TIMEOUT": "20s", "REPORTD_PUBLIC_URL": "https://reports.example.com",
	} {
		t.Setenv(k, v)
	}
	f, err := parseManagerFlags(t, "--namespaces=team-a", "--storage=file:///r", "--generator-image=x")
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.resolve()
	if err != nil {
		t.Fatal(err)
	}
	want := manager.NotifyConfig{
		SMTP: notify.SMTPConfig{Host: "smtp.example.com", Port: 465, TLS: notify.TLSImplicit, Username: "reportd", Password: "pw",
			From: "reportd <reports@example.com>"},
		WebhookAllowCIDRs:   []string{"10.20.0.0/16", "192.168.7.7"},
		EmailAllowedDomains: []string{"example.com", "*.example.com"},
		Delivery: controllers.NotificationSettings{PublicURL: "https://reports.example.com", MaxAttempts: 8,
			Backoff: 30 * time.Second, MaxBackoff: 30 * time.Minute, AttemptTimeout: 20 * time.Second, MaxAge: 24 * time.Hour},
	}
	if diff := cmp.Diff(want, c.Notify); diff != "" {
		t.Errorf("notification settings (-want +got):\n%s", diff)
	}
}

func TestNotifyFlagErrors(t *testing.T) {
	base := []string{"--disable-facade", "--storage=file:///r", "--generator-image=x"}
	for args, wantErr := range map[string]string{
		"--smtp-host=smtp.example.com":                                          "--smtp-from is required",
		"--smtp-host=smtp.example.com --smtp-from=a@example.com --smtp-tls=ssl": "--smtp-tls",
		"--webhook-allow-cidrs=10.0.0.0/40":                                     "--webhook-allow-cidrs",
		"--email-allowed-domains=a@example.com":                                 "--email-allowed-domains",
		"--notify-max-attempts=0":                                               "--notify-max-attempts",
		"--notify-backoff=1m --notify-max-backoff=10s":                          "--notify-max-backoff",
		"--public-url=reports.example.com":                                      "--public-url",
	} {
		_, err := parseManagerFlags(t, append(base, strings.Fields(args)...)...)
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%s: error = %v, want one mentioning %q", args, err, wantErr)
		}
	}
}

func TestNotifyMaxAgeZeroMeansNoLimit(t *testing.T) {
	f, err := parseManagerFlags(t, "--disable-facade", "--storage=file:///r", "--generator-image=x", "--notify-max-age=0")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := f.resolve()
	if c.Notify.Delivery.MaxAge >= 0 {
		t.Errorf("--notify-max-age=0 resolves to %v, want no limit (negative)", c.Notify.Delivery.MaxAge)
	}
}
