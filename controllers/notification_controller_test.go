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
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/notify"
	"reportd.io/reportd/internal/testsupport"
)

// The notification specs run the notification controller alone against
// the suite's API server, a real SMTP server (mailpit) read back through
// its API, and a webhook receiver on loopback. A request's terminal status
// is written by the spec, as the ReportRequest controller would write it.

// notifySender is the test's sender address; Message-IDs end in its domain.
const notifySender = "reportd <reports@example.org>"

// notifyHarness is one spec's world.
type notifyHarness struct {
	ctx   context.Context
	ns    string
	mail  *testsupport.SMTP
	hooks *hookReceiver
	// conflicts counts the notification managers' writes refused with
	// 409 Conflict: claims and records lost to a newer version.
	conflicts atomic.Int32
}

// notifierOptions vary one notification manager.
type notifierOptions struct {
	// settings of deliveries; short test defaults fill in the zeros.
	settings NotificationSettings
	// denyLoopback leaves loopback out of the webhook allow-list.
	denyLoopback bool
	// emailDomains limit recipients.
	emailDomains []string
}

func newNotifyHarness() *notifyHarness {
	mail, err := testsupport.StartSMTP(context.Background())
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(mail.Stop)
	h := &notifyHarness{ctx: context.Background(), mail: mail, hooks: newHookReceiver()}
	DeferCleanup(h.hooks.Close)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "notify-"}}
	Expect(k8sClient.Create(h.ctx, ns)).To(Succeed())
	h.ns = ns.Name
	return h
}

// reconciler builds a notification reconciler sending to the harness's
// servers through the given manager's client.
func (h *notifyHarness) reconciler(c client.Client, reader client.Reader, mgr ctrl.Manager, o notifierOptions) *NotificationReconciler {
	allow := []string{"127.0.0.0/8", "::1/128"}
	if o.denyLoopback {
		allow = nil
	}
	policy, err := notify.NewAddressPolicy(allow, o.emailDomains, nil)
	Expect(err).NotTo(HaveOccurred())
	mailer, err := notify.NewMailer(notify.SMTPConfig{
		Host: h.mail.SMTPHost, Port: h.mail.SMTPPort, TLS: notify.TLSNone, From: notifySender, Timeout: 5 * time.Second,
	}, policy)
	Expect(err).NotTo(HaveOccurred())
	s := o.settings
	s.PublicURL = "https://reports.example.com"
	if s.Backoff == 0 {
		s.Backoff, s.MaxBackoff = 100*time.Millisecond, 400*time.Millisecond
	}
	if s.AttemptTimeout == 0 {
		s.AttemptTimeout = 2 * time.Second
	}
	r := &NotificationReconciler{
		Client: c, APIReader: reader, Email: mailer,
		Webhooks: notify.NewWebhookSender(policy, s.AttemptTimeout, "reportd-test"),
		Settings: s, Clock: clock.RealClock{},
	}
	if mgr != nil {
		r.Recorder = mgr.GetEventRecorder("reportd-manager")
	}
	return r
}

// startNotifier starts a manager of its own (its own cache and client)
// running the notification controller; the returned function stops it.
func (h *notifyHarness) startNotifier(o notifierOptions) func() {
	counted := rest.CopyConfig(cfg)
	counted.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			resp, err := rt.RoundTrip(req)
			if err == nil && resp.StatusCode == http.StatusConflict {
				h.conflicts.Add(1)
			}
			return resp, err
		})
	}
	mgr, err := ctrl.NewManager(counted, ctrl.Options{
		Scheme:                 testsupport.Scheme(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  CacheOptions([]string{h.ns}),
		Controller:             ctrlconfig.Controller{SkipNameValidation: ptr.To(true)},
	})
	Expect(err).NotTo(HaveOccurred())
	Expect(h.reconciler(mgr.GetClient(), mgr.GetAPIReader(), mgr, o).SetupWithManager(mgr)).To(Succeed())
	stop := runManager(mgr)
	once := sync.OnceFunc(stop)
	DeferCleanup(once)
	return once
}

