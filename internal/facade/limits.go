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
	"sync"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/apimachinery/pkg/types"
)

// Defaults of Limits.
const (
	DefaultMaxActive         = 10
	DefaultRequestsPerMinute = 300
)

// Limits guard the facade per user. Zero means the default; a negative
// value turns a limit off. The manager's queue guards the cluster.
type Limits struct {
	// MaxActive is how many pending or processing reports a user may have;
	// a create beyond it is answered 429.
	MaxActive int
	// RequestsPerMinute is each user's sustained request rate, with bursts
	// of the same size; beyond it every endpoint answers 429.
	RequestsPerMinute int
}

// withDefaults fills in zero values.
func (l Limits) withDefaults() Limits {
	if l.MaxActive == 0 {
		l.MaxActive = DefaultMaxActive
	}
	if l.RequestsPerMinute == 0 {
		l.RequestsPerMinute = DefaultRequestsPerMinute
	}
	return l
}

// idleLimiter is how long an unused limiter is kept; after a minute idle
// its bucket is full again, so forgetting it changes nothing.
const idleLimiter = 2 * time.Minute

// rateLimiter holds one token bucket per user.
type rateLimiter struct {
	perMinute int

	mu        sync.Mutex
	users     map[string]*userBucket
	lastSweep time.Time
}

// userBucket is one user's bucket and when it was last used.
type userBucket struct {
	limiter  *rate.Limiter
	lastUsed time.Time
}

// newRateLimiter returns a limiter; nil when perMinute is negative (off).
func newRateLimiter(perMinute int) *rateLimiter {
	if perMinute < 0 {
		return nil
	}
	return &rateLimiter{perMinute: perMinute, users: map[string]*userBucket{}}
}

// allow takes one request from user's bucket, or says how long to wait.
func (l *rateLimiter) allow(user string, now time.Time) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b := l.users[user]
	if b == nil {
		b = &userBucket{limiter: rate.NewLimiter(rate.Every(time.Minute/time.Duration(l.perMinute)), l.perMinute)}
		l.users[user] = b
	}
	b.lastUsed = now
	r := b.limiter.ReserveN(now, 1)
	if delay := r.DelayFrom(now); delay > 0 {
		r.CancelAt(now)
		return false, delay
	}
	return true, 0
}

// sweep forgets idle users' buckets, at most once per idleLimiter.
func (l *rateLimiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < idleLimiter {
		return
	}
	l.lastSweep = now
	for user, b := range l.users {
		if now.Sub(b.lastUsed) > idleLimiter {
			delete(l.users, user)
		}
	}
}

// recentGrace is how long a create made by this replica counts as active
// even though the cache has not shown it yet.
const recentGrace = time.Minute

// recentCreates remembers reports this replica created that its cache may
// not show yet, so a burst of creates cannot slip past MaxActive.
type recentCreates struct {
	mu    sync.Mutex
	users map[string]map[string]time.Time
}

// add records a create.
func (rc *recentCreates) add(user, name string, now time.Time) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.users == nil {
		rc.users = map[string]map[string]time.Time{}
	}
	if rc.users[user] == nil {
		rc.users[user] = map[string]time.Time{}
	}
	rc.users[user][name] = now
}

// unseen counts user's recent creates missing from cached (the names the
// cache shows), forgetting those it shows and those past the grace.
func (rc *recentCreates) unseen(user string, cached map[string]bool, now time.Time) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := 0
	for name, at := range rc.users[user] {
		if cached[name] || now.Sub(at) > recentGrace {
			delete(rc.users[user], name)
			continue
		}
		n++
	}
	if len(rc.users[user]) == 0 {
		delete(rc.users, user)
	}
	return n
}

// recentDeletes remembers reports this replica deleted until its cache
// shows them gone, so a read right after a DELETE does not show the
// report again (the cache lags the API server by a moment).
type recentDeletes struct {
	mu   sync.Mutex
	uids map[types.UID]time.Time
}

// add records a deletion.
func (rd *recentDeletes) add(uid types.UID, now time.Time) {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if rd.uids == nil {
		rd.uids = map[types.UID]time.Time{}
	}
	rd.uids[uid] = now
}

// has reports whether uid was deleted within the grace; older entries go.
func (rd *recentDeletes) has(uid types.UID, now time.Time) bool {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	for u, at := range rd.uids {
		if now.Sub(at) > recentGrace {
			delete(rd.uids, u)
		}
	}
	_, ok := rd.uids[uid]
	return ok
}
