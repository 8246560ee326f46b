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
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/testsupport"
	"reportd.io/reportd/test/e2e/e2eutil"
)

// The web page, driven in headless Chromium as its users drive it: sign
// in with a token, fill the form, watch the progress bar, download the
// file, make a mistake, open a report from an email's link, delete it.

const (
	// browserTestTimeout bounds the whole browser test, browser included.
	browserTestTimeout = 4 * time.Minute
	// stepTimeout bounds one step (a page load, a click and its answer).
	stepTimeout = 30 * time.Second
	// reportTimeout bounds a sample report from request to 100%.
	reportTimeout = 2 * time.Minute
)

// browserNames are the names Chromium's binary goes by.
var browserNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"}

// findChromium returns the browser's path, or skips the test when none is
// installed (the one reason to skip it).
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range browserNames {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skipf("the web page test needs Chromium, and none of %s is on PATH: install it (apt-get install -y chromium; .ci/run does)", strings.Join(browserNames, ", "))
	return ""
}

// artifactDir is where screenshots go: $REPORTD_E2E_ARTIFACTS/browser when
// set (CI keeps it), else bin/artifacts/browser in the repository.
func artifactDir(t *testing.T) string {
	t.Helper()
	base := os.Getenv("REPORTD_E2E_ARTIFACTS")
	if base == "" {
		root, err := testsupport.RepoRoot()
		if err != nil {
			t.Fatal(err)
		}
		base = filepath.Join(root, "bin", "artifacts")
	}
	dir := filepath.Join(base, "browser")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startBrowser starts headless Chromium for the test and returns its
// context; the browser stops at the end of the test or at
// browserTestTimeout, whichever comes first.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	path := findChromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), browserTestTimeout)
	t.Cleanup(cancel)
	// On a busy machine Chromium now and then exits while starting; one
	// more try tells that apart from a browser that cannot run here.
	var err error
	for attempt := 1; attempt <= 2; attempt++ {
		var browserCtx context.Context
		if browserCtx, err = launch(t, ctx, path); err == nil {
			return browserCtx
		}
		t.Logf("starting %s (attempt %d): %v", path, attempt, err)
	}
	t.Fatalf("%s does not start: %v", path, err)
	return nil
}

// launch starts the browser with a fresh profile. It is started before
// anything subscribes to its events: chromedp v0.23.0 panics instead of
// failing when a browser with subscriptions cannot start.
func launch(t *testing.T, ctx context.Context, path string) (context.Context, error) {
	profile := t.TempDir() // registered first, so it is removed after the browser stops
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1100, 900),
		chromedp.DisableGPU,
		chromedp.Flag("disable-sync", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	if err := chromedp.Do(browserCtx); err != nil {
		return nil, err
	}
	return browserCtx, nil
}

// browserTab is one user's tab. Its token lives in the page's memory, so
// two tabs are two sessions.
type browserTab struct {
	t         *testing.T
	ctx       context.Context
	user      string
	artifacts string

	mu sync.Mutex
	// problems are script errors and policy violations the page caused.
	problems []string
}

// newTab opens a tab for user and records what goes wrong in its page.
func newTab(t *testing.T, browserCtx context.Context, user, artifacts string) *browserTab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browserCtx)
	t.Cleanup(cancel)
	tab := &browserTab{t: t, ctx: ctx, user: user, artifacts: artifacts}
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tt *chromedp.Target) error {
		_, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{})
		return err
	})); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	if err := chromedp.Listen(ctx, tab.record); err != nil {
		t.Fatalf("listening to the tab: %v", err)
	}
	return tab
}