// webhookSecret creates a Secret holding a webhook URL and signing key
// and returns the webhook's spec.
func (h *notifyHarness) webhookSecret(name, url, key string, slack bool) v1alpha1.WebhookTarget {
	data := map[string]string{"url": url}
	w := v1alpha1.WebhookTarget{URLSecretRef: v1alpha1.SecretKeyRef{Name: name, Key: "url"}, Slack: slack}
	if key != "" {
		data["signing-key"] = key
		w.SigningSecretRef = &v1alpha1.SecretKeyRef{Name: name, Key: "signing-key"}
	}
	Expect(k8sClient.Create(h.ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: h.ns}, StringData: data,
	})).To(Succeed())
	return w
}

// finishedRequest creates a request that notifies and gives it a terminal
// status, as the ReportRequest controller would when the report ends.
func (h *notifyHarness) finishedRequest(name string, phase v1alpha1.ReportPhase, n *v1alpha1.NotifySpec, seed ...v1alpha1.NotificationStatus) *v1alpha1.ReportRequest {
	rr := reportRequest(name, "sales", map[string]string{"startDate": "2024-01-01", "endDate": "2024-01-31"})
	rr.Namespace = h.ns
	rr.Spec.Notify = n
	Expect(k8sClient.Create(h.ctx, rr)).To(Succeed())
	now := metav1.NewTime(time.Now().UTC().Truncate(time.Second))
	rr.Status = v1alpha1.ReportRequestStatus{Phase: phase, CompletedAt: &now, Progress: 100}
	if phase == v1alpha1.PhaseCompleted {
		rr.Status.Rows, rr.Status.Bytes = 1234, 56789
		rr.Status.Result = &v1alpha1.ReportResult{URL: "file:///x/" + name + ".csv", Size: 56789, Rows: 1234, SHA256: "feed"}
	} else {
		rr.Status.ErrorMessage = "The query was cancelled after its 1h timeout."
	}
	for _, s := range seed {
		s.ID = strings.ReplaceAll(s.ID, "$UID", string(rr.UID))
		rr.Status.Notifications = append(rr.Status.Notifications, s)
	}
	Expect(k8sClient.Status().Update(h.ctx, rr)).To(Succeed())
	return rr
}

// get reads a request.
func (h *notifyHarness) get(name string) *v1alpha1.ReportRequest {
	rr := &v1alpha1.ReportRequest{}
	Expect(k8sClient.Get(h.ctx, types.NamespacedName{Namespace: h.ns, Name: name}, rr)).To(Succeed())
	return rr
}

// waitDelivered waits until every delivery of the request is Sent or
// Failed (and there are want of them) and returns the request.
func (h *notifyHarness) waitDelivered(name string, want int, timeout time.Duration) *v1alpha1.ReportRequest {
	var rr *v1alpha1.ReportRequest
	Eventually(func(g Gomega) {
		rr = &v1alpha1.ReportRequest{}
		g.Expect(k8sClient.Get(h.ctx, types.NamespacedName{Namespace: h.ns, Name: name}, rr)).To(Succeed())
		g.Expect(rr.Status.Notifications).To(HaveLen(want))
		for _, n := range rr.Status.Notifications {
			g.Expect(n.State).NotTo(Equal(v1alpha1.DeliveryClaimed), "%s: %s", n.Target, n.Message)
		}
	}, timeout, 50*time.Millisecond).Should(Succeed())
	return rr
}

// mailsTo returns the mails that arrived for an address.
func (h *notifyHarness) mailsTo(addr string) []testsupport.Message {
	msgs, err := h.mail.Messages(h.ctx)
	Expect(err).NotTo(HaveOccurred())
	var out []testsupport.Message
	for _, m := range msgs {
		for _, to := range m.To {
			if to.Address == addr {
				out = append(out, m)
			}
		}
	}
	return out
}

// notification returns the record of a channel and target.
func notification(rr *v1alpha1.ReportRequest, channel v1alpha1.NotificationChannel, target string) v1alpha1.NotificationStatus {
	for _, n := range rr.Status.Notifications {
		if n.Channel == channel && n.Target == target {
			return n
		}
	}
	Fail(fmt.Sprintf("no %s notification to %s in %+v", channel, target, rr.Status.Notifications))
	return v1alpha1.NotificationStatus{}
}

