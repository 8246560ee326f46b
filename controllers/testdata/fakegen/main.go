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

// Command fakegen stands in for `reportd generate` in the controllers'
// envtest suite, where a spec needs a precise behaviour: it reads the same
// environment the Job gives the generator, reads its ReportRequest, and
// does what the request's parameters say (a test definition declares
// them): write progress steps, fail the first attempts, exit with a code,
// panic, sleep until killed, hang in the middle of an upload until killed,
// or store a file and report it, even under a forged key. It writes the
// same annotations the generator writes, and reaches S3 with the same
// settings from the environment.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/config"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/storage"
)

// run is one attempt, with its request's parameters.
type run struct {
	ctx    context.Context
	c      client.Client
	ns     string
	job    string
	pod    string
	req    *v1alpha1.ReportRequest
	params map[string]string
}

func main() {
	ctx := context.Background()
	r, err := setup(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakegen:", err)
		os.Exit(1)
	}
	os.Exit(r.main())
}

// setup reads the environment and the ReportRequest.
func setup(ctx context.Context) (*run, error) {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
	cfg, err := config.GetConfig()
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	r := &run{ctx: ctx, c: c, ns: os.Getenv("REPORTD_NAMESPACE"), job: os.Getenv("REPORTD_JOB"), pod: os.Getenv("REPORTD_POD")}
	for _, v := range []string{r.ns, r.job, r.pod, os.Getenv("REPORTD_REQUEST"), os.Getenv("REPORTD_DATASOURCE_URL")} {
		if v == "" {
			return nil, fmt.Errorf("the Job's environment is incomplete")
		}
	}
	r.req = &v1alpha1.ReportRequest{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: r.ns, Name: os.Getenv("REPORTD_REQUEST")}, r.req); err != nil {
		return nil, err
	}
	r.params = map[string]string{}
	for k, v := range r.req.Spec.Parameters {
		r.params[k] = string(v)
	}
	return r, nil
}

// main does what the parameters say and returns the exit code.
func (r *run) main() int {
	if err := r.progress(); err != nil {
		fmt.Fprintln(os.Stderr, "fakegen:", err)
		return 1
	}
	if n := r.intParam("failAttempts", 0); n > 0 && r.failedSoFar() < n {
		return r.fail(r.intParam("code", 1))
	}
	switch r.params["mode"] {
	case "exit":
		return r.fail(r.intParam("code", 1))
	case "panic":
		panic("fakegen: asked to panic")
	case "sleep":
		time.Sleep(time.Hour)
		return 0
	case "hangUpload":
		err := r.hangUpload()
		fmt.Fprintln(os.Stderr, "fakegen:", err)
		return 1
	}
	if err := r.store(); err != nil {
		fmt.Fprintln(os.Stderr, "fakegen:", err)
		return 1
	}
	return 0
}

// progress writes the progress steps ("10,40,30,100"), stepMs apart, with
// rows at 10 per percent.
func (r *run) progress() error {
	steps := r.params["steps"]
	if steps == "" {
		return nil
	}
	delay := time.Duration(r.intParam("stepMs", 0)) * time.Millisecond
	for _, s := range strings.Split(steps, ",") {
		v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return err
		}
		if err := r.annotate(map[string]string{
			v1alpha1.AnnotationProgress: v1alpha1.EncodeAnnotation(v1alpha1.ProgressAnnotation{Attempt: r.pod, Value: v}),
			v1alpha1.AnnotationRows:     v1alpha1.EncodeAnnotation(v1alpha1.ProgressAnnotation{Attempt: r.pod, Value: v * 10}),
		}); err != nil {
			return err
		}
		time.Sleep(delay)
	}
	return nil
}

// fail writes the error annotation and the termination message, then
// returns the exit code.
func (r *run) fail(code int) int {
	msg := r.params["errorMessage"]
	if msg == "" {
		msg = fmt.Sprintf("fakegen failed on purpose with exit code %d", code)
	}
	_ = r.annotate(map[string]string{v1alpha1.AnnotationError: v1alpha1.EncodeAnnotation(
		v1alpha1.ErrorAnnotation{Attempt: r.pod, Message: msg, Permanent: code == v1alpha1.ExitPermanent})})
	if path := os.Getenv("REPORTD_TERMINATION_LOG"); path != "" {
		_ = os.WriteFile(path, []byte(msg), 0o600)
	}
	return code
}

