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

package testsupport_test

import (
	"context"
	"io"
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"

	"reportd.io/reportd/internal/sampledata"
	"reportd.io/reportd/internal/testsupport"
)

func TestS3RejectsAWrongSecret(t *testing.T) {
	store := testsupport.NewS3(t, testsupport.S3Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wrong := s3.New(s3.Options{
		Region: store.Region, BaseEndpoint: aws.String(store.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(store.AccessKey, "not-the-secret", ""),
	})
	if _, err := wrong.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(store.Bucket)}); err == nil {
		t.Error("a request signed with the wrong secret was accepted")
	}
	if _, err := store.Client().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(store.Bucket)}); err != nil {
		t.Errorf("a request with the right secret failed: %v", err)
	}
}

func TestS3KillAndRestartKeepObjects(t *testing.T) {
	store := testsupport.NewS3(t, testsupport.S3Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := store.Client()
	put := &s3.PutObjectInput{Bucket: aws.String(store.Bucket), Key: aws.String("k"), Body: strings.NewReader("kept")}
	if _, err := client.PutObject(ctx, put); err != nil {
		t.Fatal(err)
	}
	pid := store.PID()
	store.Kill()
	if testsupport.Alive(pid) {
		t.Fatalf("versitygw (pid %d) survived Kill", pid)
	}
	get := &s3.GetObjectInput{Bucket: aws.String(store.Bucket), Key: aws.String("k")}
	if _, err := client.GetObject(ctx, get, withoutRetries); err == nil {
		t.Fatal("GetObject succeeded while the server was killed")
	}
	if err := store.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	out, err := client.GetObject(ctx, get)
	if err != nil {
		t.Fatalf("GetObject after Restart with the old client: %v", err)
	}
	defer out.Body.Close()
	if data, _ := io.ReadAll(out.Body); string(data) != "kept" {
		t.Errorf("object after restart: %q", data)
	}
}

// withoutRetries makes a request fail at once instead of backing off.
func withoutRetries(o *s3.Options) { o.RetryMaxAttempts = 1 }

func TestSMTPFailRecipientsRejectsMail(t *testing.T) {
	mail := testsupport.NewSMTP(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	send := func() error {
		return smtp.SendMail(mail.SMTPAddr(), nil, "a@example.com", []string{"b@example.com"},
			[]byte("Subject: x\r\n\r\nbody\r\n"))
	}
	if err := mail.FailRecipients(ctx, 451, 100); err != nil {
		t.Fatal(err)
	}
	if err := send(); err == nil || !strings.Contains(err.Error(), "451") {
		t.Errorf("send while recipients fail: got %v, want a 451 error", err)
	}
	if err := mail.FailRecipients(ctx, 451, 0); err != nil {
		t.Fatal(err)
	}
	if err := send(); err != nil {
		t.Errorf("send after turning failures off: %v", err)
	}
	if msgs, err := mail.WaitMessages(ctx, 1); err != nil || len(msgs) != 1 {
		t.Errorf("%d mails arrived (%v), want 1", len(msgs), err)
	}
}

func TestMissingServerBinaryNamesTheMakeTarget(t *testing.T) {
	t.Setenv("REPORTD_BIN_DIR", t.TempDir())
	ctx := context.Background()
	_, err := testsupport.StartS3(ctx, testsupport.S3Options{})
	if err == nil || !strings.Contains(err.Error(), "versitygw") || !strings.Contains(err.Error(), "make test-servers") {
		t.Errorf("StartS3 without versitygw: %v", err)
	}
	_, err = testsupport.StartSMTP(ctx)
	if err == nil || !strings.Contains(err.Error(), "mailpit") || !strings.Contains(err.Error(), "make test-servers") {
		t.Errorf("StartSMTP without mailpit: %v", err)
	}
}

func TestPostgresPersistentDataDirIsReused(t *testing.T) {
	// Not t.TempDir: as root the server runs as the postgres user, which
	// cannot enter the test's private temporary directory.
	parent, err := os.MkdirTemp("", "reportd-pgstate-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(parent)
	if err := os.Chmod(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := testsupport.PostgresOptions{DataDir: filepath.Join(parent, "pg"), LoadSample: &sampledata.Sizes{Users: 5, Orders: 20, Products: 3}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	first, err := testsupport.StartPostgres(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	mustChange(ctx, t, first.URL, "INSERT INTO products (id, sku, name, stock, reorder_level, updated_at) VALUES (999, 'MARK', 'marker', 1, 1, now())")
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(opts.DataDir, "data", "PG_VERSION")); err != nil {
		t.Fatalf("persistent cluster removed by Stop: %v", err)
	}

	second, err := testsupport.StartPostgres(ctx, opts)
	if err != nil {
		t.Fatalf("restart on the same DataDir: %v", err)
	}
	defer stopOrFail(t, second.Stop)
	countOrders(ctx, t, second.ReaderURL, 20)
	mustChange(ctx, t, second.URL, "DELETE FROM products WHERE sku = 'MARK'") // fails the test unless the marker survived
}

// mustChange runs one statement that must change at least one row, or create.
func mustChange(ctx context.Context, t *testing.T, url, sql string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tag, err := conn.Exec(ctx, sql)
	if err != nil || tag.RowsAffected() == 0 {
		t.Fatalf("%s: %v (%d rows)", sql, err, tag.RowsAffected())
	}
}

func TestPostgresShutdownAndRestartKeepDataAndPort(t *testing.T) {
	pg := testsupport.NewPostgres(t, testsupport.PostgresOptions{LoadSample: &sampledata.Sizes{Users: 5, Orders: 20, Products: 3}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	open, err := pgx.Connect(ctx, pg.ReaderURL)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close(context.Background())
	port, pid := pg.Port, pg.PID()

	if err := pg.Shutdown(); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if testsupport.Alive(pid) {
		t.Fatalf("postgres (pid %d) survived Shutdown", pid)
	}
	if err := open.Ping(ctx); err == nil {
		t.Error("a session opened before Shutdown still answers")
	}
	if conn, err := pgx.Connect(ctx, pg.ReaderURL); err == nil {
		conn.Close(ctx)
		t.Fatal("a new connection succeeded while the server was shut down")
	}

	if err := pg.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if pg.Port != port {
		t.Errorf("Restart moved the server from port %d to %d", port, pg.Port)
	}
	countOrders(ctx, t, pg.ReaderURL, 20) // the reader role and its password survive
}
