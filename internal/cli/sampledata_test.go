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

package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"reportd.io/reportd/internal/sampledata"
	"reportd.io/reportd/internal/testsupport"
)

// runReportd runs the root command with args and returns its output.
func runReportd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := NewRootCommand()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

func TestSampleDataCommandLoadsAndCreatesTheReader(t *testing.T) {
	pg := testsupport.NewPostgres(t, testsupport.PostgresOptions{})
	out, err := runReportd(t, "sample-data", "--database-url", pg.URL,
		"--users", "20", "--orders", "300", "--products", "10", "--reader-password", "s3cret-pw")
	if err != nil {
		t.Fatalf("sample-data: %v\n%s", err, out)
	}
	if !strings.Contains(out, "Loaded 20 users, 300 orders and 10 products in ") {
		t.Errorf("output does not say what was loaded and how long it took:\n%s", out)
	}
	if strings.Contains(out, "s3cret-pw") {
		t.Error("output shows the reader's password")
	}

	readerURL := strings.Replace(pg.URL, "app@", sampledata.DefaultReaderRole+":s3cret-pw@", 1)
	conn, err := pgx.Connect(context.Background(), readerURL)
	if err != nil {
		t.Fatalf("connect as the reader: %v", err)
	}
	defer conn.Close(context.Background())
	var orders int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM orders").Scan(&orders); err != nil || orders != 300 {
		t.Errorf("reader counts %d orders (%v), want 300", orders, err)
	}

	if _, err := runReportd(t, "sample-data", "--database-url", pg.URL); err == nil || !strings.Contains(err.Error(), "already exist") {
		t.Errorf("second load without --replace: got %v, want a refusal", err)
	}
	out, err = runReportd(t, "sample-data", "--database-url", pg.URL, "--replace", "--orders", "5")
	if err != nil || !strings.Contains(out, "5 orders") {
		t.Errorf("reload with --replace: %v\n%s", err, out)
	}
}

func TestSampleDataCommandRejectsBadInput(t *testing.T) {
	if _, err := runReportd(t, "sample-data"); err == nil || !strings.Contains(err.Error(), "--database-url") {
		t.Errorf("without a URL: got %v, want an error naming --database-url", err)
	}
	if _, err := runReportd(t, "sample-data", "--database-url", "postgres://app@127.0.0.1:1/x", "--orders", "-3"); err == nil || !strings.Contains(err.Error(), "orders") {
		t.Errorf("negative orders: got %v, want an error naming orders", err)
	}
}
