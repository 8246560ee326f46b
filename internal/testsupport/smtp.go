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

package testsupport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// SMTP is a running SMTP server (mailpit) on 127.0.0.1 that accepts any
// mail (and any or no authentication, without TLS) and shows what arrived
// through its HTTP API.
type SMTP struct {
	// SMTPHost and SMTPPort are where to send mail.
	SMTPHost string
	SMTPPort int
	// APIURL is the base URL of mailpit's web UI and API.
	APIURL string
	// Dir holds mailpit's database and log.
	Dir string
	// LogPath is the server's log file.
	LogPath string

	http *http.Client
	// mu guards proc across Down and Up.
	mu       sync.Mutex
	proc     *process
	stopOnce sync.Once
	stopErr  error
}

// Address is a mail address with its display name.
type Address struct {
	Name    string
	Address string
}

// Message is a summary of a mail that arrived.
type Message struct {
	// ID is mailpit's id, for Message.
	ID string
	// MessageID is the Message-ID header, without angle brackets.
	MessageID string
	Subject   string
	From      Address
	To        []Address
	Cc        []Address
	// Created is when mailpit received it.
	Created time.Time
}

// MessageDetail is a whole mail: its summary, bodies and headers.
type MessageDetail struct {
	Message
	// Date is the mail's Date header (else when it was received).
	Date time.Time
	// Text and HTML are the plain-text and HTML bodies (decoded).
	Text string
	HTML string
	// Headers are all headers, by canonical name.
	Headers map[string][]string
}

// NewSMTP starts a mail server for a test and stops it when the test
// ends; it fails the test if it cannot start.
func NewSMTP(t testing.TB) *SMTP {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := StartSMTP(ctx)
	if err != nil {
		t.Fatalf("start the SMTP server: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("stop the SMTP server: %v", err)
		}
	})
	return srv
}

// StartSMTP starts mailpit on two free loopback ports (SMTP and HTTP) and
// waits until both answer. Call Stop when done.
func StartSMTP(ctx context.Context) (*SMTP, error) {
	dir, err := os.MkdirTemp("", "reportd-smtp-")
	if err != nil {
		return nil, fmt.Errorf("make the SMTP directory: %w", err)
	}
	srv := &SMTP{SMTPHost: "127.0.0.1", Dir: dir, LogPath: filepath.Join(dir, "server.log"),
		http: &http.Client{Timeout: 10 * time.Second}}
	for attempt := 1; ; attempt++ {
		offset := logSize(srv.LogPath)
		err = srv.run(ctx)
		if err == nil || attempt == startAttempts || !lostPort(srv.LogPath, offset) {
			break
		}
	}
	if err != nil {
		_ = srv.Stop()
		return nil, err
	}
	return srv, nil
}

// run starts mailpit on new free ports and waits until it is ready.
func (srv *SMTP) run(ctx context.Context) error {
	bin, err := serverBinary("mailpit", "test-servers")
	if err != nil {
		return err
	}
	httpPort, err := FreePort()
	if err != nil {
		return err
	}
	if srv.SMTPPort, err = FreePort(); err != nil {
		return err
	}
	srv.APIURL = "http://127.0.0.1:" + strconv.Itoa(httpPort)
	return srv.launch(ctx, bin)
}

// launch starts mailpit on the server's ports and its database, and waits
// until it is ready.
func (srv *SMTP) launch(ctx context.Context, bin string) error {
	smtpAddr := srv.SMTPAddr()
	cmd := exec.Command(bin, "--listen", strings.TrimPrefix(srv.APIURL, "http://"), "--smtp", smtpAddr,
		"--database", filepath.Join(srv.Dir, "mailpit.db"), "--max", "0",
		"--smtp-auth-accept-any", "--smtp-auth-allow-insecure", "--smtp-disable-rdns",
		"--disable-version-check", "--enable-chaos")
	// Nothing of ours is passed on, so no stray MP_* variable reconfigures it.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	cmd.Dir = srv.Dir
	var err error
	if srv.proc, err = startProcess("mailpit", cmd, syscall.SIGTERM, srv.LogPath); err != nil {
		return err
	}
	if err := srv.waitReady(ctx, smtpAddr); err != nil {
		srv.proc.kill()
		return fmt.Errorf("%w%s", err, logTail(srv.LogPath, 20))
	}
	return nil
}

