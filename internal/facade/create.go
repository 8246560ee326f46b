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
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/auth"
)

// FieldOwner is the field manager of the facade's writes.
const FieldOwner = "reportd-facade"

// Bounds of a request, matching the CRD's so the facade answers first.
const (
	maxParameters     = 32
	maxParameterValue = 4096
	maxSharedWith     = 32
	maxIdentity       = 256
	maxEmail          = 254
	maxIdempotencyKey = 255
)

// createReport serves POST /api/v1/reports: it validates the request,
// creates the ReportRequest and answers 202 at once.
func (s *Server) createReport(w http.ResponseWriter, r *http.Request, u auth.User) error {
	rr, replayed, err := s.create(w, r, u)
	s.auditLog("create", u, reportName(rr), err, "replayed", replayed)
	if err != nil {
		return err
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	rep, err := s.render(r.Context(), rr)
	if err != nil {
		return err
	}
	w.Header().Set("Location", s.reportURL(rr.Name))
	writeJSON(w, http.StatusAccepted, rep)
	return nil
}

// create does the work of createReport. replayed is true when an
// Idempotency-Key named a report created before.
func (s *Server) create(w http.ResponseWriter, r *http.Request, u auth.User) (rr *v1alpha1.ReportRequest, replayed bool, err error) {
	key, err := idempotencyKey(r)
	if err != nil {
		return nil, false, err
	}
	body, err := s.decodeCreate(w, r)
	if err != nil {
		return nil, false, err
	}
	ctx := r.Context()
	if rr, err = s.buildRequest(ctx, u, body); err != nil {
		return nil, false, err
	}
	if key != "" {
		rr.Name = idempotentName(u.Name, key)
		if existing, err := s.fetch(ctx, rr.Name); err == nil {
			return s.replay(existing, rr)
		}
	}
	lock := s.userLock(u.Name)
	lock.Lock()
	defer lock.Unlock()
	if err := s.checkActive(ctx, u.Name); err != nil {
		return nil, false, err
	}
	return s.createObject(ctx, rr, key != "")
}

// createObject creates rr. A name collision is a replay with an
// Idempotency-Key (another replica won the race), else a new random name.
func (s *Server) createObject(ctx context.Context, rr *v1alpha1.ReportRequest, idempotent bool) (*v1alpha1.ReportRequest, bool, error) {
	for attempt := 0; ; attempt++ {
		if !idempotent {
			rr.Name = randomName(rr.Spec.Type)
		}
		err := s.client.Create(ctx, rr, client.FieldOwner(FieldOwner))
		switch {
		case err == nil:
			s.recent.add(rr.Spec.RequestedBy, rr.Name, s.now())
			return rr, false, nil
		case apierrors.IsAlreadyExists(err) && idempotent:
			existing := &v1alpha1.ReportRequest{}
			if err := s.live.Get(ctx, client.ObjectKeyFromObject(rr), existing); err != nil {
				return nil, false, fmt.Errorf("reading the report of an Idempotency-Key: %w", err)
			}
			return s.replay(existing, rr)
		case apierrors.IsAlreadyExists(err) && attempt < 2:
			continue
		case apierrors.IsInvalid(err):
			return nil, false, fromInvalid(err)
		default:
			return nil, false, fmt.Errorf("creating a ReportRequest: %w", err)
		}
	}
}

// replay answers a retried create: the existing report when it is the
// same request by the same user, else a conflict.
func (s *Server) replay(existing, want *v1alpha1.ReportRequest) (*v1alpha1.ReportRequest, bool, error) {
	switch {
	case existing.Spec.RequestedBy != want.Spec.RequestedBy:
		return nil, false, fieldError(http.StatusConflict, "Idempotency-Key", "conflicts with another user's report; use a new key")
	case existing.DeletionTimestamp != nil:
		return nil, false, fieldError(http.StatusConflict, "Idempotency-Key", "the report created with this key is being deleted; use a new key")
	case !sameRequest(existing, want):
		return nil, false, fieldError(http.StatusUnprocessableEntity, "Idempotency-Key", "was already used for a different request; use a new key")
	}
	return existing, true, nil
}

// sameRequest compares what the user asked for.
func sameRequest(a, b *v1alpha1.ReportRequest) bool {
	return a.Spec.Type == b.Spec.Type && formatOf(a) == formatOf(b) &&
		a.Spec.TimeZone == b.Spec.TimeZone &&
		maps.Equal(a.Spec.Parameters, b.Spec.Parameters) &&
		slices.Equal(sortedCopy(a.Spec.SharedWith), sortedCopy(b.Spec.SharedWith))
}

// sortedCopy returns a sorted copy.
func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// idempotentName derives a ReportRequest name from the user and the key:
// the same on every replica and after restarts, so the API server's
// AlreadyExists finds a retry. The type is left out on purpose: the same
// key with another type must conflict, not create a second report.
func idempotentName(user, key string) string {
	sum := sha256.Sum256([]byte(user + "\x00" + key))
	enc := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:])
	return "req-" + strings.ToLower(enc[:32])
}

