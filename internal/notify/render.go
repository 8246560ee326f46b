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

package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	htmltemplate "html/template"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"
)

// Email is a rendered notification e-mail.
type Email struct {
	Subject string
	Text    string
	HTML    string
}

// emailView is what the e-mail templates read.
type emailView struct {
	Report
	Completed  bool
	Parameters []string
	RowsText   string
	SizeText   string
	Finished   string
}

const textBody = `{{if .Completed}}Your report is ready.{{else}}Your report failed.{{end}}

Report:      {{.ReportType}} ({{.ID}})
Parameters:  {{if .Parameters}}{{join .Parameters ", "}}{{else}}none{{end}}
Format:      {{.Format}}
{{- if .Completed}}
Rows:        {{.RowsText}}
Size:        {{.SizeText}}
{{- end}}
{{- if .Finished}}
Finished:    {{.Finished}}
{{- end}}
{{- if not .Completed}}

What went wrong:
{{.ErrorMessage}}
{{- end}}
{{if .PageURL}}
{{if .Completed}}Open the report (you will be asked to sign in):{{else}}See the report (you will be asked to sign in):{{end}}
{{.PageURL}}
{{end}}
--
This message was sent by reportd because you asked for this report.
`

const htmlBody = `<!DOCTYPE html>
<html><body style="font-family: sans-serif">
<p>{{if .Completed}}Your report is ready.{{else}}Your report <strong>failed</strong>.{{end}}</p>
<table cellpadding="4">
<tr><th align="left">Report</th><td>{{.ReportType}} ({{.ID}})</td></tr>
<tr><th align="left">Parameters</th><td>{{if .Parameters}}{{range $i, $p := .Parameters}}{{if $i}}, {{end}}{{$p}}{{end}}{{else}}none{{end}}</td></tr>
<tr><th align="left">Format</th><td>{{.Format}}</td></tr>
{{- if .Completed}}
<tr><th align="left">Rows</th><td>{{.RowsText}}</td></tr>
<tr><th align="left">Size</th><td>{{.SizeText}}</td></tr>
{{- end}}
{{- if .Finished}}
<tr><th align="left">Finished</th><td>{{.Finished}}</td></tr>
{{- end}}
</table>
{{- if not .Completed}}
<p><strong>What went wrong:</strong></p>
<pre style="white-space: pre-wrap">{{.ErrorMessage}}</pre>
{{- end}}
{{- if .PageURL}}
<p><a href="{{.PageURL}}">{{if .Completed}}Open the report{{else}}See the report{{end}}</a> (you will be asked to sign in).</p>
{{- end}}
<p style="color: #666">This message was sent by reportd because you asked for this report.</p>
</body></html>
`

var (
	textTemplate = texttemplate.Must(texttemplate.New("text").Funcs(texttemplate.FuncMap{"join": strings.Join}).Parse(textBody))
	htmlTemplate = htmltemplate.Must(htmltemplate.New("html").Parse(htmlBody))
)

// RenderEmail renders the e-mail about r: what the report is, its
// parameters, and its rows and size or what went wrong, with a link to
// its page when there is one. Never the file, never a download link.
func RenderEmail(r Report) (Email, error) {
	v := emailView{
		Report: r, Completed: r.Status == StatusCompleted, Parameters: r.parameterList(),
		RowsText: FormatCount(r.Rows), SizeText: FormatBytes(r.Size),
	}
	if r.CompletedAt != nil {
		v.Finished = r.CompletedAt.UTC().Format("2006-01-02 15:04:05 MST")
	}
	var text, html bytes.Buffer
	if err := textTemplate.Execute(&text, v); err != nil {
		return Email{}, fmt.Errorf("rendering the e-mail's text: %w", err)
	}
	if err := htmlTemplate.Execute(&html, v); err != nil {
		return Email{}, fmt.Errorf("rendering the e-mail's HTML: %w", err)
	}
	return Email{Subject: subject(r), Text: text.String(), HTML: html.String()}, nil
}

// subject is the e-mail's subject line.
func subject(r Report) string {
	if r.Status == StatusCompleted {
		return fmt.Sprintf("Report %s is ready (%s rows)", r.ReportType, FormatCount(r.Rows))
	}
	return fmt.Sprintf("Report %s failed", r.ReportType)
}

// WebhookBody is the JSON a webhook receives: the report itself, or with
// slack a Slack-compatible {"text": ...} message.
func WebhookBody(r Report, slack bool) ([]byte, error) {
	if slack {
		return json.Marshal(map[string]string{"text": SlackText(r)})
	}
	return json.Marshal(r)
}

// SlackText is a one-line mrkdwn summary of r, with the page link.
func SlackText(r Report) string {
	var b strings.Builder
	if r.Status == StatusCompleted {
		fmt.Fprintf(&b, "Report *%s* (`%s`) is ready: %s rows, %s.", slackEscape(r.ReportType), slackEscape(r.ID),
			FormatCount(r.Rows), FormatBytes(r.Size))
	} else {
		fmt.Fprintf(&b, "Report *%s* (`%s`) failed: %s", slackEscape(r.ReportType), slackEscape(r.ID), slackEscape(r.ErrorMessage))
	}
	if r.PageURL != "" {
		fmt.Fprintf(&b, " <%s|Open the report>", r.PageURL)
	}
	return b.String()
}

// slackEscape escapes the three characters Slack's mrkdwn reserves.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// FormatCount writes n with thousands separators: 1234567 as 1,234,567.
func FormatCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// FormatBytes writes a size in decimal units, as file managers do:
// 1234567 as "1.2 MB".
func FormatBytes(n int64) string {
	if n < 1000 {
		return strconv.FormatInt(n, 10) + " bytes"
	}
	units := []string{"kB", "MB", "GB", "TB", "PB"}
	v := float64(n)
	for i, u := range units {
		v /= 1000
		if v < 1000 || i == len(units)-1 {
			return strconv.FormatFloat(v, 'f', 1, 64) + " " + u
		}
	}
	return "" // unreachable
}

// durationText rounds d for messages.
func durationText(d time.Duration) string {
	return d.Round(time.Millisecond).String()
}
