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
	"bytes"
	"context"
	"errors"
	"io"
	"net/smtp"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"

	"reportd.io/reportd/internal/sampledata"
	"reportd.io/reportd/internal/testsupport"
)

// stopper is what every server offers for the hygiene checks.
type stopper interface {
	Stop() error
	PID() int
}

// TestServersStartAndStopCleanly starts PostgreSQL with sample data, S3 and
// SMTP, makes a real round trip with each, stops them, and checks that no
// process of theirs is left and their directories are gone.
func TestServersStartAndStopCleanly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	pg, err := testsupport.StartPostgres(ctx, testsupport.PostgresOptions{
		LoadSample: &sampledata.Sizes{Users: 10, Orders: 123, Products: 5},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stopOrFail(t, pg.Stop)
	store, err := testsupport.StartS3(ctx, testsupport.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer stopOrFail(t, store.Stop)
	mail, err := testsupport.StartSMTP(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stopOrFail(t, mail.Stop)

	countOrders(ctx, t, pg.ReaderURL, 123)
	putAndGet(ctx, t, store)
	sendAndRead(ctx, t, mail)

	servers := map[string]struct {
		server stopper
		dir    string
	}{"postgres": {pg, pg.Dir}, "versitygw": {store, store.Dir}, "mailpit": {mail, mail.Dir}}
	for name, s := range servers {
		pid := s.server.PID()
		if !testsupport.Alive(pid) {
			t.Fatalf("%s (pid %d) is not running before Stop", name, pid)
		}
		if err := s.server.Stop(); err != nil {
			t.Errorf("stop %s: %v", name, err)
		}
		if testsupport.Alive(pid) {
			t.Errorf("%s (pid %d) still runs after Stop", name, pid)
		}
		if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s's process group %d still has processes after Stop (%v)", name, pid, err)
		}
		if _, err := os.Stat(s.dir); !os.IsNotExist(err) {
			t.Errorf("%s's directory %s is still there after Stop (%v)", name, s.dir, err)
		}
		if err := s.server.Stop(); err != nil {
			t.Errorf("second Stop of %s: %v", name, err)
		}
	}
}

// countOrders checks the sample data is queryable through url.
func countOrders(ctx context.Context, t *testing.T, url string, want int) {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&n); err != nil || n != want {
		t.Errorf("count orders: %d (%v), want %d", n, err, want)
	}
}

// putAndGet stores an object and reads it back.
func putAndGet(ctx context.Context, t *testing.T, store *testsupport.S3) {
	t.Helper()
	client := store.Client()
	body := []byte("id,name\n1,\"Smith, John\"\n")
	_, err := client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(store.Bucket), Key: aws.String("reports/a.csv"), Body: bytes.NewReader(body),
	})
	if err != nil {
		t.Fatalf("put an object: %v", err)
	}
	got, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(store.Bucket), Key: aws.String("reports/a.csv")})
	if err != nil {
		t.Fatalf("get the object: %v", err)
	}
	defer got.Body.Close()
	if data, _ := io.ReadAll(got.Body); !bytes.Equal(data, body) {
		t.Errorf("object reads back as %q, want %q", data, body)
	}
}

// sendAndRead sends a mail with net/smtp and reads it through the API.
func sendAndRead(ctx context.Context, t *testing.T, mail *testsupport.SMTP) {
	t.Helper()
	msg := "From: reportd <reportd@example.com>\r\nTo: alice@example.com\r\n" +
		"Subject: Your report is ready\r\nMessage-ID: <delivery-1@reportd.example>\r\n\r\nDownload it here.\r\n"
	if err := smtp.SendMail(mail.SMTPAddr(), nil, "reportd@example.com", []string{"alice@example.com"}, []byte(msg)); err != nil {
		t.Fatalf("send a mail: %v", err)
	}
	msgs, err := mail.WaitMessages(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	m := msgs[0]
	if m.Subject != "Your report is ready" || m.MessageID != "delivery-1@reportd.example" ||
		len(m.To) != 1 || m.To[0].Address != "alice@example.com" || m.From.Address != "reportd@example.com" {
		t.Errorf("mail arrived as %+v", m)
	}
	detail, err := mail.Message(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(detail.Text, "Download it here.") || len(detail.Headers["Message-Id"]) != 1 {
		t.Errorf("mail body %q, headers %v", detail.Text, detail.Headers)
	}
	if err := mail.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	if msgs, err := mail.Messages(ctx); err != nil || len(msgs) != 0 {
		t.Errorf("after Clear: %d mails (%v)", len(msgs), err)
	}
}

// stopOrFail stops a server at the end of a test and fails the test when
// it does not stop cleanly: a server left running would outlive the run.
func stopOrFail(t *testing.T, stop func() error) {
	t.Helper()
	if err := stop(); err != nil {
		t.Errorf("stopping a server: %v", err)
	}
}