// randomName names a request "<type>-<random>".
func randomName(reportType string) string {
	prefix := reportType
	if len(prefix) > 40 {
		prefix = strings.TrimRight(prefix[:40], "-.")
	}
	return prefix + "-" + utilrand.String(10)
}

// idempotencyKey reads the optional Idempotency-Key header.
func idempotencyKey(r *http.Request) (string, error) {
	values := r.Header.Values("Idempotency-Key")
	if len(values) == 0 {
		return "", nil
	}
	key := strings.TrimSpace(values[0])
	if len(values) > 1 || key == "" || len(key) > maxIdempotencyKey || strings.IndexFunc(key, notPrintableASCII) >= 0 {
		return "", fieldError(http.StatusBadRequest, "Idempotency-Key",
			fmt.Sprintf("must be one value of 1 to %d printable ASCII characters", maxIdempotencyKey))
	}
	return key, nil
}

// notPrintableASCII reports characters outside printable ASCII.
func notPrintableASCII(c rune) bool { return c < 0x20 || c > 0x7e }

// decodeCreate reads the body strictly: JSON only, bounded, UTF-8, one
// object, no unknown fields, no field given twice.
func (s *Server) decodeCreate(w http.ResponseWriter, r *http.Request) (*CreateRequest, error) {
	if err := requireJSON(r); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, fieldError(http.StatusRequestEntityTooLarge, "body", fmt.Sprintf("must be at most %d bytes", tooLarge.Limit))
		}
		return nil, fmt.Errorf("reading the request body: %w", err)
	}
	// encoding/json would replace invalid UTF-8 with U+FFFD and so change
	// a parameter value behind the user's back; JSON must be UTF-8 anyway.
	if !utf8.Valid(data) {
		return nil, fieldError(http.StatusBadRequest, "body", "is not valid UTF-8")
	}
	// Syntax first (and one value only), then names, then types.
	dec := json.NewDecoder(bytes.NewReader(data))
	var value json.RawMessage
	if err := dec.Decode(&value); err != nil {
		return nil, decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fieldError(http.StatusBadRequest, "body", "must hold exactly one JSON object")
	}
	// encoding/json matches names ignoring case, and would then name the
	// struct's field in an error, not what the user wrote.
	if err := checkNames(value); err != nil {
		return nil, err
	}
	strict := json.NewDecoder(bytes.NewReader(value))
	strict.DisallowUnknownFields()
	var body CreateRequest
	if err := strict.Decode(&body); err != nil {
		return nil, decodeError(err)
	}
	return &body, nil
}

// createFields are the JSON names of CreateRequest's fields.
var createFields = func() map[string]bool {
	names := map[string]bool{}
	t := reflect.TypeFor[CreateRequest]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		names[name] = true
	}
	return names
}()

