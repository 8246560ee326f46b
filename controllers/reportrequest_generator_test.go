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
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/yaml"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/generator"
	"reportd.io/reportd/internal/sampledata"
	"reportd.io/reportd/internal/storage"
	"reportd.io/reportd/internal/testsupport"
)

// The success case end to end with the real parts: the sample sales
// definition checked against a throwaway PostgreSQL by the generator's own
// check, and the Job run by the executor as `reportd generate`, built from
// this tree, streaming the rows into file storage.
var _ = Describe("ReportRequest controller, with the real generator", Label("postgres"), func() {
	It("checks the sample sales definition and generates its report from PostgreSQL", func(ctx SpecContext) {
		pg, err := testsupport.StartPostgres(ctx, testsupport.PostgresOptions{
			LoadSample: &sampledata.Sizes{Users: 100, Orders: 3000, Products: 20},
		})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(pg.Stop)
		reportd := buildReportd(ctx)

		h := newReportHarness(reportHarnessOptions{
			checker: DefinitionCheckerFunc(checkWithGenerator), generator: reportd, datasourceURL: pg.ReaderURL,
		})
		def := sampleDefinition("reports_v1alpha1_reportdefinition_sales.yaml")
		h.readyDefinition(def)
		Expect(def.Status.Columns).To(Equal([]string{"Date", "OrderId", "Customer", "Amount", "Status"}))

		h.create(reportRequest("march", "sales", map[string]string{"startDate": "2024-03-01", "endDate": "2024-03-31"}))
		done := h.waitForPhase("march", v1alpha1.PhaseCompleted, 2*time.Minute)

		var want int64
		conn, err := pgx.Connect(ctx, pg.URL)
		Expect(err).NotTo(HaveOccurred())
		defer func() { _ = conn.Close(context.Background()) }()
		Expect(conn.QueryRow(ctx, `SELECT count(*) FROM orders WHERE created_at >= '2024-03-01' AND created_at < '2024-04-01'`).Scan(&want)).To(Succeed())
		Expect(want).To(BeNumerically(">", 0), "the sample data has March 2024 orders")

		key := storage.ReportKey(h.ns, "march", done.UID, v1alpha1.FormatCSV)
		r, info, err := h.store.Open(ctx, key)
		Expect(err).NotTo(HaveOccurred())
		body, err := io.ReadAll(r)
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Close()).To(Succeed())
		// Customer names may hold quotes, commas and line breaks: read it as CSV.
		records, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
		Expect(err).NotTo(HaveOccurred())
		Expect(records[0]).To(Equal([]string{"Date", "OrderId", "Customer", "Amount", "Status"}))
		Expect(int64(len(records) - 1)).To(Equal(want))

		sum := sha256.Sum256(body)
		Expect(done.Status.Result).To(Equal(&v1alpha1.ReportResult{
			URL: h.store.URI(key), Size: info.Size, Rows: want, SHA256: hex.EncodeToString(sum[:]), ContentType: done.Status.Result.ContentType,
		}))
		Expect(done.Status.Rows).To(Equal(want))
		Expect(done.Status.Progress).To(Equal(int32(100)))
		Expect(meta.IsStatusConditionTrue(done.Status.Conditions, v1alpha1.ConditionReady)).To(BeTrue())
	}, NodeTimeout(6*time.Minute))
})

// checkWithGenerator is the manager's definition check (internal/manager
// wires the same), over a connection of its own.
func checkWithGenerator(ctx context.Context, url string, def *v1alpha1.ReportDefinition) CheckResult {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return CheckResult{Transient: true, Reason: generator.ReasonDatasourceUnavailable, Message: err.Error()}
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	res := generator.CheckDefinition(ctx, conn, &def.Spec)
	return CheckResult{Ready: res.Ready, Reason: res.Reason, Message: res.Message, Columns: res.Columns, Transient: res.Transient}
}

// sampleDefinition reads a ReportDefinition from config/samples.
func sampleDefinition(file string) *v1alpha1.ReportDefinition {
	root, err := testsupport.RepoRoot()
	Expect(err).NotTo(HaveOccurred())
	data, err := os.ReadFile(filepath.Join(root, "config", "samples", file))
	Expect(err).NotTo(HaveOccurred())
	def := &v1alpha1.ReportDefinition{}
	Expect(yaml.UnmarshalStrict(data, def)).To(Succeed())
	return def
}

// buildReportd builds this tree's reportd binary for the spec.
func buildReportd(ctx context.Context) string {
	path := filepath.Join(GinkgoT().TempDir(), "reportd")
	build := exec.CommandContext(ctx, "go", "build", "-o", path, "reportd.io/reportd")
	build.Stdout, build.Stderr = GinkgoWriter, GinkgoWriter
	Expect(build.Run()).To(Succeed(), "building reportd")
	return path
}
