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
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/generator/encode"
	"reportd.io/reportd/internal/params"
)

// failureReportTimeout bounds writing the error annotation, which must
// happen even when the run's own context has ended.
const failureReportTimeout = 10 * time.Second

// sqlStateQueryCanceled is PostgreSQL's code for a statement stopped by
// statement_timeout (or a cancel request).
const sqlStateQueryCanceled = "57014"

// classify turns what went wrong into an *Error with a message for the
// user and the decision whether a retry can help.
func (r *run) classify(ctx context.Context, p *plan, err error) *Error {
	var runErr *Error
	var upload *uploadFailed
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &runErr):
		return runErr
	case errors.Is(err, errTooManyRows):
		return permanent(err, "the report has more than %d rows (maxRows); narrow its parameters or raise the report type's maxRows", p.maxRows)
	case errors.Is(err, encode.ErrCellTooLong), errors.Is(err, encode.ErrTooManyColumns):
		return permanent(err, "the report cannot be written as %s: %v", p.format, err)
	case p.timeout > 0 && (errors.Is(ctx.Err(), context.DeadlineExceeded) ||
		errors.As(err, &pgErr) && pgErr.Code == sqlStateQueryCanceled):
		// A retry would run into the same deadline, which bounds the Job too.
		return permanent(err, "the report did not finish within its timeout of %s", p.timeout)
	case errors.Is(ctx.Err(), context.Canceled):
		return transient(err, "the generator was stopped before the report was finished")
	case errors.As(err, &upload):
		return transient(err, "could not store the report: %v", upload.err)
	case isConnectError(err) && IsPermanent(err):
		return permanent(err, "the database refused the connection: %v", describeDBError(err))
	case isConnectError(err):
		return transient(err, "could not reach the database: %v", err)
	case errors.Is(err, ErrNoColumns):
		return permanent(err, "%v", ErrNoColumns)
	case IsPermanent(err):
		return permanent(err, "the database refused the query: %v", describeDBError(err))
	default:
		return transient(err, "the report failed: %v", err)
	}
}

// describeDBError prefers PostgreSQL's own words ("ERROR: column "x" does
// not exist (SQLSTATE 42703)", and its hint) over the wrapping around them.
func describeDBError(err error) string {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err.Error()
	}
	if pgErr.Hint != "" {
		return pgErr.Error() + "; hint: " + pgErr.Hint
	}
	return pgErr.Error()
}

// isConnectError reports a failure to connect (refused, unknown host,
// authentication) as opposed to a failure of the query itself.
func isConnectError(err error) bool {
	var connectErr *pgconn.ConnectError
	return errors.As(err, &connectErr)
}

// Fail records why the generator could not start (no API client, no
// store): on the Job when cfg.Client is set, and in the termination log. It
// returns the failure as a transient *Error, since such trouble is usually
// passing, and a misconfiguration fails every retry quickly.
func Fail(ctx context.Context, cfg Config, what string, err error) error {
	cfg = cfg.withDefaults()
	r := &run{cfg: cfg, annotator: &jobAnnotator{
		client: cfg.Client, namespace: cfg.Namespace, job: cfg.JobName, attempt: cfg.PodName,
	}}
	runErr := transient(err, "%s: %v", what, err)
	r.reportFailure(ctx, runErr)
	return runErr
}

// reportFailure tells the manager and the user why the attempt failed:
// the Job's error annotation and the termination message. Both are best
// effort; the exit code alone still decides retry or not.
func (r *run) reportFailure(ctx context.Context, err error) {
	var runErr *Error
	if !errors.As(err, &runErr) {
		runErr = transient(err, "%v", err)
	}
	r.logFailure(runErr)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), failureReportTimeout)
	defer cancel()
	annotation := v1alpha1.EncodeAnnotation(v1alpha1.ErrorAnnotation{
		Attempt: r.cfg.PodName, Message: runErr.Message, Permanent: runErr.Permanent,
	})
	if r.cfg.JobName != "" && r.cfg.Client != nil {
		if err := r.annotator.patch(ctx, map[string]string{v1alpha1.AnnotationError: annotation}); err != nil {
			r.cfg.Log.Error(err, "Could not record the failure on the Job")
		}
	}
	if err := writeTerminationMessage(r.cfg.TerminationLog, runErr.Message); err != nil {
		r.cfg.Log.Error(err, "Could not write the termination message", "path", r.cfg.TerminationLog)
	}
}

// logFailure logs the failure. Messages about parameters quote their
// values, which may be personal data, so only the parameters' names are
// logged for them.
func (r *run) logFailure(e *Error) {
	var paramErrs params.Errors
	if errors.As(e, &paramErrs) {
		names := make([]string, 0, len(paramErrs))
		for _, pe := range paramErrs {
			names = append(names, pe.Parameter)
		}
		r.cfg.Log.Info("The request's parameters were rejected", "parameters", names, "permanent", true)
		return
	}
	r.cfg.Log.Error(e.Err, "Report failed", "reason", e.Message, "permanent", e.Permanent)
}
