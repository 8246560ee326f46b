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
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"reportd.io/reportd/test/e2e/e2eutil"
)

// facadeReport is the facade's JSON for a report (docs/http-api.md), as
// far as the suite reads it.
type facadeReport struct {
	ID           string `json:"id"`
	ReportType   string `json:"reportType"`
	Format       string `json:"format"`
	Status       string `json:"status"`
	Progress     int    `json:"progress"`
	Rows         int64  `json:"rows"`
	ResultURL    string `json:"resultUrl"`
	ErrorMessage string `json:"errorMessage"`
	Size         int64  `json:"size"`
	SHA256       string `json:"sha256"`
}

// facadeCall sends one request to a facade as the user of token and
// returns the status code and body. body, if not nil, is sent as JSON.
func facadeCall(t testing.TB, baseURL, token, method, path string, body any) (int, []byte) {
	t.Helper()
	var reader io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		reader = bytes.NewReader(data)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, baseURL+path, reader)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data
}

// waitFacadeReport polls GET /api/v1/reports/{id} until the report is
// completed or failed.
func waitFacadeReport(t testing.TB, baseURL, token, id string, timeout time.Duration) facadeReport {
	t.Helper()
	var rep facadeReport
	e2eutil.Eventually(t, timeout, "report "+id+" finishes", func() (bool, string) {
		code, body := facadeCall(t, baseURL, token, http.MethodGet, "/api/v1/reports/"+id, nil)
		if code != http.StatusOK {
			return false, string(body)
		}
		if err := json.Unmarshal(body, &rep); err != nil {
			return false, err.Error()
		}
		return rep.Status == "completed" || rep.Status == "failed", rep.Status
	})
	return rep
}