// record keeps uncaught exceptions and error messages that are not a
// failed request (the page expects 4xx answers, the browser logs them).
func (tab *browserTab) record(ev any) {
	var problem string
	switch ev := ev.(type) {
	case *cdpruntime.EventExceptionThrown:
		problem = "uncaught: " + ev.ExceptionDetails.Text
		if ev.ExceptionDetails.Exception != nil {
			problem += " " + ev.ExceptionDetails.Exception.Description
		}
	case *cdplog.EventEntryAdded:
		if ev.Entry.Level == cdplog.EntryLevelError && ev.Entry.Source != cdplog.EntrySourceNetwork {
			problem = fmt.Sprintf("%s: %s", ev.Entry.Source, ev.Entry.Text)
		}
	}
	if problem != "" {
		tab.mu.Lock()
		tab.problems = append(tab.problems, problem)
		tab.mu.Unlock()
	}
}

// checkNoProblems fails the test if the page threw or broke its policy.
func (tab *browserTab) checkNoProblems() {
	tab.t.Helper()
	tab.mu.Lock()
	defer tab.mu.Unlock()
	for _, p := range tab.problems {
		tab.t.Errorf("%s's page: %s", tab.user, p)
	}
}

// do runs steps within stepTimeout; on failure it keeps a screenshot of
// the page and fails the test.
func (tab *browserTab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tab.fail(what, err)
	}
}

// fail keeps a screenshot of the page as it is, then fails the test.
func (tab *browserTab) fail(what string, err error) {
	tab.t.Helper()
	name := "failed-" + tab.user + ".png"
	tab.screenshot(name)
	tab.t.Fatalf("%s (%s): %v; the page is in %s", what, tab.user, err, filepath.Join(tab.artifacts, name))
}

// screenshot saves the whole page as a PNG in the artifacts directory.
func (tab *browserTab) screenshot(name string) {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tab.t.Logf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(tab.artifacts, name), png, 0o644); err != nil {
		tab.t.Logf("screenshot %s: %v", name, err)
	}
}

// eval evaluates a JavaScript expression in the tab's page; a promise is
// awaited (within stepTimeout).
func eval[T any](tab *browserTab, what, expression string) T {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expression, chromedp.EvalAwaitPromise))
	if err != nil {
		tab.fail(what, err)
	}
	return v
}

// signIn opens path on the facade and signs in with token.
func (tab *browserTab) signIn(path, token string) {
	tab.t.Helper()
	if !tab.trySignIn(path, token) {
		tab.fail("sign in", errors.New("the page refused the token"))
	}
}

// trySignIn opens path on the facade and submits token, as a user pastes
// it into the page, and reports whether the page signed in.
func (tab *browserTab) trySignIn(path, token string) bool {
	tab.t.Helper()
	tab.do("open the page and submit the token",
		chromedp.Navigate(stack.FacadeURL+path),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Click(chromedp.ID("signin-submit")),
	)
	return eval[bool](tab, "wait for the answer to the sign-in", `new Promise((resolve) => {
		const poll = () => {
			if (document.getElementById('signin').hidden) resolve(true);
			else if (!document.getElementById('token-error').hidden) resolve(false);
			else setTimeout(poll, 20);
		};
		poll();
	})`)
}

// cardState is what a report's card in "My reports" shows.
type cardState struct {
	Status string `json:"status"`
	// Progress is the progress bar's value; -1 while it is indeterminate.
	Progress float64 `json:"progress"`
	Percent  string  `json:"percent"`
	Label    string  `json:"label"`
	Detail   string  `json:"detail"`
}

// card reads the card of report id, nil when the list does not show it.
func (tab *browserTab) card(id string) *cardState {
	tab.t.Helper()
	return eval[*cardState](tab, "read the card of "+id, fmt.Sprintf(`(() => {
		const li = document.querySelector('#reports li[data-id=%q]');
		if (!li) return null;
		const p = li.querySelector('progress');
		return {status: li.dataset.status, progress: p.hasAttribute('value') ? p.value : -1,
			percent: li.querySelector('.percent').textContent, label: p.getAttribute('aria-label') || '',
			detail: li.querySelector('[data-role=detail]').textContent};
	})()`, id))
}

