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

package manager

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	"reportd.io/reportd/controllers"
	"reportd.io/reportd/internal/notify"
)

// NotifyConfig configures the notifications sent when reports finish.
type NotifyConfig struct {
	// SMTP is the mail server; no e-mail when SMTP.Host is empty.
	SMTP notify.SMTPConfig
	// WebhookAllowCIDRs are ranges webhooks may reach although they are
	// loopback, link-local, private or the API server's.
	WebhookAllowCIDRs []string
	// EmailAllowedDomains limit recipients; any domain when empty.
	EmailAllowedDomains []string
	// Delivery shapes deliveries: the page link's base URL, attempts,
	// backoff, timeouts.
	Delivery controllers.NotificationSettings
}

// validate reports notification settings that cannot work.
func (n *NotifyConfig) validate() error {
	var errs []error
	errs = append(errs, n.SMTP.Validate())
	if _, err := notify.NewAddressPolicy(n.WebhookAllowCIDRs, n.EmailAllowedDomains, nil); err != nil {
		errs = append(errs, err)
	}
	if u := n.Delivery.PublicURL; u != "" && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		errs = append(errs, fmt.Errorf("--public-url %q: use an http or https URL", u))
	}
	return errors.Join(errs...)
}

// setupNotifications registers the notification controller and returns it.
func setupNotifications(ctx context.Context, mgr ctrl.Manager, n NotifyConfig) (*controllers.NotificationReconciler, error) {
	log := ctrl.LoggerFrom(ctx).WithName("notifications")
	policy, err := notify.NewAddressPolicy(n.WebhookAllowCIDRs, n.EmailAllowedDomains, apiServerAddrs(ctx, mgr.GetConfig().Host))
	if err != nil {
		return nil, err
	}
	r := &controllers.NotificationReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder(EventRecorderName),
		Settings: n.Delivery,
		Webhooks: notify.NewWebhookSender(policy, n.Delivery.AttemptTimeout, "reportd-notifier"),
	}
	if n.SMTP.Host != "" {
		if n.SMTP.Timeout == 0 {
			n.SMTP.Timeout = n.Delivery.AttemptTimeout
		}
		mailer, err := notify.NewMailer(n.SMTP, policy)
		if err != nil {
			return nil, err
		}
		r.Email = mailer
	} else {
		log.Info("No SMTP server configured (--smtp-host): reports' e-mail recipients are not notified")
	}
	if n.Delivery.PublicURL == "" {
		log.Info("No public URL configured (--public-url): notifications carry no link to the report's page")
	}
	return r, r.SetupWithManager(mgr)
}

// apiServerAddrs are the API server's addresses, which webhooks may not
// reach: the manager's own connection's host and, in a cluster, the
// kubernetes Service's address. Names are resolved once, best effort.
func apiServerAddrs(ctx context.Context, host string) []netip.Addr {
	var hosts []string
	if u, err := url.Parse(host); err == nil && u.Host != "" {
		hosts = append(hosts, u.Hostname())
	} else if host != "" {
		h, _, err := net.SplitHostPort(host)
		if err != nil {
			h = host
		}
		hosts = append(hosts, h)
	}
	if h := os.Getenv("KUBERNETES_SERVICE_HOST"); h != "" {
		hosts = append(hosts, h)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var out []netip.Addr
	for _, h := range hosts {
		if a, err := netip.ParseAddr(h); err == nil {
			out = append(out, a)
			continue
		}
		addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", h)
		if err == nil {
			out = append(out, addrs...)
		}
	}
	return out
}
