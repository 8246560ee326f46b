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

package schedule

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"reportd.io/reportd/api/v1alpha1"
)

// AnnotationScheduledTime on a child ReportRequest holds its scheduled time
// (RFC 3339, UTC); history limits order finished runs by it.
const AnnotationScheduledTime = v1alpha1.Domain + "/scheduled-time"

// AnnotationRunNowToken on a child ReportRequest holds the run-now token
// that created it.
const AnnotationRunNowToken = v1alpha1.Domain + "/run-now-token"

// nameTimeLayout is the scheduled time in child names: UTC to the minute.
const nameTimeLayout = "200601021504"

// hashLength is the number of hex digits of the hashes in names.
const hashLength = 10

// RunName is the name of the ReportRequest for the run of schedule at the
// scheduled time: the same for the same run, so a restart can never create
// it twice. Example: weekly-sales-202603020600 (06:00 UTC, 07:00 in Berlin).
func RunName(schedule string, scheduled time.Time) string {
	return childName(schedule, scheduled.UTC().Format(nameTimeLayout))
}

// RunNowName is the name of the ReportRequest for a run-now token, e.g.
// weekly-sales-now-3f9a0c2b1d.
func RunNowName(schedule, token string) string {
	return childName(schedule, "now-"+shortHash(token))
}

// childName joins schedule and suffix into a DNS label (at most 63
// characters, so the name also fits label values and the names derived from
// it). A schedule name that is too long or not a DNS label (it has dots) is
// shortened and made unique with a hash of the whole name.
func childName(schedule, suffix string) string {
	if plain := schedule + "-" + suffix; len(validation.IsDNS1123Label(plain)) == 0 {
		return plain
	}
	return shorten(schedule, validation.DNS1123LabelMaxLength-len(suffix)-1) + "-" + suffix
}

// LabelValue is the value of the LabelSchedule label on a schedule's
// children: the schedule's name, or a shortened unique form when the name is
// longer than a label value may be.
func LabelValue(schedule string) string {
	if len(validation.IsValidLabelValue(schedule)) == 0 {
		return schedule
	}
	return shorten(schedule, validation.LabelValueMaxLength)
}

// shorten returns a DNS label of at most limit characters: as much of name as
// fits, then a hash of all of name.
func shorten(name string, limit int) string {
	hash := shortHash(name)
	room := limit - len(hash) - 1
	prefix := strings.ReplaceAll(name, ".", "-")
	if len(prefix) > room {
		prefix = prefix[:room]
	}
	prefix = strings.TrimRight(prefix, "-")
	if prefix == "" {
		return hash
	}
	return prefix + "-" + hash
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:hashLength]
}