// listedIDs returns the ids "My reports" shows, top to bottom.
func (tab *browserTab) listedIDs() []string {
	tab.t.Helper()
	return eval[[]string](tab, "read My reports", `[...document.querySelectorAll('#reports li')].map((li) => li.dataset.id)`)
}

// requestsOf lists the ReportRequests of a user in the cluster, as an
// operator would, by name.
func requestsOf(t *testing.T, user string) []string {
	t.Helper()
	var list v1alpha1.ReportRequestList
	if err := stack.Client.List(context.Background(), &list, client.InNamespace(stack.Namespace)); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, rr := range list.Items {
		if rr.Spec.RequestedBy == user {
			names = append(names, rr.Name)
		}
	}
	slices.Sort(names)
	return names
}

// chooseJS selects an option of a select element as a user does: the
// value changes and the page hears a change event.
func chooseJS(id, value string) string {
	return fmt.Sprintf(`(() => { const s = document.getElementById(%q); s.value = %q; s.dispatchEvent(new Event('change', {bubbles: true})); return s.value; })()`, id, value)
}

// TestWebPage drives the web page as two users: alice requests a sales
// report, watches it reach 100%, downloads it (the file must equal psql's
// export of the same query), enters a bad date and a start after the end
// (shown at the field, nothing created), and later opens the report from
// an email's link and deletes it; bob, signed in at the same link, never
// sees alice's report.
func TestWebPage(t *testing.T) {
	browserCtx := startBrowser(t)
	artifacts := artifactDir(t)
	t.Logf("screenshots in %s", artifacts)
	alice, bob := stack.Users[0], stack.Users[1]
	sales := sampleReports[0]

	a := newTab(t, browserCtx, alice.Name, artifacts)
	a.signIn("/", alice.Token)
	if got := eval[string](a, "choose sales", chooseJS("f-type", "sales")); got != "sales" {
		t.Fatalf("the form offers no sales report type (chose %q)", got)
	}
	a.do("fill in the dates",
		chromedp.WaitVisible(chromedp.ID("p-startDate")),
		chromedp.SetValue(chromedp.ID("p-startDate"), sales.params["startDate"]),
		chromedp.SetValue(chromedp.ID("p-endDate"), sales.params["endDate"]),
	)
	checkFormFromReportTypes(t, a)
	a.screenshot("1-form.png")

	t.Run("a bad date is shown at its field and creates nothing", func(t *testing.T) {
		checkBadDates(t, a, alice.Name, sales.params)
	})
	t.Run("the bar shows a report held part way, then 100%", func(t *testing.T) {
		checkProgressPartWay(t, a, alice.Token)
	})

	before := a.listedIDs()
	a.do("request the report", chromedp.Click(chromedp.ID("f-submit")))
	id := eval[string](a, "wait for the new report in My reports", fmt.Sprintf(`new Promise((resolve) => {
		const known = new Set(%s);
		const find = () => [...document.querySelectorAll('#reports li')].map((li) => li.dataset.id).find((id) => !known.has(id));
		const poll = () => { const id = find(); if (id) resolve(id); else setTimeout(poll, 20); };
		poll();
	})`, jsStrings(before)))
	t.Logf("alice requested %s through the page", id)
	seen := watchCard(t, a, id)
	a.screenshot("4-finished.png")
	checkPageProgress(t, seen)

	rr := &v1alpha1.ReportRequest{}
	if err := stack.Client.Get(context.Background(), client.ObjectKey{Namespace: stack.Namespace, Name: id}, rr); err != nil {
		t.Fatalf("the page's report %s is not in the cluster: %v", id, err)
	}
	if rr.Spec.RequestedBy != alice.Name || rr.Spec.Type != "sales" || string(rr.Spec.Parameters["startDate"]) != sales.params["startDate"] || string(rr.Spec.Parameters["endDate"]) != sales.params["endDate"] {
		t.Errorf("the page created %+v, want alice's sales report of %v", rr.Spec, sales.params)
	}

	t.Run("the download equals psql's export", func(t *testing.T) {
		data := downloadThroughPage(t, a, id)
		newReference(t, sales).compare(t, v1alpha1.FormatCSV, data)
	})

	t.Run("another user does not see the report", func(t *testing.T) {
		b := newTab(t, browserCtx, bob.Name, artifacts)
		if b.trySignIn("/reports/"+id, "not-"+bob.Token) {
			t.Fatal("the page signed in with a wrong token")
		}
		if msg := eval[string](b, "read the sign-in error", `document.getElementById('token-error').textContent`); !strings.Contains(msg, "not accepted") {
			t.Errorf("a wrong token shows %q", msg)
		}
		b.signIn("/reports/"+id, bob.Token)
		b.do("the report view answers", chromedp.WaitVisible(chromedp.ID("report-view-message")))
		msg := eval[string](b, "read the report view", `document.getElementById('report-view-message').textContent + '|' + document.getElementById('report-view-card').textContent`)
		if !strings.Contains(msg, "no report") || strings.Contains(msg, "Completed") {
			t.Errorf("bob at alice's report's link sees %q, want that there is no such report", msg)
		}
		b.do("go to the list", chromedp.Click(chromedp.CSS(`#report-view a[data-nav]`)), chromedp.WaitVisible(chromedp.ID("request-form")))
		eval[bool](b, "wait for bob's list", `new Promise((resolve) => { const poll = () => document.getElementById('live').textContent.endsWith('on') ? resolve(true) : setTimeout(poll, 20); poll(); })`)
		listed := b.listedIDs()
		for _, other := range requestsOf(t, alice.Name) {
			if slices.Contains(listed, other) {
				t.Errorf("bob's list shows alice's report %s: %v", other, listed)
			}
		}
		b.screenshot("5-other-user.png")
		b.checkNoProblems()
	})

	t.Run("an email's link shows the report after sign-in, and it can be deleted", func(t *testing.T) {
		// Loading the link is a new page: the token, kept in memory only,
		// is gone, so the page asks for it again.
		a.do("open the link", chromedp.Navigate(stack.FacadeURL+"/reports/"+id), chromedp.WaitVisible(chromedp.ID("token")))
		why := eval[string](a, "read the sign-in prompt", `document.getElementById('signin-why').textContent`)
		if !strings.Contains(why, id) {
			t.Errorf("the sign-in prompt at a report's link says %q, want it to name %s", why, id)
		}
		a.signIn("/reports/"+id, alice.Token)
		a.do("the report shows", chromedp.WaitVisible(chromedp.CSS(`#report-view-card [data-role=download]`)))
		facts := eval[string](a, "read the report", `document.querySelector('#report-view-card .facts').textContent`)
		if !strings.Contains(facts, id) || !strings.Contains(facts, rr.Status.Result.SHA256) {
			t.Errorf("the report view shows %q, want its id and checksum", facts)
		}
		a.screenshot("6-report-page.png")
		confirmed := acceptNextDialog(t, a)
		a.do("delete it", chromedp.Click(chromedp.CSS(`#report-view-card [data-role=cancel]`)))
		if q := <-confirmed; !strings.Contains(q, id) {
			t.Errorf("the confirmation asks %q, want it to name %s", q, id)
		}
		e2eutil.Eventually(t, stepTimeout, "the deleted report leaves the cluster", func() (bool, string) {
			return gone(stack.Client.Get(context.Background(), client.ObjectKey{Namespace: stack.Namespace, Name: id}, &v1alpha1.ReportRequest{}))
		})
	})
	a.checkNoProblems()
}

