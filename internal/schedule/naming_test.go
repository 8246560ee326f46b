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
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestRunName(t *testing.T) {
	berlin, _ := LoadZone("Europe/Berlin")
	monday := time.Date(2026, 3, 2, 7, 0, 0, 0, berlin)
	long := strings.Repeat("quarterly-revenue-by-region-", 4) + "x"
	tests := map[string]struct {
		got        string
		want       string // exact, or a prefix when wantPrefix
		wantPrefix bool
	}{
		"scheduled time in UTC to the minute": {
			got: RunName("weekly-sales", monday), want: "weekly-sales-202603020600",
		},
		"the same instant in another zone names the same run": {
			got: RunName("weekly-sales", monday.UTC()), want: "weekly-sales-202603020600",
		},
		"run now": {
			got: RunNowName("weekly-sales", "2026-03-02T10:00:00Z"), want: "weekly-sales-now-", wantPrefix: true,
		},
		"a long schedule name is shortened with a hash": {
			got: RunName(long, monday), want: long[:38], wantPrefix: true,
		},
		"dots are not allowed in a DNS label": {
			got: RunName("sales.eu", monday), want: "sales-eu-", wantPrefix: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if errs := validation.IsDNS1123Label(tc.got); len(errs) > 0 {
				t.Errorf("%q is not a DNS label: %v", tc.got, errs)
			}
			if tc.wantPrefix && !strings.HasPrefix(tc.got, tc.want) || !tc.wantPrefix && tc.got != tc.want {
				t.Errorf("name = %q, want %q (prefix: %v)", tc.got, tc.want, tc.wantPrefix)
			}
		})
	}
}

func TestNamesAreDistinct(t *testing.T) {
	at := time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC)
	long := strings.Repeat("a", 100)
	names := []string{
		RunName("weekly-sales", at),
		RunName("weekly-sales", at.Add(time.Minute)),
		RunName("weekly-sales-2", at),
		RunName("sales.eu", at),
		RunName("sales-eu", at),
		RunName(long, at),
		RunName(long+"b", at),
		RunNowName("weekly-sales", "a"),
		RunNowName("weekly-sales", "b"),
	}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			t.Errorf("name %q produced twice", n)
		}
		seen[n] = true
		if len(n) > validation.DNS1123LabelMaxLength {
			t.Errorf("name %q has %d characters", n, len(n))
		}
	}
}

func TestLabelValue(t *testing.T) {
	if got := LabelValue("weekly-sales"); got != "weekly-sales" {
		t.Errorf("LabelValue = %q", got)
	}
	if got := LabelValue("sales.eu"); got != "sales.eu" {
		t.Errorf("LabelValue(sales.eu) = %q, dots are fine in label values", got)
	}
	long := strings.Repeat("b", 200)
	got := LabelValue(long)
	if errs := validation.IsValidLabelValue(got); len(errs) > 0 || got == LabelValue(long+"c") {
		t.Errorf("LabelValue(long) = %q: %v", got, errs)
	}
}