// notificationMetric reads a notification counter from the registry
// the manager's /metrics serves.
func notificationMetric(name, channel string) float64 {
	families, err := ctrlmetrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "channel" && l.GetValue() == channel {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// warnings lists the Warning events about a request, by reason.
func (h *notifyHarness) warnings(name string) map[string][]string {
	var list eventsv1.EventList
	Expect(k8sClient.List(h.ctx, &list, client.InNamespace(h.ns))).To(Succeed())
	out := map[string][]string{}
	for _, e := range list.Items {
		if e.Regarding.Name == name && e.Type == corev1.EventTypeWarning {
			out[e.Reason] = append(out[e.Reason], e.Note)
		}
	}
	return out
}

// hookRequest is a request the webhook receiver got.
type hookRequest struct {
	path     string
	header   http.Header
	body     []byte
	answered int
}

// hookReceiver is a webhook receiver on loopback. Each path answers with
// its list of status codes in turn (the last one from then on); 200 when
// none is set.
type hookReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	got   []hookRequest
	codes map[string][]int
}

func newHookReceiver() *hookReceiver {
	rc := &hookReceiver{codes: map[string][]int{}}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		code := http.StatusOK
		if codes := rc.codes[r.URL.Path]; len(codes) > 0 {
			code = codes[0]
			if len(codes) > 1 {
				rc.codes[r.URL.Path] = codes[1:]
			}
		}
		rc.got = append(rc.got, hookRequest{path: r.URL.Path, header: r.Header.Clone(), body: body, answered: code})
		rc.mu.Unlock()
		w.WriteHeader(code)
	}))
	return rc
}

// answer sets the status codes a path answers with.
func (rc *hookReceiver) answer(path string, codes ...int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.codes[path] = codes
}

// requests returns what a path received.
func (rc *hookReceiver) requests(path string) []hookRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []hookRequest
	for _, r := range rc.got {
		if r.path == path {
			out = append(out, r)
		}
	}
	return out
}

// delivered returns what a path received and answered with 2xx.
func (rc *hookReceiver) delivered(path string) []hookRequest {
	var out []hookRequest
	for _, r := range rc.requests(path) {
		if r.answered/100 == 2 {
			out = append(out, r)
		}
	}
	return out
}

// staleClient serves one request from a snapshot, as a cache that has
// not seen the latest writes would; everything else, writes included,
// goes to the API server.
type staleClient struct {
	client.Client
	stale *v1alpha1.ReportRequest
}

func (s staleClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if rr, ok := obj.(*v1alpha1.ReportRequest); ok && key == client.ObjectKeyFromObject(s.stale) {
		s.stale.DeepCopyInto(rr)
		return nil
	}
	return s.Client.Get(ctx, key, obj, opts...)
}