// checkNames walks one syntactically valid JSON value and refuses what
// encoding/json would let through: a top level that is not an object
// (null), a name that matches a field only when case is ignored, and a
// name given twice, at the top or among the parameters (encoding/json
// keeps the last; a proxy or a log reader may take the first). It also
// refuses unknown names.
func checkNames(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return decodeError(err)
	}
	if tok != json.Delim('{') {
		return fieldError(http.StatusBadRequest, "body", "must be a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		name, err := nextName(dec)
		if err != nil {
			return err
		}
		switch {
		case name == "":
			return fieldError(http.StatusBadRequest, "body", "has a member with an empty name, which is not a known field")
		case !createFields[name]:
			return unknownField(name)
		case seen[name]:
			return fieldError(http.StatusBadRequest, name, "is given twice")
		}
		seen[name] = true
		if name == "parameters" {
			err = checkParameterNames(dec)
		} else {
			err = skipValue(dec)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// unknownField refuses a name the request does not have, with a hint when
// it differs from one only in case.
func unknownField(name string) error {
	for known := range createFields {
		if strings.EqualFold(known, name) {
			return fieldError(http.StatusBadRequest, name, fmt.Sprintf("is not a known field (names are case-sensitive: %s)", known))
		}
	}
	return fieldError(http.StatusBadRequest, name, "is not a known field")
}

// checkParameterNames reads the parameters object (or null) and refuses a
// parameter given twice.
func checkParameterNames(dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return decodeErrorOrNil(err)
	}
	switch tok {
	case nil:
		return nil // null: no parameters
	case json.Delim('{'):
	default:
		return fieldError(http.StatusBadRequest, "parameters", "must be a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		name, err := nextName(dec)
		if err != nil {
			return err
		}
		if seen[name] {
			return fieldError(http.StatusBadRequest, "parameters."+name, "is given twice")
		}
		seen[name] = true
		if err := skipValue(dec); err != nil {
			return err
		}
	}
	_, err = dec.Token() // the closing brace
	return decodeErrorOrNil(err)
}

// nextName reads an object member's name.
func nextName(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", decodeErrorOrNil(err)
	}
	name, ok := tok.(string)
	if !ok {
		return "", fieldError(http.StatusBadRequest, "body", "is not valid JSON")
	}
	return name, nil
}

// skipValue reads past one value.
func skipValue(dec *json.Decoder) error {
	var raw json.RawMessage
	return decodeErrorOrNil(dec.Decode(&raw))
}

// decodeErrorOrNil is decodeError for a possibly nil error met inside an
// object, where the end of the input means it ends too early.
func decodeErrorOrNil(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.EOF):
		return decodeError(io.ErrUnexpectedEOF)
	}
	return decodeError(err)
}

// requireJSON answers 415 unless the body is declared as JSON.
func requireJSON(r *http.Request) error {
	mediaType, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	charset := strings.ToLower(params["charset"])
	if err != nil || mediaType != "application/json" || (charset != "" && charset != "utf-8") {
		return fieldError(http.StatusUnsupportedMediaType, "Content-Type", "must be application/json")
	}
	return nil
}

// decodeError turns a JSON decoding error into a 400 naming the field.
func decodeError(err error) error {
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return fieldError(http.StatusBadRequest, "body", "is empty; send a JSON object")
	case errors.As(err, &syntax) && strings.Contains(syntax.Error(), "max depth"):
		// encoding/json stops at 10,000 levels of nesting; no request needs 3.
		return fieldError(http.StatusBadRequest, "body", fmt.Sprintf("is nested too deeply (at byte %d)", syntax.Offset))
	case errors.As(err, &syntax):
		return fieldError(http.StatusBadRequest, "body", fmt.Sprintf("is not valid JSON (at byte %d)", syntax.Offset))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fieldError(http.StatusBadRequest, "body", "is not valid JSON (it ends too early)")
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return fieldError(http.StatusBadRequest, "body", "must be a JSON object")
		}
		return fieldError(http.StatusBadRequest, typeErr.Field, "must be a JSON "+jsonKind(typeErr.Type.Kind().String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json quotes the name with %q.
		name, unquoteErr := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		if unquoteErr != nil || name == "" {
			return fieldError(http.StatusBadRequest, "body", "has a member whose name is not a known field")
		}
		return fieldError(http.StatusBadRequest, name, "is not a known field")
	default:
		return fieldError(http.StatusBadRequest, "body", "is not a valid request")
	}
}

