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

package generator

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"unicode/utf8"

	"reportd.io/reportd/api/v1alpha1"
)

// Error is why a run failed: a message in words a user understands, and
// whether retrying can help. Run returns it; ExitCode maps it to the exit
// code the Job's podFailurePolicy reads.
type Error struct {
	// Message is shown to the user (status.errorMessage).
	Message string
	// Permanent is true when a retry cannot help (bad parameters, unknown
	// type, a query the database rejects, too many rows).
	Permanent bool
	// Err is the underlying error, for logs and errors.Is.
	Err error
}

// Error returns the user's message.
func (e *Error) Error() string { return e.Message }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// ExitCode is v1alpha1.ExitPermanent for a permanent failure and 1 for one
// a retry may cure.
func (e *Error) ExitCode() int {
	if e.Permanent {
		return v1alpha1.ExitPermanent
	}
	return 1
}

// ExitCode returns the process exit code for Run's result: 0 for nil, the
// Error's code, or 1 for any other error.
func ExitCode(err error) int {
	if err == nil {
		return v1alpha1.ExitOK
	}
	var runErr *Error
	if errors.As(err, &runErr) {
		return runErr.ExitCode()
	}
	return 1
}

// permanent makes a permanent Error.
func permanent(err error, format string, args ...any) *Error {
	return &Error{Message: fmt.Sprintf(format, args...), Permanent: true, Err: err}
}

// transient makes an Error a retry may cure.
func transient(err error, format string, args ...any) *Error {
	return &Error{Message: fmt.Sprintf(format, args...), Err: err}
}

// digestWriter counts and hashes what passes through it to w, so size and
// sha256 are known the moment the last byte is written, without reading
// the stored file back.
type digestWriter struct {
	w    io.Writer
	hash hash.Hash
	size int64
}

// newDigestWriter wraps w.
func newDigestWriter(w io.Writer) *digestWriter {
	return &digestWriter{w: w, hash: sha256.New()}
}

// Write implements io.Writer; only bytes w accepted are counted.
func (d *digestWriter) Write(p []byte) (int, error) {
	n, err := d.w.Write(p)
	d.hash.Write(p[:n])
	d.size += int64(n)
	return n, err
}

// sum is the hex sha256 of everything written.
func (d *digestWriter) sum() string { return hex.EncodeToString(d.hash.Sum(nil)) }

// maxTerminationMessage is what Kubernetes keeps of a termination message.
const maxTerminationMessage = 4096

// truncateMessage cuts msg to at most limit bytes on a UTF-8 boundary,
// marking the cut.
func truncateMessage(msg string, limit int) string {
	if len(msg) <= limit {
		return msg
	}
	const mark = " [...]"
	cut := limit - len(mark)
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + mark
}

// writeTerminationMessage writes msg where Kubernetes reads a container's
// termination message, so the reason reaches the pod's status even if the
// Job annotation could not be written. An empty path writes nothing.
func writeTerminationMessage(path, msg string) error {
	if path == "" {
		return nil
	}
	return os.WriteFile(path, []byte(truncateMessage(msg, maxTerminationMessage)), 0o644)
}
