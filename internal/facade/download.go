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

package facade

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/auth"
	"reportd.io/reportd/internal/storage"
)

// download serves GET /api/v1/reports/{id}/download: a redirect to a fresh
// presigned link (S3), the file itself (file storage), or with
// ?redirect=false the link as JSON for scripts and the web page.
func (s *Server) download(w http.ResponseWriter, r *http.Request, u auth.User) error {
	id, err := reportID(r)
	if err != nil {
		return err
	}
	mode, err := s.serveDownload(w, r, u.Name, id)
	s.auditLog("download", u, id, err, "mode", mode)
	return err
}

// serveDownload answers a download and says how ("redirect", "link" or
// "stream").
func (s *Server) serveDownload(w http.ResponseWriter, r *http.Request, user, id string) (string, error) {
	redirect, err := redirectParam(r)
	if err != nil {
		return "", err
	}
	rr, err := s.lookup(r.Context(), user, id)
	if err != nil {
		return "", err
	}
	key, err := s.resultKey(rr)
	if err != nil {
		return "", err
	}
	name := downloadName(rr)
	expires := s.now().Add(s.opts.PresignTTL)
	link, err := s.opts.Store.PresignGet(r.Context(), key, s.opts.PresignTTL, name)
	switch {
	case errors.Is(err, storage.ErrPresignUnsupported) && redirect:
		return "stream", s.streamFile(w, r, rr, key)
	case errors.Is(err, storage.ErrPresignUnsupported):
		link = s.signedLink(rr, expires)
	case err != nil:
		return "", fmt.Errorf("presigning the download of %s: %w", id, err)
	}
	// The link is a credential for a few minutes: never cached.
	w.Header().Set("Cache-Control", "no-store")
	if !redirect {
		writeJSON(w, http.StatusOK, DownloadLink{URL: link, ExpiresAt: expires.UTC().Truncate(time.Second), Filename: name})
		return "link", nil
	}
	http.Redirect(w, r, link, http.StatusFound)
	return "redirect", nil
}

// redirectParam reads ?redirect= (default true).
func redirectParam(r *http.Request) (bool, error) {
	switch r.URL.Query().Get("redirect") {
	case "", "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	default:
		return false, fieldError(http.StatusBadRequest, "redirect", "must be true or false")
	}
}

// resultKey is the object key of a completed report, computed, not taken
// from the status: any writer of the status could point it elsewhere. A
// recorded URL that disagrees is refused.
func (s *Server) resultKey(rr *v1alpha1.ReportRequest) (string, error) {
	if rr.Status.Phase != v1alpha1.PhaseCompleted || rr.Status.Result == nil {
		return "", &apiError{status: http.StatusConflict, body: ErrorBody{
			Error:  fmt.Sprintf("report %q is not completed yet", rr.Name),
			Status: statusOf(rr.Status.Phase),
		}}
	}
	key := storage.ReportKey(rr.Namespace, rr.Name, rr.UID, formatOf(rr))
	if got, want := rr.Status.Result.URL, s.opts.Store.URI(key); got != want {
		return "", fmt.Errorf("report %s: the recorded result URL is not the report's own key %s", rr.Name, key)
	}
	return key, nil
}

// downloadName names the file after its type and day, e.g.
// sales-2026-11-29.csv (the day it completed, UTC).
func downloadName(rr *v1alpha1.ReportRequest) string {
	day := rr.CreationTimestamp.Time
	if rr.Status.CompletedAt != nil {
		day = rr.Status.CompletedAt.Time
	}
	return rr.Spec.Type + "-" + day.UTC().Format(time.DateOnly) + "." + string(formatOf(rr))
}

// streamFile sends a stored file (file storage). Seekable files go through
// http.ServeContent, which adds ranges and conditional requests.
func (s *Server) streamFile(w http.ResponseWriter, r *http.Request, rr *v1alpha1.ReportRequest, key string) error {
	body, info, err := s.opts.Store.Open(r.Context(), key)
	if errors.Is(err, storage.ErrNotFound) {
		return errorf(http.StatusGone, "the file of report %q is no longer stored", rr.Name)
	}
	if err != nil {
		return fmt.Errorf("opening the file of %s: %w", rr.Name, err)
	}
	defer func() { _ = body.Close() }()
	// A large file may take longer than the server's write timeout.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", contentType(rr, info))
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": downloadName(rr)}))
	h.Set("Cache-Control", "private, no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if seeker, ok := body.(io.ReadSeeker); ok {
		http.ServeContent(w, r, "", info.LastModified, seeker)
		return nil
	}
	h.Set("Content-Length", strconv.FormatInt(info.Size, 10))
	_, _ = io.Copy(w, body)
	return nil
}

// contentType prefers what the manager recorded, then what the store says.
func contentType(rr *v1alpha1.ReportRequest, info storage.ObjectInfo) string {
	switch {
	case rr.Status.Result != nil && rr.Status.Result.ContentType != "":
		return rr.Status.Result.ContentType
	case info.ContentType != "":
		return info.ContentType
	default:
		return "application/octet-stream"
	}
}

// signedLink is the facade's own short-lived download link, for stores
// that cannot presign: the browser cannot send the bearer token when it
// follows a link, so the link carries its own proof. It is bound to the
// report's UID, so a new report of the same name does not inherit it.
func (s *Server) signedLink(rr *v1alpha1.ReportRequest, expires time.Time) string {
	exp := strconv.FormatInt(expires.Unix(), 10)
	q := url.Values{"expires": {exp}, "signature": {s.sign(rr, exp)}}
	return s.reportURL(rr.Name) + "/file?" + q.Encode()
}

// sign computes a link's signature.
func (s *Server) sign(rr *v1alpha1.ReportRequest, expires string) string {
	mac := hmac.New(sha256.New, s.linkKey)
	_, _ = io.WriteString(mac, rr.Namespace+"\n"+rr.Name+"\n"+string(rr.UID)+"\n"+expires)
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// signedFile serves GET /api/v1/reports/{id}/file, a signed link.
func (s *Server) signedFile(w http.ResponseWriter, r *http.Request) error {
	id, err := reportID(r)
	if err != nil {
		return err
	}
	err = s.serveSigned(r.Context(), w, r, id)
	s.auditLog("download", auth.User{Method: "signed-link"}, id, err, "mode", "stream")
	return err
}

// serveSigned checks a signed link and streams the file.
func (s *Server) serveSigned(ctx context.Context, w http.ResponseWriter, r *http.Request, id string) error {
	q := r.URL.Query()
	exp, err := strconv.ParseInt(q.Get("expires"), 10, 64)
	if err != nil {
		return fieldError(http.StatusBadRequest, "expires", "must be a Unix time")
	}
	if s.now().Unix() > exp {
		return errorf(http.StatusForbidden, "the download link has expired; ask for a new one")
	}
	// A link for a report that does not exist is answered like a forged
	// one, so links cannot probe for report names.
	invalidLink := errorf(http.StatusForbidden, "the download link is not valid")
	rr, err := s.fetch(ctx, id)
	var apiErr *apiError
	if errors.As(err, &apiErr) {
		return invalidLink
	}
	if err != nil {
		return err
	}
	if !hmac.Equal([]byte(q.Get("signature")), []byte(s.sign(rr, q.Get("expires")))) {
		return invalidLink
	}
	if rr.DeletionTimestamp != nil {
		return notFound(id)
	}
	key, err := s.resultKey(rr)
	if err != nil {
		return err
	}
	return s.streamFile(w, r, rr, key)
}