// checkFormFromReportTypes checks the form was built from the sales
// type's parameters: date inputs, required and labelled.
func checkFormFromReportTypes(t *testing.T, tab *browserTab) {
	t.Helper()
	got := eval[string](tab, "inspect the form", `['p-startDate', 'p-endDate'].map((id) => {
		const i = document.getElementById(id);
		return [i.type, i.required, document.querySelector('label[for=' + id + ']').textContent].join(',');
	}).join(';') + ';' + [...document.getElementById('f-format').options].map((o) => o.value).join(',')`)
	want := "date,true,Start date (required);date,true,End date (required);csv,csv.gz,jsonl,xlsx"
	if got != want {
		t.Errorf("the form's fields are %q, want %q", got, want)
	}
}

// checkBadDates submits a date the date picker accepts but the API does
// not (a five-digit year), then a start after the end; each must be shown
// where it belongs and create nothing.
func checkBadDates(t *testing.T, tab *browserTab, user string, good map[string]string) {
	before := requestsOf(t, user)
	tab.do("submit a five-digit year",
		chromedp.SetValue(chromedp.ID("p-startDate"), "20255-01-01"),
		chromedp.Click(chromedp.ID("f-submit")),
		chromedp.WaitVisible(chromedp.ID("p-startDate-error")),
	)
	shown := eval[string](tab, "read the field's error", `[document.getElementById('p-startDate-error').textContent,
		document.getElementById('p-startDate').getAttribute('aria-invalid'),
		document.getElementById('p-startDate').getAttribute('aria-describedby').includes('p-startDate-error'),
		document.activeElement.id, document.getElementById('form-error').textContent].join('|')`)
	parts := strings.Split(shown, "|")
	if !strings.Contains(parts[0], "startDate") || !strings.Contains(parts[0], "20255-01-01") || parts[1] != "true" || parts[2] != "true" || parts[3] != "p-startDate" {
		t.Errorf("the bad date shows as %q; want the API's message at the start date field, marked invalid, described by it, focused", shown)
	}
	if parts[4] == "" {
		t.Error("the form says nothing above it about the refused request")
	}
	tab.screenshot("2-bad-date.png")

	tab.do("submit a start after the end",
		chromedp.SetValue(chromedp.ID("p-startDate"), good["endDate"]),
		chromedp.SetValue(chromedp.ID("p-endDate"), good["startDate"]),
		chromedp.Click(chromedp.ID("f-submit")),
		chromedp.WaitVisible(chromedp.ID("f-params-error")),
	)
	rule := eval[string](tab, "read the rule's error", `document.getElementById('f-params-error').textContent + '|' + document.getElementById('p-startDate-error').hidden`)
	if rule != "startDate must not be after endDate|true" {
		t.Errorf("the rule's error shows as %q, want it at the parameters and the earlier error gone", rule)
	}
	tab.do("put the dates right",
		chromedp.SetValue(chromedp.ID("p-startDate"), good["startDate"]),
		chromedp.SetValue(chromedp.ID("p-endDate"), good["endDate"]),
	)
	if after := requestsOf(t, user); !slices.Equal(after, before) {
		t.Errorf("refused requests created reports: before %v, after %v", before, after)
	}
}