// waitReady waits for the HTTP API's /readyz, then for the SMTP port.
func (srv *SMTP) waitReady(ctx context.Context, smtpAddr string) error {
	if err := waitHTTP(ctx, srv.proc, srv.APIURL+"/readyz", 30*time.Second); err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", smtpAddr, time.Second)
		if err == nil {
			return conn.Close()
		}
		if time.Now().After(deadline) || srv.proc.exited() {
			return fmt.Errorf("mailpit's SMTP port %s does not answer: %w", smtpAddr, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// SMTPAddr returns host:port of the SMTP server, as net/smtp wants it.
func (srv *SMTP) SMTPAddr() string {
	return net.JoinHostPort(srv.SMTPHost, strconv.Itoa(srv.SMTPPort))
}

// Messages returns every mail that arrived, newest first.
func (srv *SMTP) Messages(ctx context.Context) ([]Message, error) {
	var all []Message
	for {
		var page struct {
			Total    int       `json:"messages_count"`
			Messages []Message `json:"messages"`
		}
		query := url.Values{"start": {strconv.Itoa(len(all))}, "limit": {"250"}}
		if err := srv.call(ctx, http.MethodGet, "/api/v1/messages?"+query.Encode(), nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Messages...)
		if len(page.Messages) == 0 || len(all) >= page.Total {
			return all, nil
		}
	}
}

// WaitMessages polls until at least n mails have arrived and returns them
// (newest first), or fails when ctx ends.
func (srv *SMTP) WaitMessages(ctx context.Context, n int) ([]Message, error) {
	for {
		msgs, err := srv.Messages(ctx)
		if err == nil && len(msgs) >= n {
			return msgs, nil
		}
		select {
		case <-ctx.Done():
			return msgs, fmt.Errorf("waiting for %d mails, %d arrived: %w", n, len(msgs), errors.Join(ctx.Err(), err))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Message returns one mail with its bodies and headers.
func (srv *SMTP) Message(ctx context.Context, id string) (MessageDetail, error) {
	var detail MessageDetail
	path := "/api/v1/message/" + url.PathEscape(id)
	if err := srv.call(ctx, http.MethodGet, path, nil, &detail); err != nil {
		return detail, err
	}
	err := srv.call(ctx, http.MethodGet, path+"/headers", nil, &detail.Headers)
	return detail, err
}

// Clear deletes every mail.
func (srv *SMTP) Clear(ctx context.Context) error {
	return srv.call(ctx, http.MethodDelete, "/api/v1/messages", struct{}{}, nil)
}

// FailRecipients makes the SMTP server reject RCPT TO with the given code
// (400-599; 4xx are temporary) in percent of the cases, for tests of
// delivery retries; FailRecipients(ctx, 451, 0) turns it off.
func (srv *SMTP) FailRecipients(ctx context.Context, code, percent int) error {
	body := map[string]any{"Recipient": map[string]int{"ErrorCode": code, "Probability": percent}}
	return srv.call(ctx, http.MethodPut, "/api/v1/chaos", body, nil)
}

// call sends a JSON request to mailpit's API and decodes the answer into
// out (if not nil).
func (srv *SMTP) call(ctx context.Context, method, path string, body, out any) error {
	var reader io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, srv.APIURL+path, reader)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.http.Do(req)
	if err != nil {
		return fmt.Errorf("mailpit %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		text, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("mailpit %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(text))
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("mailpit %s %s: decode: %w", method, path, err)
	}
	return nil
}

// PID returns mailpit's process id.
func (srv *SMTP) PID() int {
	if srv.proc == nil {
		return 0
	}
	return srv.proc.pid()
}

// Down stops the server as an outage would (mail to it is refused) but
// keeps its ports and the mails that arrived, so Up can bring it back.
func (srv *SMTP) Down() error {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.proc == nil || srv.proc.exited() {
		return nil
	}
	return srv.proc.stop()
}

// Up starts the server again after Down, on the same ports and with the
// same mails, and waits until it answers.
func (srv *SMTP) Up(ctx context.Context) error {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.proc != nil && !srv.proc.exited() {
		return nil
	}
	bin, err := serverBinary("mailpit", "test-servers")
	if err != nil {
		return err
	}
	return srv.launch(ctx, bin)
}

// Stop stops mailpit (SIGTERM), waits until it has exited, and removes its
// directory. Calling it again does nothing.
func (srv *SMTP) Stop() error {
	srv.stopOnce.Do(func() {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		var errs []error
		if srv.proc != nil {
			errs = append(errs, srv.proc.stop())
		}
		errs = append(errs, os.RemoveAll(srv.Dir))
		srv.stopErr = errors.Join(errs...)
	})
	return srv.stopErr
}