// jsonKind names a Go kind the way a JSON user would.
func jsonKind(kind string) string {
	switch kind {
	case "slice":
		return "array"
	case "map", "struct":
		return "object"
	default:
		return kind
	}
}

// buildRequest validates the body against its definition and returns the
// ReportRequest to create (without a name). Every problem is listed.
func (s *Server) buildRequest(ctx context.Context, u auth.User, body *CreateRequest) (*v1alpha1.ReportRequest, error) {
	values, badValues := parameterValues(body.Parameters)
	if len(badValues) > 0 {
		return nil, invalid(http.StatusBadRequest, badValues)
	}
	var problems []FieldError
	def, typeProblem, err := s.definition(ctx, body.ReportType)
	if err != nil {
		return nil, err
	}
	if typeProblem != nil {
		problems = append(problems, *typeProblem)
	}
	format, formatProblem := checkFormat(body.Format, def)
	if formatProblem != nil {
		problems = append(problems, *formatProblem)
	}
	shared, sharedProblems := checkSharedWith(body.SharedWith, u.Name)
	problems = append(problems, sharedProblems...)
	boundsProblems := checkParameterBounds(values)
	problems = append(problems, boundsProblems...)
	if def != nil && len(boundsProblems) == 0 {
		problems = append(problems, bindProblems(&def.Spec, values, body.TimeZone)...)
	}
	if len(problems) > 0 {
		return nil, invalid(http.StatusUnprocessableEntity, problems)
	}
	rr := &v1alpha1.ReportRequest{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.ns},
		Spec: v1alpha1.ReportRequestSpec{
			Type: body.ReportType, Parameters: values, Format: format,
			RequestedBy: u.Name, SharedWith: shared, TimeZone: body.TimeZone,
		},
	}
	if u.Email != "" && len(u.Email) <= maxEmail {
		rr.Spec.Notify = &v1alpha1.NotifySpec{Email: []string{u.Email}}
	}
	return rr, nil
}

// parameterValues turns JSON scalars into the request's string values:
// strings as they are, numbers as written, booleans as true or false.
func parameterValues(raw map[string]json.RawMessage) (map[string]v1alpha1.ParameterValue, []FieldError) {
	if len(raw) == 0 {
		return nil, nil
	}
	values := make(map[string]v1alpha1.ParameterValue, len(raw))
	var problems []FieldError
	for _, name := range slices.Sorted(maps.Keys(raw)) {
		v, ok := scalarText(raw[name])
		if !ok {
			problems = append(problems, FieldError{Field: "parameters." + name, Message: "must be a string, number or boolean"})
			continue
		}
		values[name] = v1alpha1.ParameterValue(v)
	}
	return values, problems
}

// scalarText renders a JSON scalar as text.
func scalarText(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", false
	}
	switch c := raw[0]; {
	case c == '"':
		var s string
		return s, json.Unmarshal(raw, &s) == nil
	case c == '-' || (c >= '0' && c <= '9'):
		return string(raw), true
	case bytes.Equal(raw, []byte("true")), bytes.Equal(raw, []byte("false")):
		return string(raw), true
	default:
		return "", false
	}
}

// checkParameterBounds applies the CRD's bounds on parameters.
func checkParameterBounds(values map[string]v1alpha1.ParameterValue) []FieldError {
	if len(values) > maxParameters {
		return []FieldError{{Field: "parameters", Message: fmt.Sprintf("must have at most %d entries", maxParameters)}}
	}
	var problems []FieldError
	for _, name := range slices.Sorted(maps.Keys(values)) {
		if len(values[name]) > maxParameterValue {
			problems = append(problems, FieldError{Field: "parameters." + name, Message: fmt.Sprintf("must be at most %d bytes", maxParameterValue)})
		}
	}
	return problems
}

