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

package faults

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/test/e2e/e2eutil"
)

// TestSMTPDownReportCompletesMailRetried stops the SMTP server, then asks
// for a report that mails its result. The report is Completed regardless;
// its e-mail is retried (the record counts the failed attempts and says
// why) and, once the server is back, delivered exactly once, with the
// Message-ID the record names.
func TestSMTPDownReportCompletesMailRetried(t *testing.T) {
	const recipient = "outage@example.com"
	if err := stack.Mail.Down(); err != nil {
		t.Fatalf("stop the SMTP server: %v", err)
	}
	bringUp := restartOnce(t, "the SMTP server", stack.Mail.Up)

	name := request{typ: "sales", notify: []string{recipient},
		params: map[string]string{"startDate": "2024-05-01", "endDate": "2024-05-07"}}.create(t, "smtp-down")
	rr := waitFinished(t, 2*time.Minute, name)
	if rr.Status.Phase != v1alpha1.PhaseCompleted {
		t.Fatalf("want Completed whatever the mail does, got %s", describe(rr))
	}
	var rec *v1alpha1.NotificationStatus
	e2eutil.Eventually(t, time.Minute, "the e-mail retried while the server is down", func() (bool, string) {
		rec = emailRecord(t, name)
		if rec != nil && rec.State != v1alpha1.DeliveryClaimed {
			t.Fatalf("the e-mail was recorded %s while the server was down: %+v", rec.State, rec)
		}
		// A claim clears the message until its outcome is recorded: wait
		// for a second attempt's failure, not its claim.
		return rec != nil && rec.Attempts >= 2 && rec.Message != "", fmt.Sprintf("%+v", rec)
	})
	t.Logf("while the server is down: %d attempts, last error %q", rec.Attempts, rec.Message)
	if rec.Message == "" {
		t.Error("the record of a failed attempt does not say why")
	}

	bringUp()
	e2eutil.Eventually(t, time.Minute, "the e-mail delivered once the server is back", func() (bool, string) {
		rec = emailRecord(t, name)
		if rec != nil && rec.State == v1alpha1.DeliveryFailed {
			t.Fatalf("the e-mail was given up: %+v", rec)
		}
		return rec != nil && rec.State == v1alpha1.DeliverySent, fmt.Sprintf("%+v", rec)
	})
	var ids []string
	for _, m := range mailsTo(t, recipient) {
		ids = append(ids, m.MessageID)
	}
	if len(ids) != 1 || !strings.HasPrefix(ids[0], rec.ID+"@") {
		t.Errorf("mails to %s: Message-IDs %v, want one, %s@...", recipient, ids, rec.ID)
	}
	if rr := get(t, name); rr.Status.Phase != v1alpha1.PhaseCompleted {
		t.Errorf("the report changed to %s", describe(rr))
	}
}
