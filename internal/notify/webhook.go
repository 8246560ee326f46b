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
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Headers of a webhook delivery. HeaderDelivery is also set on e-mails.
const (
	// HeaderDelivery carries the stable delivery id: a receiver that has
	// seen it before drops the request.
	HeaderDelivery = "X-Reportd-Delivery"
	// HeaderEvent is report.completed or report.failed.
	HeaderEvent = "X-Reportd-Event"
	// HeaderSignature is "sha256=" and the hex HMAC-SHA256 of the body
	// under the webhook's signing key; absent without one.
	HeaderSignature = "X-Reportd-Signature-256"
)

// WebhookTarget is one webhook, as read from its Secret.
type WebhookTarget struct {
	// URL receives the POST; http or https.
	URL string
	// SigningKey signs the body; unsigned when empty.
	SigningKey []byte
	// Slack sends {"text": ...} instead of the report.
	Slack bool
}

// WebhookSender POSTs notifications. Its connections go through the
// address policy at dial time; it follows no redirects and uses no proxy
// from the environment, either of which could lead around the policy.
type WebhookSender struct {
	client    *http.Client
	userAgent string
}

// NewWebhookSender returns a sender whose requests the policy guards.
// timeout bounds one request, from dial to the end of the answer.
func NewWebhookSender(policy *AddressPolicy, timeout time.Duration, userAgent string) *WebhookSender {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: policy.Control}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
	}
	return &WebhookSender{
		client: &http.Client{
			Transport: transport,
			Timeout:   timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		userAgent: userAgent,
	}
}

// PostWebhook sends the notification about r to t with the delivery id
// in HeaderDelivery. Any 2xx answer is success. The error is permanent
// when retrying cannot help: a refused address, a bad URL, a redirect, or
// an answer of 4xx other than 408 and 429.
func (s *WebhookSender) PostWebhook(ctx context.Context, deliveryID string, t WebhookTarget, r Report) error {
	target, err := checkWebhookURL(t.URL)
	if err != nil {
		return err
	}
	body, err := WebhookBody(r, t.Slack)
	if err != nil {
		return Permanent(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		return Permanent(fmt.Errorf("webhook URL: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", s.userAgent)
	req.Header.Set(HeaderDelivery, deliveryID)
	req.Header.Set(HeaderEvent, r.Event())
	if len(t.SigningKey) > 0 {
		req.Header.Set(HeaderSignature, Sign(t.SigningKey, body))
	}
	began := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		return describeTransportError(target, err, time.Since(began))
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // reuse the connection
	return classifyAnswer(target, resp, snippet)
}

// checkWebhookURL accepts absolute http and https URLs and returns the
// URL without its credentials and query, fit for messages.
func checkWebhookURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", Permanent(errors.New("the webhook URL in the Secret does not parse as a URL"))
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", Permanent(fmt.Errorf("the webhook URL must be an absolute http or https URL, not %q", redact(u)))
	}
	return redact(u), nil
}

// redact drops the credentials and the query (which often carry tokens)
// from a URL for messages and status.
func redact(u *url.URL) string {
	c := *u
	c.User, c.RawQuery, c.Fragment = nil, "", ""
	return c.String()
}

// describeTransportError names what failed; refusals by the policy stay
// recognisable (and permanent).
func describeTransportError(target string, err error, took time.Duration) error {
	var refused *RefusedError
	if errors.As(err, &refused) {
		return fmt.Errorf("webhook %s: %w", target, refused)
	}
	var p *permanentError
	if errors.As(err, &p) {
		return Permanent(fmt.Errorf("webhook %s: %w", target, p.err))
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err // its text repeats the URL with any credentials
	}
	if uerr != nil && uerr.Timeout() {
		return fmt.Errorf("webhook %s did not answer within %s", target, durationText(took))
	}
	return fmt.Errorf("webhook %s: %w", target, err)
}

// classifyAnswer turns a non-2xx answer into an error.
func classifyAnswer(target string, resp *http.Response, snippet []byte) error {
	if resp.StatusCode/100 == 2 {
		return nil
	}
	text := strings.TrimSpace(string(snippet))
	err := fmt.Errorf("webhook %s answered %s", target, resp.Status)
	if text != "" {
		err = fmt.Errorf("%w: %s", err, text)
	}
	switch {
	case resp.StatusCode/100 == 3:
		return Permanent(fmt.Errorf("%w (redirects are not followed: put the final URL in the Secret)", err))
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests:
		return err
	case resp.StatusCode/100 == 4:
		return Permanent(err)
	}
	return err
}

// Sign is the value of HeaderSignature for body under key:
// "sha256=" and the hex HMAC-SHA256.
func Sign(key, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether signature (a HeaderSignature value) is body's
// signature under key, in constant time. Receivers written in Go can
// use it; docs/notifications.md shows the same in other languages.
func Verify(key, body []byte, signature string) bool {
	return hmac.Equal([]byte(Sign(key, body)), []byte(signature))
}
