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
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"reportd.io/reportd/api/v1alpha1"
)

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := LoadZone(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestRenderFunctions(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	havana := zone(t, "America/Havana")
	monday := time.Date(2026, 3, 2, 7, 0, 0, 0, berlin)
	tests := map[string]struct {
		text string
		at   time.Time
		want string
	}{
		"plain text stays":                   {"EMEA", monday, "EMEA"},
		"the scheduled date":                 {`{{ .ScheduledTime | date "2006-01-02" }}`, monday, "2026-03-02"},
		"the scheduled time with its offset": {`{{ .ScheduledTime | date "2006-01-02T15:04:05Z07:00" }}`, monday, "2026-03-02T07:00:00+01:00"},
		"Monday of the previous week":        {`{{ startOfWeek .ScheduledTime | addDays -7 | date "2006-01-02" }}`, monday, "2026-02-23"},
		"Sunday of the previous week":        {`{{ startOfWeek .ScheduledTime | addDays -1 | date "2006-01-02" }}`, monday, "2026-03-01"},
		"start of week from a Sunday is the Monday before": {
			`{{ startOfWeek .ScheduledTime | date "2006-01-02 15:04" }}`, time.Date(2026, 3, 8, 23, 0, 0, 0, berlin), "2026-03-02 00:00",
		},
		"first of the previous month":             {`{{ startOfMonth .ScheduledTime | addMonths -1 | date "2006-01-02" }}`, time.Date(2026, 3, 1, 6, 0, 0, 0, berlin), "2026-02-01"},
		"last of the previous month":              {`{{ startOfMonth .ScheduledTime | addMonths -1 | endOfMonth | date "2006-01-02" }}`, time.Date(2026, 3, 1, 6, 0, 0, 0, berlin), "2026-02-28"},
		"last of the previous month, leap year":   {`{{ startOfMonth .ScheduledTime | addMonths -1 | endOfMonth | date "2006-01-02" }}`, time.Date(2024, 3, 1, 6, 0, 0, 0, berlin), "2024-02-29"},
		"previous month across a year":            {`{{ startOfMonth .ScheduledTime | addMonths -1 | date "2006-01" }}`, time.Date(2027, 1, 1, 6, 0, 0, 0, berlin), "2026-12"},
		"addMonths keeps to the month's last day": {`{{ addMonths 1 .ScheduledTime | date "2006-01-02" }}`, time.Date(2026, 1, 31, 6, 0, 0, 0, berlin), "2026-02-28"},
		"start of the year":                       {`{{ startOfYear .ScheduledTime | date "2006-01-02" }}`, monday, "2026-01-01"},
		"addDays keeps the clock time across DST": {
			`{{ addDays 1 .ScheduledTime | date "2006-01-02 15:04 MST" }}`, time.Date(2026, 3, 28, 9, 0, 0, 0, berlin), "2026-03-29 09:00 CEST",
		},
		"the day's start where midnight falls in a DST gap": {
			`{{ startOfDay .ScheduledTime | date "2006-01-02 15:04 MST" }}`, time.Date(2026, 3, 8, 12, 0, 0, 0, havana), "2026-03-08 01:00 CDT",
		},
		"the calendar is the schedule's, not UTC's": {
			// 00:30 on 2 March in Berlin is still 1 March in UTC.
			`{{ .ScheduledTime | date "2006-01-02" }}`, time.Date(2026, 3, 2, 0, 30, 0, 0, berlin), "2026-03-02",
		},
		"schedule fields":         {`{{ .Namespace }}/{{ .Schedule }} {{ .TimeZone }}`, monday, "team-a/weekly-sales Europe/Berlin"},
		"if and printf are there": {`{{ if eq (.ScheduledTime.Format "01") "03" }}Q1{{ else }}other{{ end }}`, monday, "Q1"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			data := Data{ScheduledTime: tc.at, Schedule: "weekly-sales", Namespace: "team-a", TimeZone: tc.at.Location().String()}
			got, err := RenderValue(tc.text, data)
			if err != nil {
				t.Fatalf("RenderValue(%q): %v", tc.text, err)
			}
			if got != tc.want {
				t.Errorf("RenderValue(%q) = %q, want %q", tc.text, got, tc.want)
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	tests := map[string]struct {
		text    string
		wantErr string
	}{
		"unclosed action":     {`{{ .ScheduledTime`, "unclosed action"},
		"unknown function":    {`{{ lastFriday .ScheduledTime }}`, `function "lastFriday" not defined`},
		"unknown field":       {`{{ .Yesterday }}`, "can't evaluate field Yesterday"},
		"wrong argument type": {`{{ addDays "7" .ScheduledTime }}`, "expected integer"},
		"range is refused":    {`{{ range 1000000000 }}{{ end }}`, "range is not allowed"},
		"define is refused":   {`{{ define "x" }}y{{ end }}`, "define and block are not allowed"},
		"template is refused": {`{{ if true }}{{ template "value" }}{{ end }}`, "template is not allowed"},
		"output too long":     {`{{ printf "%05000d" 1 }}`, "longer than 4096"},
		"template too long":   {strings.Repeat("x", MaxValueLength+1), "longer than 4096"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := RenderValue(tc.text, Data{ScheduledTime: time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("RenderValue(%.40q) error = %v, want one containing %q", tc.text, err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "template: value") {
				t.Errorf("error %q names the internal template", err)
			}
		})
	}
}

// Render names the parameter that failed, so the schedule's condition can.
func TestRenderNamesTheParameter(t *testing.T) {
	_, err := Render(map[string]v1alpha1.ParameterValue{
		"region":    "EMEA",
		"startDate": `{{ .ScheduledTime | date }}`,
	}, Data{ScheduledTime: time.Now()})
	var rerr *RenderError
	if !errors.As(err, &rerr) || rerr.Parameter != "startDate" {
		t.Fatalf("Render error = %v, want a RenderError for startDate", err)
	}
	if !strings.HasPrefix(err.Error(), "parameter startDate: ") {
		t.Errorf("message %q does not start with the parameter", err)
	}
}

// loadSample reads a ReportSchedule from config/samples, strictly, so a
// typo in a sample fails here.
func loadSample(t *testing.T, file string) *v1alpha1.ReportSchedule {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", file))
	if err != nil {
		t.Fatal(err)
	}
	var rs v1alpha1.ReportSchedule
	if err := yaml.UnmarshalStrict(data, &rs); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return &rs
}

// renderSample renders a sample's parameters for the run due at or just
// before the given local date and time, as the controller would.
func renderSample(t *testing.T, rs *v1alpha1.ReportSchedule, now time.Time) (time.Time, map[string]v1alpha1.ParameterValue) {
	t.Helper()
	tt, err := Parse(rs.Spec.Schedule, rs.Spec.TimeZone)
	if err != nil {
		t.Fatal(err)
	}
	at := tt.Prev(now)
	params, err := Render(rs.Spec.Template.Spec.Parameters, Data{ScheduledTime: at, Schedule: rs.Name, TimeZone: rs.Spec.TimeZone})
	if err != nil {
		t.Fatal(err)
	}
	return at, params
}

func TestSampleWeeklySales(t *testing.T) {
	rs := loadSample(t, "reports_v1alpha1_reportschedule_weekly_sales.yaml")
	berlin := zone(t, rs.Spec.TimeZone)
	tests := map[string]struct {
		now                time.Time
		wantRun            string // local
		wantStart, wantEnd string
	}{
		"an ordinary Monday":                       {time.Date(2026, 3, 2, 7, 5, 0, 0, berlin), "2026-03-02 07:00 CET", "2026-02-23", "2026-03-01"},
		"the Monday after the clocks went forward": {time.Date(2026, 3, 30, 12, 0, 0, 0, berlin), "2026-03-30 07:00 CEST", "2026-03-23", "2026-03-29"},
		"the Monday after the clocks went back":    {time.Date(2026, 10, 26, 7, 0, 0, 0, berlin), "2026-10-26 07:00 CET", "2026-10-19", "2026-10-25"},
		"across the new year":                      {time.Date(2027, 1, 4, 8, 0, 0, 0, berlin), "2027-01-04 07:00 CET", "2026-12-28", "2027-01-03"},
		"a Wednesday looks back to Monday's run":   {time.Date(2026, 6, 17, 12, 0, 0, 0, berlin), "2026-06-15 07:00 CEST", "2026-06-08", "2026-06-14"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			at, params := renderSample(t, rs, tc.now)
			if got := at.Format("2006-01-02 15:04 MST"); got != tc.wantRun {
				t.Errorf("run at %s, want %s", got, tc.wantRun)
			}
			if params["startDate"] != v1alpha1.ParameterValue(tc.wantStart) || params["endDate"] != v1alpha1.ParameterValue(tc.wantEnd) {
				t.Errorf("startDate..endDate = %s..%s, want %s..%s", params["startDate"], params["endDate"], tc.wantStart, tc.wantEnd)
			}
		})
	}
}

func TestSampleMonthlyInventory(t *testing.T) {
	rs := loadSample(t, "reports_v1alpha1_reportschedule_monthly_inventory.yaml")
	berlin := zone(t, rs.Spec.TimeZone)
	tests := map[string]struct {
		now     time.Time
		wantRun string
	}{
		"first of March":       {time.Date(2026, 3, 1, 9, 0, 0, 0, berlin), "2026-03-01 06:00 CET"},
		"first of April (DST)": {time.Date(2026, 4, 20, 9, 0, 0, 0, berlin), "2026-04-01 06:00 CEST"},
		"first of January":     {time.Date(2027, 1, 1, 6, 0, 0, 0, berlin), "2027-01-01 06:00 CET"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			at, params := renderSample(t, rs, tc.now)
			if got := at.Format("2006-01-02 15:04 MST"); got != tc.wantRun {
				t.Errorf("run at %s, want %s", got, tc.wantRun)
			}
			if params["onlyBelowReorder"] != "true" {
				t.Errorf("onlyBelowReorder = %q, want true", params["onlyBelowReorder"])
			}
		})
	}
}