// checkProgressPartWay requests, as the user of token, a report that
// stops at its 400th row of 1,000 until the test lets it go, and checks
// that the page shows it processing at a percentage between 0 and 100
// (kept as the progress screenshot), then completed at 100%.
func checkProgressPartWay(t *testing.T, tab *browserTab, token string) {
	gate := e2eutil.CloseGate(t, stack.Postgres.URL)
	code, body := facadeCall(t, stack.FacadeURL, token, http.MethodPost, "/api/v1/reports", map[string]any{
		"reportType": e2eutil.GatedType, "format": "csv",
		"parameters": map[string]string{"first": "1", "last": "1000", "width": "8", "gateRow": "400", "gateKey": strconv.FormatInt(gate.Key, 10)},
	})
	var created facadeReport
	if code != http.StatusCreated && code != http.StatusAccepted || json.Unmarshal(body, &created) != nil || created.ID == "" {
		t.Fatalf("POST /api/v1/reports = %d %s", code, body)
	}
	var held *cardState
	e2eutil.Eventually(t, reportTimeout, "the card of "+created.ID+" to show progress part way", func() (bool, string) {
		held = tab.card(created.ID)
		if held == nil {
			return false, "not listed"
		}
		return held.Status == "processing" && held.Progress > 0 && held.Progress < 100, fmt.Sprintf("%+v", *held)
	})
	tab.screenshot("3-progress.png")
	// Rows 1 to 399 of 1 to 1,000 are through: about 40%, never more.
	if held.Progress > 40 || held.Percent != fmt.Sprintf("%.0f%%", held.Progress) {
		t.Errorf("the held report's card shows %+v; want at most 40%% with its percentage", *held)
	}
	gate.Open()
	seen := watchCard(t, tab, created.ID)
	checkPageProgress(t, append([]cardState{*held}, seen...))
}

