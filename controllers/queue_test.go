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

package controllers

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/testsupport"
)

func TestAdmissions(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	// w is a waiting request: name, requester, seconds after t0.
	w := func(name, requester string, after int) waitingRequest {
		return waitingRequest{key: types.NamespacedName{Namespace: "reports", Name: name}, requester: requester, created: t0.Add(time.Duration(after) * time.Second)}
	}
	cases := map[string]struct {
		limits  Limits
		running occupancy
		waiting []waitingRequest
		// want is the verdict by name: "" admitted, else the reason.
		want map[string]string
	}{
		"no limits: everyone": {
			waiting: []waitingRequest{w("a", "alice", 0), w("b", "alice", 0)},
			want:    map[string]string{"a": "", "b": ""},
		},
		"manager-wide: first come, first served by creation time": {
			limits:  Limits{MaxRunningJobs: 3},
			running: occupancy{total: 1, byRequester: map[string]int{"carol": 1}},
			waiting: []waitingRequest{w("late", "bob", 9), w("first", "alice", 1), w("second", "bob", 2)},
			want:    map[string]string{"first": "", "second": "", "late": ReasonManagerLimit},
		},
		"same second: by name": {
			limits:  Limits{MaxRunningJobs: 1},
			waiting: []waitingRequest{w("zeta", "alice", 0), w("alpha", "bob", 0)},
			want:    map[string]string{"alpha": "", "zeta": ReasonManagerLimit},
		},
		"per requester: an earlier request of a busy requester does not block others": {
			limits:  Limits{MaxRunningJobs: 3, MaxRunningPerRequester: 2},
			running: occupancy{total: 1, byRequester: map[string]int{"alice": 1}},
			waiting: []waitingRequest{w("a2", "alice", 1), w("a3", "alice", 2), w("b1", "bob", 3), w("c1", "carol", 4)},
			want:    map[string]string{"a2": "", "a3": ReasonRequesterLimit, "b1": "", "c1": ReasonManagerLimit},
		},
		"full: everyone waits; held by both, the requester's own limit is named": {
			limits:  Limits{MaxRunningJobs: 2, MaxRunningPerRequester: 1},
			running: occupancy{total: 2, byRequester: map[string]int{"alice": 1, "bob": 1}},
			waiting: []waitingRequest{w("a", "alice", 1), w("c", "carol", 2)},
			want:    map[string]string{"a": ReasonRequesterLimit, "c": ReasonManagerLimit},
		},
		"per requester only": {
			limits:  Limits{MaxRunningPerRequester: 1},
			running: occupancy{total: 5, byRequester: map[string]int{"alice": 1}},
			waiting: []waitingRequest{w("a", "alice", 1), w("b", "bob", 2), w("b2", "bob", 3)},
			want:    map[string]string{"a": ReasonRequesterLimit, "b": "", "b2": ReasonRequesterLimit},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if tc.running.byRequester == nil {
				tc.running.byRequester = map[string]int{}
			}
			got := map[string]string{}
			for key, a := range admissions(tc.limits, tc.running, tc.waiting) {
				if a.admitted != (a.reason == "") {
					t.Errorf("%s: admitted %v with reason %q", key.Name, a.admitted, a.reason)
				}
				got[key.Name] = a.reason
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("verdicts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAdmissionsDoNotChangeTheRunningCounts(t *testing.T) {
	running := occupancy{total: 1, byRequester: map[string]int{"alice": 1}}
	admissions(Limits{MaxRunningJobs: 5}, running, []waitingRequest{{key: types.NamespacedName{Name: "a"}, requester: "alice"}})
	if running.total != 1 || running.byRequester["alice"] != 1 {
		t.Errorf("admissions changed its input: %+v", running)
	}
}

// queuedRequest is a request as the cache shows it before its first
// reconcile.
func queuedRequest(name, requester string, created time.Time) *v1alpha1.ReportRequest {
	return &v1alpha1.ReportRequest{
		ObjectMeta: metav1.ObjectMeta{Namespace: "reports", Name: name, UID: types.UID("uid-" + name), CreationTimestamp: metav1.NewTime(created)},
		Spec:       v1alpha1.ReportRequestSpec{Type: "sales", RequestedBy: requester},
	}
}

// reportJob is the Job of rr as the cache shows it once created.
func reportJob(rr *v1alpha1.ReportRequest) *batchv1.Job {
	job := buildJob(rr, &v1alpha1.ReportDefinition{}, JobSettings{}, DefaultDefaults())
	job.ResourceVersion = ""
	return job
}

// TestAdmitCountsItsOwnJobsBeforeTheCacheShowsThem reads a cache that lags:
// the Job of a request admitted a moment ago is not in it yet. The next
// request must still find the slot taken.
func TestAdmitCountsItsOwnJobsBeforeTheCacheShowsThem(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	a, b := queuedRequest("a", "alice", t0), queuedRequest("b", "bob", t0.Add(time.Second))
	cache := fake.NewClientBuilder().WithScheme(testsupport.Scheme()).WithObjects(a, b).
		WithStatusSubresource(&v1alpha1.ReportRequest{}, &batchv1.Job{}).Build()
	q := newAdmissionQueue(Limits{MaxRunningJobs: 1}, cache)
	admit := func(rr *v1alpha1.ReportRequest) admission {
		t.Helper()
		v, err := q.admit(ctx, rr, t0.Add(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	if !admit(a).admitted {
		t.Fatal("the first request was not admitted into an empty queue")
	}
	// The status naming a's Job reaches the cache before the Job itself
	// (two watches, no order between them).
	a.Status.Phase, a.Status.JobName = v1alpha1.PhasePending, JobName(a)
	if err := cache.Status().Update(ctx, a); err != nil {
		t.Fatal(err)
	}
	if v := admit(b); v.admitted || v.reason != ReasonManagerLimit {
		t.Fatalf("b: %+v; the cache does not show a's Job yet, but it runs", v)
	}
	if !admit(a).admitted {
		t.Error("a, admitted moments ago, was not admitted again (its create may be retried)")
	}

	jobA := reportJob(a)
	if err := cache.Create(ctx, jobA); err != nil {
		t.Fatal(err)
	}
	q.seen(jobA)
	if v := admit(b); v.admitted {
		t.Fatalf("b: %+v; a's Job runs, as the cache now shows", v)
	}
	jobA.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue}}
	if err := cache.Status().Update(ctx, jobA); err != nil {
		t.Fatal(err)
	}
	if v := admit(b); !v.admitted {
		t.Fatalf("b: %+v; a's Job finished", v)
	}
}

func TestAdmitReleasesAJobNotCreated(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	a, b := queuedRequest("a", "alice", t0), queuedRequest("b", "alice", t0.Add(time.Second))
	cache := fake.NewClientBuilder().WithScheme(testsupport.Scheme()).WithObjects(a, b).
		WithStatusSubresource(&v1alpha1.ReportRequest{}, &batchv1.Job{}).Build()
	q := newAdmissionQueue(Limits{MaxRunningPerRequester: 1}, cache)
	if v, err := q.admit(ctx, a, t0); err != nil || !v.admitted {
		t.Fatalf("a: %+v, %v", v, err)
	}
	if v, _ := q.admit(ctx, b, t0); v.admitted || v.reason != ReasonRequesterLimit {
		t.Fatalf("b: %+v; alice runs a", v)
	}
	q.release(a) // its Job could not be created
	if v, _ := q.admit(ctx, b, t0); v.admitted {
		t.Fatalf("b: %+v; a is still ahead of b in the queue", v)
	}
	a.Status.Phase = v1alpha1.PhaseFailed
	if err := cache.Status().Update(ctx, a); err != nil {
		t.Fatal(err)
	}
	if v, _ := q.admit(ctx, b, t0); !v.admitted {
		t.Fatalf("b: %+v; a failed, nothing runs", v)
	}
}