// checkFormat defaults the format to csv and checks it is known and
// offered by the definition (all formats when it lists none).
func checkFormat(format string, def *v1alpha1.ReportDefinition) (v1alpha1.ReportFormat, *FieldError) {
	if format == "" {
		format = string(v1alpha1.FormatCSV)
	}
	f := v1alpha1.ReportFormat(format)
	if !slices.Contains(allFormats, f) {
		return "", &FieldError{Field: "format", Message: fmt.Sprintf("unknown format %q; use one of %s", format, joinFormats(allFormats))}
	}
	if def != nil && len(def.Spec.Formats) > 0 && !slices.Contains(def.Spec.Formats, f) {
		return "", &FieldError{Field: "format", Message: fmt.Sprintf("report type %q is offered as %s only", def.Name, joinFormats(def.Spec.Formats))}
	}
	return f, nil
}

// allFormats are the formats reportd writes.
var allFormats = []v1alpha1.ReportFormat{v1alpha1.FormatCSV, v1alpha1.FormatCSVGz, v1alpha1.FormatJSONL, v1alpha1.FormatXLSX}

// joinFormats lists formats for a message.
func joinFormats(fs []v1alpha1.ReportFormat) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = string(f)
	}
	return strings.Join(s, ", ")
}

// checkSharedWith checks the identities to share with, dropping repeats
// and the owner (who always sees the report).
func checkSharedWith(ids []string, owner string) ([]string, []FieldError) {
	if len(ids) > maxSharedWith {
		return nil, []FieldError{{Field: "sharedWith", Message: fmt.Sprintf("must list at most %d identities", maxSharedWith)}}
	}
	var out []string
	var problems []FieldError
	for i, id := range ids {
		id = strings.TrimSpace(id)
		switch {
		case id == "" || len(id) > maxIdentity:
			problems = append(problems, FieldError{Field: fmt.Sprintf("sharedWith[%d]", i), Message: fmt.Sprintf("must be an identity of 1 to %d characters", maxIdentity)})
		case id != owner && !slices.Contains(out, id):
			out = append(out, id)
		}
	}
	return out, problems
}

// Waits suggested by Retry-After when the active limit is reached.
const (
	defaultActiveWait = 30 * time.Second
	maxActiveWait     = 5 * time.Minute
)

// checkActive answers 429 when user has MaxActive pending or processing
// reports: those the cache shows plus those this replica created that the
// cache does not show yet. Retry-After is the soonest estimated completion.
func (s *Server) checkActive(ctx context.Context, user string) error {
	if s.limits.MaxActive < 0 {
		return nil
	}
	var list v1alpha1.ReportRequestList
	if err := s.client.List(ctx, &list, client.InNamespace(s.ns), client.MatchingFields{IndexRequestedBy: user}); err != nil {
		return fmt.Errorf("counting active reports: %w", err)
	}
	now := s.now()
	names := make(map[string]bool, len(list.Items))
	active := 0
	var soonest time.Time
	for i := range list.Items {
		rr := &list.Items[i]
		names[rr.Name] = true
		if rr.DeletionTimestamp != nil || rr.Status.Phase.IsTerminal() {
			continue
		}
		active++
		if eta := rr.Status.EstimatedCompletion; eta != nil && (soonest.IsZero() || eta.Time.Before(soonest)) {
			soonest = eta.Time
		}
	}
	active += s.recent.unseen(user, names, now)
	if active < s.limits.MaxActive {
		return nil
	}
	wait := defaultActiveWait
	if !soonest.IsZero() {
		wait = min(max(soonest.Sub(now), time.Second), maxActiveWait)
	}
	s.metrics.rateLimited.WithLabelValues("active").Inc()
	return tooMany(wait, "you have %d active reports, the most allowed; wait for one to finish or delete one", active)
}

// userLock serializes the limit check and the create of one user on this
// replica, so two simultaneous creates cannot both pass the check.
func (s *Server) userLock(user string) *sync.Mutex {
	h := fnv.New32a()
	_, _ = h.Write([]byte(user))
	return &s.userLocks[h.Sum32()%uint32(len(s.userLocks))]
}