// openStore opens the storage the Job's environment names, as `reportd
// generate` does.
func (r *run) openStore() (storage.Store, error) {
	return storage.New(r.ctx, storage.Config{
		URL: os.Getenv("REPORTD_STORAGE_URL"), Endpoint: os.Getenv("REPORTD_S3_ENDPOINT"),
		Region: os.Getenv("REPORTD_S3_REGION"), PathStyle: os.Getenv("REPORTD_S3_PATH_STYLE") == "true",
		AccessKey: os.Getenv("REPORTD_S3_ACCESS_KEY"), SecretKey: os.Getenv("REPORTD_S3_SECRET_KEY"),
		PartSize: hangPartSize,
	})
}

// hangPartSize is the smallest part S3 takes: hangUpload sends one whole
// part, so the multipart upload exists, and then waits.
const hangPartSize = 5 << 20

// hangUpload starts storing the file under the request's key, sends more
// than one part and then waits until it is killed: a generator caught in
// the middle of an upload. On S3 a multipart upload with one part is left;
// on file storage a partial file.
func (r *run) hangUpload() error {
	st, err := r.openStore()
	if err != nil {
		return err
	}
	key := storage.ReportKey(r.ns, r.req.Name, r.req.UID, r.req.Spec.Format)
	_, err = st.Put(r.ctx, key, &hangingReader{left: hangPartSize + 1024}, storage.PutOptions{ContentType: "text/csv"})
	return err
}

// hangingReader yields left bytes of CSV, then blocks for good.
type hangingReader struct{ left int }

func (h *hangingReader) Read(p []byte) (int, error) {
	if h.left <= 0 {
		time.Sleep(time.Hour) // killed long before
		return 0, io.ErrUnexpectedEOF
	}
	n := min(len(p), h.left)
	for i := range n {
		p[i] = "1\n"[i%2]
	}
	h.left -= n
	return n, nil
}

// store puts a small CSV under the request's key (or a forged one) and
// writes the result annotation.
func (r *run) store() error {
	st, err := r.openStore()
	if err != nil {
		return err
	}
	name := r.req.Name
	if r.params["forgeKey"] == "true" {
		name = "someone-else"
	}
	key := storage.ReportKey(r.ns, name, r.req.UID, r.req.Spec.Format)
	rows := r.intParam("rows", 3)
	var b strings.Builder
	b.WriteString("id\n")
	for i := 1; i <= rows; i++ {
		fmt.Fprintf(&b, "%d\n", i)
	}
	info, err := st.Put(r.ctx, key, strings.NewReader(b.String()), storage.PutOptions{ContentType: "text/csv"})
	if err != nil {
		return err
	}
	annotations := map[string]string{
		v1alpha1.AnnotationResult: v1alpha1.EncodeAnnotation(v1alpha1.ResultAnnotation{
			Version: v1alpha1.ResultFormatVersion, Attempt: r.pod, Key: key, URL: st.URI(key),
			Size: info.Size, Rows: int64(rows), SHA256: "not-checked-here", ContentType: "text/csv",
		}),
	}
	if r.params["quiet"] != "true" {
		// quiet reports no progress at all, as a definition with progress None until the end.
		annotations[v1alpha1.AnnotationProgress] = v1alpha1.EncodeAnnotation(v1alpha1.ProgressAnnotation{Attempt: r.pod, Value: 100})
	}
	return r.annotate(annotations)
}

// annotate merge-patches annotations onto the attempt's own Job.
func (r *run) annotate(annotations map[string]string) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": annotations}})
	if err != nil {
		return err
	}
	job := &batchv1.Job{}
	job.Namespace, job.Name = r.ns, r.job
	return r.c.Patch(r.ctx, job, client.RawPatch(types.MergePatchType, patch))
}

// failedSoFar is the Job's count of failed attempts.
func (r *run) failedSoFar() int {
	job := &batchv1.Job{}
	if err := r.c.Get(r.ctx, types.NamespacedName{Namespace: r.ns, Name: r.job}, job); err != nil {
		return 0
	}
	return int(job.Status.Failed)
}

// intParam reads an integer parameter, or def.
func (r *run) intParam(name string, def int) int {
	v, err := strconv.Atoi(r.params[name])
	if err != nil {
		return def
	}
	return v
}
