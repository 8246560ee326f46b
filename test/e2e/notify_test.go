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

package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/testsupport"
	"reportd.io/reportd/test/e2e/e2eutil"
)

// TestFacadeReportMailsItsRequester requests a report through the facade
// as alice, and checks that her mailbox (the stack's mailpit) gets exactly
// one mail about it, linking to the report's page and nothing else, and
// that the request records the delivery.
func TestFacadeReportMailsItsRequester(t *testing.T) {
	alice := stack.Users[0]
	code, body := facadeCall(t, stack.FacadeURL, alice.Token, http.MethodPost, "/api/v1/reports", map[string]any{
		"reportType": "sales", "parameters": map[string]string{"startDate": "2024-03-01", "endDate": "2024-03-07"},
	})
	if code != http.StatusAccepted {
		t.Fatalf("POST /api/v1/reports: %d %s", code, body)
	}
	var created facadeReport
	if err := json.Unmarshal(body, &created); err != nil {
		t.Fatal(err)
	}
	rep := waitFacadeReport(t, stack.FacadeURL, alice.Token, created.ID, 2*time.Minute)
	if rep.Status != "completed" {
		t.Fatalf("the report %s: %s (%s)", rep.ID, rep.Status, rep.ErrorMessage)
	}

	page := stack.FacadeURL + "/reports/" + rep.ID
	var mine []testsupport.Message
	e2eutil.Eventually(t, time.Minute, "alice's mail about "+rep.ID, func() (bool, string) {
		mine = mailsLinking(t, alice.Email, page)
		return len(mine) > 0, ""
	})
	// Give a duplicate the time to show up before counting.
	time.Sleep(time.Second)
	if mine = mailsLinking(t, alice.Email, page); len(mine) != 1 {
		t.Fatalf("%d mails to %s about %s, want 1", len(mine), alice.Email, rep.ID)
	}
	if !strings.HasPrefix(mine[0].Subject, "Report sales is ready (") {
		t.Errorf("subject %q", mine[0].Subject)
	}
	detail, err := stack.Mail.Message(context.Background(), mine[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(detail.Text+detail.HTML, "/download") || strings.Contains(detail.Text+detail.HTML, "X-Amz-") {
		t.Errorf("the mail carries a download link:\n%s", detail.Text)
	}
	if !strings.Contains(detail.Text, "endDate=2024-03-07, startDate=2024-03-01") {
		t.Errorf("the mail does not name the parameters:\n%s", detail.Text)
	}

	// The link is the web page's route for the report, served by the facade.
	resp, err := http.Get(page)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("GET %s: %s %s, want the web page", page, resp.Status, resp.Header.Get("Content-Type"))
	}

	rr := &v1alpha1.ReportRequest{}
	if err := stack.Client.Get(context.Background(), types.NamespacedName{Namespace: stack.Namespace, Name: rep.ID}, rr); err != nil {
		t.Fatal(err)
	}
	n := rr.Status.Notifications
	if len(n) != 1 || n[0].State != v1alpha1.DeliverySent || n[0].Target != alice.Email || mine[0].MessageID != n[0].ID+"@reportd.localhost" {
		t.Errorf("status.notifications %+v, mail %s: want one Sent record whose id is the mail's Message-ID", n, mine[0].MessageID)
	}
}

// mailsLinking lists the mails to addr whose text contains link.
func mailsLinking(t testing.TB, addr, link string) []testsupport.Message {
	t.Helper()
	ctx := context.Background()
	msgs, err := stack.Mail.Messages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []testsupport.Message
	for _, m := range msgs {
		if len(m.To) != 1 || m.To[0].Address != addr {
			continue
		}
		d, err := stack.Mail.Message(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(strings.ReplaceAll(d.Text, "\r\n", "\n"), link+"\n") {
			out = append(out, m)
		}
	}
	return out
}
