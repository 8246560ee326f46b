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
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"reportd.io/reportd/api/v1alpha1"
)

var _ = Describe("ReportDefinition controller", func() {
	// readyCondition waits until the definition's Ready condition describes
	// its current generation with the given status, and returns it.
	readyCondition := func(h *reportHarness, name string, status metav1.ConditionStatus) (*v1alpha1.ReportDefinition, *metav1.Condition) {
		def := &v1alpha1.ReportDefinition{}
		var ready *metav1.Condition
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: name}, def)).To(Succeed())
			ready = meta.FindStatusCondition(def.Status.Conditions, v1alpha1.ConditionReady)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.ObservedGeneration).To(Equal(def.Generation))
			g.Expect(def.Status.ObservedGeneration).To(Equal(def.Generation))
			g.Expect(ready.Status).To(Equal(status), "%s: %s", ready.Reason, ready.Message)
		}, 10*time.Second, 50*time.Millisecond).Should(Succeed())
		return def, ready
	}

	It("reports Ready from the check for each generation, and checks nothing on a resync", func() {
		h := newReportHarness(reportHarnessOptions{handDriven: true, syncPeriod: 2 * time.Second})
		h.create(fakeDefinition("d1"))
		def, ready := readyCondition(h, "d1", metav1.ConditionTrue)
		Expect(ready.Reason).To(Equal(ReasonChecked))
		Expect(def.Status.Columns).To(Equal([]string{"id"}))
		Expect(h.checker.checkedURL()).To(Equal("postgres://reader@127.0.0.1:1/none"), "the URL from the default datasource Secret")

		def.Spec.Query = "select * from broken"
		Expect(k8sClient.Update(h.ctx, def)).To(Succeed())
		_, ready = readyCondition(h, "d1", metav1.ConditionFalse)
		Expect(ready.Reason).To(Equal("QueryInvalid"))
		Expect(ready.Message).To(Equal(`relation "broken" does not exist`))

		By("letting the cache resync twice")
		checks, writes := h.checker.callCount(), h.writes.count()
		Consistently(h.checker.callCount, 5*time.Second, 100*time.Millisecond).Should(Equal(checks))
		Expect(h.writes.list()[writes:]).To(BeEmpty())
	})

	It("says what to do when the datasource Secret is missing, and rechecks when a Secret changes", func() {
		h := newReportHarness(reportHarnessOptions{handDriven: true})
		def := fakeDefinition("d2")
		def.Spec.Datasource = &v1alpha1.Datasource{SecretRef: v1alpha1.SecretKeyRef{Name: "replica"}}
		h.create(def)
		_, ready := readyCondition(h, "d2", metav1.ConditionFalse)
		Expect(ready.Reason).To(Equal(ReasonDatasourceSecretMissing))
		Expect(ready.Message).To(ContainSubstring(`Secret "replica" in namespace "` + h.ns + `" has no key "url"`))

		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "replica"},
			StringData: map[string]string{"url": "postgres://reader@replica/app"},
		}
		h.create(secret)
		readyCondition(h, "d2", metav1.ConditionTrue)
		Expect(h.checker.checkedURL()).To(Equal("postgres://reader@replica/app"))

		secret.StringData = map[string]string{"url": "postgres://reader@replica-2/app"}
		Expect(k8sClient.Update(h.ctx, secret)).To(Succeed())
		Eventually(h.checker.checkedURL, 10*time.Second, 50*time.Millisecond).Should(Equal("postgres://reader@replica-2/app"))
	})

	It("leaves Ready Unknown while the database cannot be reached", func() {
		h := newReportHarness(reportHarnessOptions{handDriven: true})
		h.checker.setTransient(true)
		h.create(fakeDefinition("d3"))
		_, ready := readyCondition(h, "d3", metav1.ConditionUnknown)
		Expect(ready.Reason).To(Equal("DatasourceUnavailable"))
	})
})
