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

package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/notify"
)

// TestDecideDeliveries: the rule that keeps each delivery to one send.
func TestDecideDeliveries(t *testing.T) {
	s := NotificationSettings{MaxAttempts: 3, Backoff: 10 * time.Second, MaxBackoff: time.Minute, AttemptTimeout: 30 * time.Second}
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) *metav1.Time { t := metav1.NewTime(now.Add(-d)); return &t }
	dl := delivery{id: "d", channel: v1alpha1.ChannelEmail, target: "a@example.com"}
	claimed := func(attempts int32, last time.Duration, msg string) []v1alpha1.NotificationStatus {
		return []v1alpha1.NotificationStatus{{ID: "d", State: v1alpha1.DeliveryClaimed, Attempts: attempts, LastAttemptTime: ago(last), Message: msg}}
	}
	cases := []struct {
		name    string
		records []v1alpha1.NotificationStatus
		// want is "due", "giveUp" or "wait"; next is the wait's end.
		want string
		next time.Time
	}{
		{name: "never attempted", want: "due"},
		{name: "sent", records: []v1alpha1.NotificationStatus{{ID: "d", State: v1alpha1.DeliverySent}}, want: "none"},
		{name: "failed", records: []v1alpha1.NotificationStatus{{ID: "d", State: v1alpha1.DeliveryFailed}}, want: "none"},
		{name: "failed once, backoff not over", records: claimed(1, 5*time.Second, "boom"), want: "wait", next: now.Add(5 * time.Second)},
		{name: "failed once, backoff over", records: claimed(1, 10*time.Second, "boom"), want: "due"},
		{name: "failed twice, doubled backoff", records: claimed(2, 15*time.Second, "boom"), want: "wait", next: now.Add(5 * time.Second)},
		{name: "out of attempts", records: claimed(3, time.Hour, "boom"), want: "giveUp"},
		// In flight on another manager: its claim holds 2 x 30 s + 1 s.
		{name: "in flight", records: claimed(1, 20*time.Second, ""), want: "wait", next: now.Add(41 * time.Second)},
		// Its manager died before recording: sent again, same id, even
		// when it was the last attempt.
		{name: "abandoned claim", records: claimed(1, 61*time.Second, ""), want: "due"},
		{name: "abandoned last attempt", records: claimed(3, 2*time.Minute, ""), want: "due"},
	}
	for _, c := range cases {
		d := decideDeliveries(c.records, []delivery{dl}, now, s)
		got := "none"
		switch {
		case len(d.due) == 1:
			got = "due"
		case len(d.giveUp) == 1:
			got = "giveUp"
		case !d.next.IsZero():
			got = "wait"
		}
		if got != c.want || (c.want == "wait" && !d.next.Equal(c.next)) {
			t.Errorf("%s: %s (next %v), want %s (next %v)", c.name, got, d.next, c.want, c.next)
		}
	}
}

func TestBackoff(t *testing.T) {
	s := NotificationSettings{Backoff: 10 * time.Second, MaxBackoff: time.Minute}
	for n, want := range map[int32]time.Duration{1: 10 * time.Second, 2: 20 * time.Second, 3: 40 * time.Second, 4: time.Minute, 40: time.Minute} {
		if got := backoff(n, s); got != want {
			t.Errorf("backoff(%d) = %v, want %v", n, got, want)
		}
	}
}

func TestPlanAndDeliveryIDs(t *testing.T) {
	rr := reportRequest("r", "sales", nil)
	rr.UID = "0b5e1c7a-4f6e-4a0c-9d59-3c3c1f1b2a77"
	rr.Spec.Notify = &v1alpha1.NotifySpec{
		Email: []string{"alice@example.com", "bob@example.com"},
		Webhooks: []v1alpha1.WebhookTarget{
			{URLSecretRef: v1alpha1.SecretKeyRef{Name: "hooks", Key: "a"}},
			{URLSecretRef: v1alpha1.SecretKeyRef{Name: "hooks", Key: "a"}, Slack: true},
		},
	}
	r := &NotificationReconciler{Email: fakeSender{}, Webhooks: fakeSender{}}
	plan := r.plan(rr)
	if len(plan) != 4 {
		t.Fatalf("%d deliveries, want 4", len(plan))
	}
	ids := map[string]bool{}
	for _, d := range plan {
		ids[d.id] = true
		if len(d.id) > 128 || !strings.HasPrefix(d.id, string(rr.UID)+"."+string(d.channel)+".") || strings.Contains(d.id, "@") {
			t.Errorf("delivery id %q: want <uid>.<channel>.<digest>, at most 128 characters, naming no address", d.id)
		}
	}
	if len(ids) != 4 {
		t.Errorf("ids are not distinct: %v", ids)
	}
	if again := r.plan(rr.DeepCopy()); again[0].id != plan[0].id || again[3].id != plan[3].id {
		t.Error("planning twice gives other ids")
	}
	if got := (&NotificationReconciler{Webhooks: fakeSender{}}).plan(rr); len(got) != 2 {
		t.Errorf("without SMTP, %d deliveries planned, want the 2 webhooks", len(got))
	}
	rr.Spec.Notify.Disabled = true
	if got := r.plan(rr); len(got) != 0 {
		t.Errorf("disabled, but %d deliveries planned", len(got))
	}
}

func TestTruncateMessage(t *testing.T) {
	long := strings.Repeat("é", 600)
	got := truncateMessage(long)
	if len(got) > 1024 || !strings.HasSuffix(got, "...") || !strings.HasPrefix(long, strings.TrimSuffix(got, "...")) {
		t.Errorf("truncated badly: %d bytes", len(got))
	}
	if truncateMessage("") == "" {
		t.Error("an empty message stays empty (it would read as in flight)")
	}
}

// fakeSender stands in for both channels in the pure planning tests.
type fakeSender struct{}

func (fakeSender) SendEmail(context.Context, string, string, notify.Report) error { return nil }
func (fakeSender) PostWebhook(context.Context, string, notify.WebhookTarget, notify.Report) error {
	return nil
}