var _ = Describe("Notifications", func() {
	It("sends one e-mail per recipient and one signed webhook per report, links the page, and keeps the report Completed", func() {
		h := newNotifyHarness()
		sentMail := notificationMetric(notify.MetricSent, "email")
		sentHooks := notificationMetric(notify.MetricSent, "webhook")
		hook := h.webhookSecret("ops-hook", h.hooks.URL+"/ops", "topsecret", false)
		slack := h.webhookSecret("slack-hook", h.hooks.URL+"/slack", "", true)
		h.startNotifier(notifierOptions{})

		h.finishedRequest("done", v1alpha1.PhaseCompleted, &v1alpha1.NotifySpec{
			Email: []string{"alice@example.com", "carol@example.com"}, Webhooks: []v1alpha1.WebhookTarget{hook, slack},
		})
		h.finishedRequest("broken", v1alpha1.PhaseFailed, &v1alpha1.NotifySpec{Email: []string{"alice@example.com"}})
		rr := h.waitDelivered("done", 4, 30*time.Second)
		failed := h.waitDelivered("broken", 1, 30*time.Second)

		By("one e-mail per recipient, its Message-ID the recorded delivery id")
		for _, addr := range []string{"alice@example.com", "carol@example.com"} {
			n := notification(rr, v1alpha1.ChannelEmail, addr)
			Expect(n.State).To(Equal(v1alpha1.DeliverySent))
			Expect(n.Attempts).To(Equal(int32(1)))
			var mine []testsupport.Message
			for _, m := range h.mailsTo(addr) {
				if m.MessageID == n.ID+"@example.org" {
					mine = append(mine, m)
				}
			}
			Expect(mine).To(HaveLen(1))
			Expect(mine[0].To).To(HaveLen(1), "recipients never see each other")
			Expect(mine[0].Subject).To(Equal("Report sales is ready (1,234 rows)"))
			detail, err := h.mail.Message(h.ctx, mine[0].ID)
			Expect(err).NotTo(HaveOccurred())
			Expect(detail.Text).To(ContainSubstring("https://reports.example.com/reports/done"))
			Expect(detail.Text).To(ContainSubstring("endDate=2024-01-31, startDate=2024-01-01"))
			Expect(detail.Text).To(ContainSubstring("56.8 kB"))
			Expect(detail.HTML).To(ContainSubstring(`href="https://reports.example.com/reports/done"`))
			Expect(detail.Text + detail.HTML).NotTo(ContainSubstring("file://"))
		}
		Expect(h.mailsTo("alice@example.com")).To(HaveLen(2), "one for each report")

		By("the failure mail says what went wrong")
		n := notification(failed, v1alpha1.ChannelEmail, "alice@example.com")
		Expect(n.State).To(Equal(v1alpha1.DeliverySent))
		msgs, err := h.mail.Messages(h.ctx)
		Expect(err).NotTo(HaveOccurred())
		var failMail *testsupport.Message
		for i := range msgs {
			if msgs[i].MessageID == n.ID+"@example.org" {
				failMail = &msgs[i]
			}
		}
		Expect(failMail).NotTo(BeNil())
		Expect(failMail.Subject).To(Equal("Report sales failed"))
		detail, err := h.mail.Message(h.ctx, failMail.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(detail.Text).To(ContainSubstring("The query was cancelled after its 1h timeout."))

		By("one webhook, signed, with the report's fields and the delivery id")
		got := h.hooks.delivered("/ops")
		Expect(got).To(HaveLen(1))
		Expect(got[0].header.Get(notify.HeaderDelivery)).To(Equal(notification(rr, v1alpha1.ChannelWebhook, "ops-hook/url").ID))
		Expect(got[0].header.Get(notify.HeaderEvent)).To(Equal(notify.EventCompleted))
		Expect(notify.Verify([]byte("topsecret"), got[0].body, got[0].header.Get(notify.HeaderSignature))).To(BeTrue())
		var body map[string]any
		Expect(json.Unmarshal(got[0].body, &body)).To(Succeed())
		Expect(body).To(HaveKeyWithValue("id", "done"))
		Expect(body).To(HaveKeyWithValue("reportType", "sales"))
		Expect(body).To(HaveKeyWithValue("status", "completed"))
		Expect(body).To(HaveKeyWithValue("rows", BeNumerically("==", 1234)))
		Expect(body).To(HaveKeyWithValue("size", BeNumerically("==", 56789)))
		Expect(body).To(HaveKeyWithValue("sha256", "feed"))
		Expect(body).To(HaveKeyWithValue("pageUrl", "https://reports.example.com/reports/done"))
		Expect(body).To(HaveKey("createdAt"))
		Expect(body).To(HaveKey("completedAt"))
		Expect(body).To(HaveKeyWithValue("parameters", HaveKeyWithValue("startDate", "2024-01-01")))

		slackGot := h.hooks.delivered("/slack")
		Expect(slackGot).To(HaveLen(1))
		Expect(slackGot[0].header.Get(notify.HeaderSignature)).To(BeEmpty())
		var text map[string]string
		Expect(json.Unmarshal(slackGot[0].body, &text)).To(Succeed())
		Expect(text["text"]).To(ContainSubstring("<https://reports.example.com/reports/done|Open the report>"))

		Expect(notificationMetric(notify.MetricSent, "email") - sentMail).To(BeNumerically("==", 3))
		Expect(notificationMetric(notify.MetricSent, "webhook") - sentHooks).To(BeNumerically("==", 2))
		Expect(h.get("done").Status.Phase).To(Equal(v1alpha1.PhaseCompleted))

		By("nothing more is sent later")
		Consistently(func() int { return len(h.mailsTo("carol@example.com")) + len(h.hooks.requests("/ops")) }, time.Second, 100*time.Millisecond).Should(Equal(2))
	})

	It("sends each message once when two managers with their own caches race, and a stale read loses its claim", func() {
		h := newNotifyHarness()
		h.startNotifier(notifierOptions{})
		h.startNotifier(notifierOptions{})
		hook := h.webhookSecret("hook", h.hooks.URL+"/race", "", false)
		const reports = 6
		snapshots := map[string]*v1alpha1.ReportRequest{}
		for i := range reports {
			name := fmt.Sprintf("race-%d", i)
			snapshots[name] = h.finishedRequest(name, v1alpha1.PhaseCompleted, &v1alpha1.NotifySpec{
				Email: []string{"alice@example.com", "bob@example.com"}, Webhooks: []v1alpha1.WebhookTarget{hook},
			}).DeepCopy()
		}
		ids := map[string]bool{}
		for name := range snapshots {
			rr := h.waitDelivered(name, 3, 30*time.Second)
			for _, n := range rr.Status.Notifications {
				Expect(n.State).To(Equal(v1alpha1.DeliverySent))
				ids[n.ID] = true
			}
		}
		Expect(ids).To(HaveLen(3 * reports))

		By("one mail per recipient and report, one webhook per report")
		for _, addr := range []string{"alice@example.com", "bob@example.com"} {
			Expect(h.mailsTo(addr)).To(HaveLen(reports))
		}
		got := h.hooks.requests("/race")
		Expect(got).To(HaveLen(reports))
		seen := map[string]bool{}
		for _, r := range got {
			seen[r.header.Get(notify.HeaderDelivery)] = true
		}
		Expect(seen).To(HaveLen(reports))
		AddReportEntry("claims and records lost to a conflict in the race", h.conflicts.Load())

		By("a reconciler reading the request as it was before any claim sends nothing")
		stale := snapshots["race-0"]
		Expect(stale.Status.Notifications).To(BeEmpty())
		r := h.reconciler(staleClient{Client: k8sClient, stale: stale}, k8sClient, nil, notifierOptions{})
		r.Settings = r.Settings.withDefaults()
		res, err := r.Reconcile(h.ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(stale)})
		Expect(err).NotTo(HaveOccurred())
		Expect(res.RequeueAfter).To(Equal(notifyConflictRetry))
		Expect(h.mailsTo("alice@example.com")).To(HaveLen(reports))
		Expect(h.hooks.requests("/race")).To(HaveLen(reports))
		Expect(h.get("race-0").Status.Notifications).To(HaveLen(3))
	})

	It("delivers once what was pending when the manager was restarted", func() {
		h := newNotifyHarness()
		Expect(h.mail.FailRecipients(h.ctx, 451, 100)).To(Succeed())
		h.hooks.answer("/later", http.StatusServiceUnavailable)
		hook := h.webhookSecret("hook", h.hooks.URL+"/later", "", false)
		patient := notifierOptions{settings: NotificationSettings{
			MaxAttempts: 50, Backoff: 200 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		}}
		stop := h.startNotifier(patient)
		h.finishedRequest("restart", v1alpha1.PhaseCompleted, &v1alpha1.NotifySpec{
			Email: []string{"alice@example.com"}, Webhooks: []v1alpha1.WebhookTarget{hook},
		})
		Eventually(func(g Gomega) {
			rr := h.get("restart")
			g.Expect(rr.Status.Notifications).To(HaveLen(2))
			for _, n := range rr.Status.Notifications {
				g.Expect(n.State).To(Equal(v1alpha1.DeliveryClaimed))
				g.Expect(n.Attempts).To(BeNumerically(">=", 2))
				g.Expect(n.Message).NotTo(BeEmpty())
			}
		}, 30*time.Second, 50*time.Millisecond).Should(Succeed())
		stop()

		Expect(h.mail.FailRecipients(h.ctx, 451, 0)).To(Succeed())
		h.hooks.answer("/later", http.StatusOK)
		h.startNotifier(patient)
		rr := h.waitDelivered("restart", 2, 30*time.Second)
		for _, n := range rr.Status.Notifications {
			Expect(n.State).To(Equal(v1alpha1.DeliverySent))
			Expect(n.Message).To(BeEmpty())
		}
		Expect(h.mailsTo("alice@example.com")).To(HaveLen(1))
		Expect(h.hooks.delivered("/later")).To(HaveLen(1))
	})

	It("sends a delivery found Claimed on start (its manager died before recording) once more, with the same id", func() {
		h := newNotifyHarness()
		hook := h.webhookSecret("hook", h.hooks.URL+"/crash", "", false)
		abandoned := metav1.NewTime(time.Now().Add(-time.Minute).UTC().Truncate(time.Second))
		// The ids are what the manager derives from the request's UID;
		// finishedRequest fills in $UID.
		emailID := DeliveryID("$UID", v1alpha1.ChannelEmail, "alice@example.com")
		hookID := DeliveryID("$UID", v1alpha1.ChannelWebhook, "0/hook/url")
		rr := h.finishedRequest("crashed", v1alpha1.PhaseCompleted,
			&v1alpha1.NotifySpec{Email: []string{"alice@example.com"}, Webhooks: []v1alpha1.WebhookTarget{hook}},
			v1alpha1.NotificationStatus{ID: emailID, Channel: v1alpha1.ChannelEmail, Target: "alice@example.com",
				State: v1alpha1.DeliveryClaimed, Attempts: 1, LastAttemptTime: &abandoned},
			v1alpha1.NotificationStatus{ID: hookID, Channel: v1alpha1.ChannelWebhook, Target: "hook/url",
				State: v1alpha1.DeliveryClaimed, Attempts: 1, LastAttemptTime: &abandoned},
		)
		emailID = DeliveryID(rr.UID, v1alpha1.ChannelEmail, "alice@example.com")
		hookID = DeliveryID(rr.UID, v1alpha1.ChannelWebhook, "0/hook/url")
		h.startNotifier(notifierOptions{})
		rr = h.waitDelivered("crashed", 2, 30*time.Second)
		Expect(notification(rr, v1alpha1.ChannelEmail, "alice@example.com")).To(
			And(HaveField("ID", emailID), HaveField("State", v1alpha1.DeliverySent), HaveField("Attempts", int32(2))))
		Expect(notification(rr, v1alpha1.ChannelWebhook, "hook/url")).To(
			And(HaveField("ID", hookID), HaveField("State", v1alpha1.DeliverySent), HaveField("Attempts", int32(2))))
		mails := h.mailsTo("alice@example.com")
		Expect(mails).To(HaveLen(1))
		Expect(mails[0].MessageID).To(Equal(emailID + "@example.org"))
		got := h.hooks.requests("/crash")
		Expect(got).To(HaveLen(1))
		Expect(got[0].header.Get(notify.HeaderDelivery)).To(Equal(hookID))
	})

	It("retries while the SMTP server is down and delivers once when it is back", func() {
		h := newNotifyHarness()
		Expect(h.mail.Down()).To(Succeed())
		h.startNotifier(notifierOptions{settings: NotificationSettings{
			MaxAttempts: 50, Backoff: 200 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		}})
		h.finishedRequest("outage", v1alpha1.PhaseCompleted, &v1alpha1.NotifySpec{Email: []string{"alice@example.com"}})
		Eventually(func(g Gomega) {
			n := h.get("outage").Status.Notifications
			g.Expect(n).To(HaveLen(1))
			g.Expect(n[0].Attempts).To(BeNumerically(">=", 2))
			g.Expect(n[0].Message).To(ContainSubstring(h.mail.SMTPAddr()))
		}, 30*time.Second, 50*time.Millisecond).Should(Succeed())
		Expect(h.mail.Up(h.ctx)).To(Succeed())
		rr := h.waitDelivered("outage", 1, 30*time.Second)
		Expect(rr.Status.Notifications[0].State).To(Equal(v1alpha1.DeliverySent))
		Expect(h.mailsTo("alice@example.com")).To(HaveLen(1))
		Consistently(func() int { return len(h.mailsTo("alice@example.com")) }, time.Second, 100*time.Millisecond).Should(Equal(1))
	})

	It("records Failed with the error when the SMTP server stays down, and the report stays Completed", func() {
		h := newNotifyHarness()
		Expect(h.mail.Down()).To(Succeed())
		failedBefore := notificationMetric(notify.MetricFailed, "email")
		h.startNotifier(notifierOptions{settings: NotificationSettings{MaxAttempts: 3}})
		h.finishedRequest("nomail", v1alpha1.PhaseCompleted, &v1alpha1.NotifySpec{Email: []string{"alice@example.com"}})
		rr := h.waitDelivered("nomail", 1, 30*time.Second)
		n := rr.Status.Notifications[0]
		Expect(n.State).To(Equal(v1alpha1.DeliveryFailed))
		Expect(n.Attempts).To(Equal(int32(3)))
		Expect(n.Message).To(ContainSubstring("sending through " + h.mail.SMTPAddr()))
		Expect(rr.Status.Phase).To(Equal(v1alpha1.PhaseCompleted))
		Expect(notificationMetric(notify.MetricFailed, "email") - failedBefore).To(BeNumerically("==", 1))
		Eventually(func() []string { return h.warnings("nomail")[EventNotificationFailed] }, 10*time.Second).Should(
			ConsistOf(ContainSubstring("The e-mail to alice@example.com was not delivered")))
		Consistently(func() int32 { return h.get("nomail").Status.Notifications[0].Attempts }, time.Second, 100*time.Millisecond).Should(Equal(int32(3)))
	})

	It("retries a webhook that answers 500 and delivers it once when it answers 200", func() {
		h := newNotifyHarness()
		h.hooks.answer("/flaky", http.StatusInternalServerError, http.StatusOK)
		hook := h.webhookSecret("hook", h.hooks.URL+"/flaky", "k", false)
		h.startNotifier(notifierOptions{})
		h.finishedRequest("flaky", v1alpha1.PhaseFailed, &v1alpha1.NotifySpec{Webhooks: []v1alpha1.WebhookTarget{hook}})
		rr := h.waitDelivered("flaky", 1, 30*time.Second)
		n := rr.Status.Notifications[0]
		Expect(n.State).To(Equal(v1alpha1.DeliverySent))
		Expect(n.Attempts).To(Equal(int32(2)))
		got := h.hooks.requests("/flaky")
		Expect(got).To(HaveLen(2))
		Expect(got[0].header.Get(notify.HeaderDelivery)).To(Equal(n.ID))
		Expect(got[1].header.Get(notify.HeaderDelivery)).To(Equal(n.ID))
		Expect(got[1].header.Get(notify.HeaderEvent)).To(Equal(notify.EventFailed))
		Expect(h.hooks.delivered("/flaky")).To(HaveLen(1))
	})

	It("refuses webhooks to private and (unless allowed) loopback addresses, and mail outside the allowed domains", func() {
		h := newNotifyHarness()
		private := h.webhookSecret("private", "http://10.255.255.1/hook", "", false)
		loopback := h.webhookSecret("loopback", h.hooks.URL+"/local", "", false)
		h.startNotifier(notifierOptions{denyLoopback: true, emailDomains: []string{"example.com"}})
		h.finishedRequest("refused", v1alpha1.PhaseCompleted, &v1alpha1.NotifySpec{
			Email:    []string{"alice@example.com", "eve@evil.example.net"},
			Webhooks: []v1alpha1.WebhookTarget{private, loopback},
		})
		rr := h.waitDelivered("refused", 4, 30*time.Second)
		Expect(notification(rr, v1alpha1.ChannelWebhook, "private/url")).To(And(
			HaveField("State", v1alpha1.DeliveryFailed), HaveField("Attempts", int32(1)),
			HaveField("Message", ContainSubstring("refused to connect to 10.255.255.1: it is a private address (10.0.0.0/8)"))))
		Expect(notification(rr, v1alpha1.ChannelWebhook, "loopback/url")).To(And(
			HaveField("State", v1alpha1.DeliveryFailed),
			HaveField("Message", ContainSubstring("a loopback address")),
			HaveField("Message", ContainSubstring(notify.AllowCIDRsFlag))))
		Expect(h.hooks.requests("/local")).To(BeEmpty())
		Expect(notification(rr, v1alpha1.ChannelEmail, "eve@evil.example.net")).To(And(
			HaveField("State", v1alpha1.DeliveryFailed), HaveField("Message", ContainSubstring("not in an allowed e-mail domain"))))
		Expect(notification(rr, v1alpha1.ChannelEmail, "alice@example.com").State).To(Equal(v1alpha1.DeliverySent))
		Expect(h.mailsTo("eve@evil.example.net")).To(BeEmpty())
		Expect(rr.Status.Phase).To(Equal(v1alpha1.PhaseCompleted))
	})

	It("sends nothing when the request turns notifications off", func() {
		h := newNotifyHarness()
		h.startNotifier(notifierOptions{})
		h.finishedRequest("quiet", v1alpha1.PhaseCompleted, &v1alpha1.NotifySpec{Email: []string{"alice@example.com"}, Disabled: true})
		h.finishedRequest("loud", v1alpha1.PhaseCompleted, &v1alpha1.NotifySpec{Email: []string{"bob@example.com"}})
		h.waitDelivered("loud", 1, 30*time.Second)
		Consistently(func() int { return len(h.mailsTo("alice@example.com")) }, time.Second, 100*time.Millisecond).Should(BeZero())
		Expect(h.get("quiet").Status.Notifications).To(BeEmpty())
	})
})
