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
	"time"

	"reportd.io/reportd/api/v1alpha1"
)

// MaxCounted caps how many due runs are counted one by one. A clock off by
// years under a once-a-minute schedule would otherwise cost millions of
// steps; beyond the cap the count says "at least".
const MaxCounted = 10000

// Due describes the runs that fell due in a window (since, now].
type Due struct {
	// Latest is the most recent due run; zero when none is due.
	Latest time.Time
	// Count is how many runs fell due, Latest included, at most MaxCounted.
	Count int
	// Truncated is true when more than Count runs fell due.
	Truncated bool
	// Next is the first run after now; zero when there is none.
	Next time.Time
}

// DueRuns returns the runs in (since, now].
func (t *Timetable) DueRuns(since, now time.Time) Due {
	due := Due{Next: t.Next(now)}
	if !since.Before(now) {
		return due
	}
	latest := t.Prev(now)
	if latest.IsZero() || !latest.After(since) {
		return due
	}
	due.Latest = latest
	for at := t.Next(since); !at.IsZero() && !at.After(latest); at = t.Next(at) {
		if due.Count == MaxCounted {
			due.Truncated = true
			break
		}
		due.Count++
	}
	return due
}

// Action is what the controller does about the runs that are due.
type Action string

// Actions.
const (
	// ActionWait: nothing is due; wait for Due.Next.
	ActionWait Action = "Wait"
	// ActionRun: create the run for Decision.ScheduledTime.
	ActionRun Action = "Run"
	// ActionSkip: record Decision.ScheduledTime as handled without a run.
	ActionSkip Action = "Skip"
)

// SkipReason says why a due run was not started.
type SkipReason string

// Skip reasons.
const (
	// SkipSuspended: the schedule is suspended. Runs that fall due while it
	// is suspended are passed over, not caught up on resume.
	SkipSuspended SkipReason = "Suspended"
	// SkipDeadlineExceeded: the latest due run is older than
	// startingDeadlineSeconds.
	SkipDeadlineExceeded SkipReason = "StartingDeadlineExceeded"
	// SkipForbidden: concurrencyPolicy Forbid and a run is still active.
	SkipForbidden SkipReason = "ConcurrencyForbid"
)

// Situation is everything a decision about due runs depends on.
type Situation struct {
	// Due are the runs that fell due since the last one handled.
	Due Due
	// Now is the controller's clock.
	Now time.Time
	// StartingDeadline is spec.startingDeadlineSeconds; nil for none.
	StartingDeadline *time.Duration
	// Policy is spec.concurrencyPolicy; empty means Allow.
	Policy v1alpha1.ConcurrencyPolicy
	// Active is the number of the schedule's runs not yet finished.
	Active int
	// Suspended is spec.suspend.
	Suspended bool
}

// Decision is what to do about the due runs. Only the latest due run can
// start: older ones are missed, and a run is never started twice because
// the controller records ScheduledTime as handled whatever the action.
type Decision struct {
	// Action to take.
	Action Action
	// ScheduledTime is the run acted on (Due.Latest).
	ScheduledTime time.Time
	// Missed counts due runs that will never run: for ActionRun the older
	// ones, for ActionSkip all of them except when suspended (a paused
	// schedule misses nothing).
	Missed int
	// MissedAtLeast is true when Missed is a lower bound (Due.Truncated).
	MissedAtLeast bool
	// SkipReason says why, for ActionSkip.
	SkipReason SkipReason
	// ReplaceActive asks to delete the active runs first (Replace).
	ReplaceActive bool
}

// Decide applies suspend, the starting deadline and the concurrency policy,
// in that order, to the runs that are due.
func Decide(s Situation) Decision {
	if s.Due.Latest.IsZero() || s.Due.Count == 0 {
		return Decision{Action: ActionWait}
	}
	d := Decision{ScheduledTime: s.Due.Latest, MissedAtLeast: s.Due.Truncated}
	switch {
	case s.Suspended:
		d.Action, d.SkipReason = ActionSkip, SkipSuspended
	case s.StartingDeadline != nil && s.Now.Sub(s.Due.Latest) > *s.StartingDeadline:
		d.Action, d.SkipReason, d.Missed = ActionSkip, SkipDeadlineExceeded, s.Due.Count
	case s.Active > 0 && s.Policy == v1alpha1.ConcurrencyForbid:
		d.Action, d.SkipReason, d.Missed = ActionSkip, SkipForbidden, s.Due.Count
	default:
		d.Action, d.Missed = ActionRun, s.Due.Count-1
		d.ReplaceActive = s.Active > 0 && s.Policy == v1alpha1.ConcurrencyReplace
	}
	return d
}