// watchCard follows the card of report id until it is completed or
// failed, and returns every state it showed.
func watchCard(t *testing.T, tab *browserTab, id string) []cardState {
	t.Helper()
	var seen []cardState
	deadline := time.Now().Add(reportTimeout)
	for {
		st := tab.card(id)
		if st == nil {
			t.Fatalf("My reports does not show %s", id)
		}
		if len(seen) == 0 || *st != seen[len(seen)-1] {
			seen = append(seen, *st)
		}
		if st.Status == "completed" || st.Status == "failed" {
			return seen
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is still %s at %v%% after %s", id, st.Status, st.Progress, reportTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkPageProgress asserts what a user watching the bar expects: an
// accessible label, never going back, and 100% at the end, completed.
func checkPageProgress(t *testing.T, seen []cardState) {
	t.Helper()
	last := -1.0
	for _, st := range seen {
		if st.Progress >= 0 && st.Progress < last {
			t.Errorf("the progress bar went back from %v to %v: %+v", last, st.Progress, seen)
		}
		if st.Progress >= 0 {
			last = st.Progress
		}
		if !strings.HasPrefix(st.Label, "Progress of ") {
			t.Errorf("the progress bar's accessible label is %q", st.Label)
		}
	}
	final := seen[len(seen)-1]
	if final.Status != "completed" || final.Progress != 100 || final.Percent != "100%" {
		t.Errorf("the card ends as %+v, want completed at 100%%", final)
	}
	t.Logf("the card showed %d states: %+v", len(seen), seen)
}

// downloadThroughPage clicks the card's Download button and returns the
// file the browser saved.
func downloadThroughPage(t *testing.T, tab *browserTab, id string) []byte {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(tab.ctx, stepTimeout)
	defer cancel()
	// The download's events come on the tab's session; subscribe before
	// the click so none is missed. They end with ctx.
	progress := chromedp.Events(ctx, browser.DownloadProgress)
	tab.do("download",
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
				Behavior:      browser.SetDownloadBehaviorBehaviorAllowAndName,
				DownloadPath:  dir,
				EventsEnabled: new(true),
			})
			return err
		}),
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`#reports li[data-id=%q] [data-role=download]`, id))),
	)
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("waiting for the download: %v", err)
		}
		switch ev.State {
		case browser.DownloadProgressStateCompleted:
			data, err := os.ReadFile(filepath.Join(dir, ev.GUID))
			if err != nil {
				t.Fatalf("the downloaded file: %v", err)
			}
			return data
		case browser.DownloadProgressStateCanceled:
			t.Fatal("the browser cancelled the download")
		}
	}
	t.Fatal("the download's events ended before it finished")
	return nil
}

// acceptNextDialog accepts the next confirm() of the tab's page and sends
// its question.
func acceptNextDialog(t *testing.T, tab *browserTab) <-chan string {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, stepTimeout)
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	asked := make(chan string, 1)
	go func() {
		defer cancel()
		for ev, err := range dialogs {
			if err != nil {
				close(asked)
				return
			}
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
			asked <- ev.Message
			return
		}
	}()
	return asked
}

// jsStrings writes strings as a JavaScript array literal.
func jsStrings(values []string) string {
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = fmt.Sprintf("%q", v)
	}
	return "[" + strings.Join(quoted, ",") + "]"
}
