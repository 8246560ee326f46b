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
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"reportd.io/reportd/internal/manager"
	"reportd.io/reportd/internal/notify"
)

// notifyFlags are the manager's notification flags. The page link's base
// is the facade's --public-url, which the manager shares.
type notifyFlags struct {
	config  manager.NotifyConfig
	smtpTLS string
}

// Defaults of the notification flags.
const (
	defaultNotifyMaxAttempts = 5
	defaultNotifyBackoff     = 10 * time.Second
	defaultNotifyMaxBackoff  = 10 * time.Minute
	defaultNotifyTimeout     = 30 * time.Second
	defaultNotifyMaxAge      = 24 * time.Hour
)

// addNotifyFlags registers the notification flags on fs.
func addNotifyFlags(fs *pflag.FlagSet, f *notifyFlags) {
	c := &f.config
	fs.StringVar(&c.SMTP.Host, "smtp-host", "", "SMTP server for notification e-mails (no e-mail when empty)")
	fs.IntVar(&c.SMTP.Port, "smtp-port", notify.DefaultSMTPPort, "port of --smtp-host")
	fs.StringVar(&c.SMTP.From, "smtp-from", "", `sender of notification e-mails, e.g. "reportd <reports@example.com>"`)
	fs.StringVar(&f.smtpTLS, "smtp-tls", string(notify.TLSStartTLS), "starttls (required STARTTLS), tls (implicit TLS, port 465) or none (plain; a trusted relay only)")
	fs.StringVar(&c.SMTP.Username, "smtp-username", "", "SMTP user (no authentication when empty)")
	fs.StringVar(&c.SMTP.Password, "smtp-password", "", "SMTP password (prefer REPORTD_SMTP_PASSWORD)")
	fs.StringSliceVar(&c.WebhookAllowCIDRs, notify.AllowCIDRsFlag[2:], nil,
		"comma-separated CIDRs webhooks may reach although loopback, link-local, private or the API server's (e.g. 10.20.0.0/16 for an in-cluster receiver)")
	fs.StringSliceVar(&c.EmailAllowedDomains, "email-allowed-domains", nil,
		"comma-separated domains notification e-mails may go to (example.com, or *.example.com for its subdomains); any when empty")
	fs.Int32Var(&c.Delivery.MaxAttempts, "notify-max-attempts", defaultNotifyMaxAttempts, "attempts per e-mail or webhook before it is recorded Failed")
	fs.DurationVar(&c.Delivery.Backoff, "notify-backoff", defaultNotifyBackoff, "wait after a failed notification attempt, doubled after each further one")
	fs.DurationVar(&c.Delivery.MaxBackoff, "notify-max-backoff", defaultNotifyMaxBackoff, "longest wait between two notification attempts")
	fs.DurationVar(&c.Delivery.AttemptTimeout, "notify-timeout", defaultNotifyTimeout, "time limit of one notification attempt (SMTP conversation or webhook request)")
	fs.DurationVar(&c.Delivery.MaxAge, "notify-max-age", defaultNotifyMaxAge, "reports that finished longer ago and were never notified are not (e.g. after an upgrade); 0 for no limit")
}

// resolve returns the notification configuration; publicURL is the
// facade's --public-url, the base of the links in messages.
func (f *notifyFlags) resolve(publicURL string) (manager.NotifyConfig, error) {
	c := f.config
	c.SMTP.TLS = notify.TLSMode(f.smtpTLS)
	c.Delivery.PublicURL = publicURL
	if c.Delivery.MaxAge == 0 {
		c.Delivery.MaxAge = -1 // the flag's 0 is "no limit"; the setting's 0 is its default
	}
	if c.Delivery.MaxAttempts < 1 {
		return c, fmt.Errorf("--notify-max-attempts %d: at least 1", c.Delivery.MaxAttempts)
	}
	if c.Delivery.Backoff <= 0 || c.Delivery.MaxBackoff < c.Delivery.Backoff || c.Delivery.AttemptTimeout <= 0 {
		return c, fmt.Errorf("--notify-backoff, --notify-max-backoff and --notify-timeout must be positive, and the maximum backoff at least the backoff")
	}
	return c, nil
}
