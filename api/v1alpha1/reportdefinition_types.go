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

package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ParameterType is the type a report parameter's string value is converted to.
// +kubebuilder:validation:Enum=string;integer;number;boolean;date;datetime;enum
type ParameterType string

// Parameter types.
const (
	ParameterString   ParameterType = "string"
	ParameterInteger  ParameterType = "integer"
	ParameterNumber   ParameterType = "number"
	ParameterBoolean  ParameterType = "boolean"
	ParameterDate     ParameterType = "date"
	ParameterDateTime ParameterType = "datetime"
	ParameterEnum     ParameterType = "enum"
)

// ReportFormat is the file format of a report.
// +kubebuilder:validation:Enum=csv;csv.gz;jsonl;xlsx
type ReportFormat string

// Report formats.
const (
	FormatCSV   ReportFormat = "csv"
	FormatCSVGz ReportFormat = "csv.gz"
	FormatJSONL ReportFormat = "jsonl"
	FormatXLSX  ReportFormat = "xlsx"
)

// ProgressMode is how the generator estimates a report's progress.
// +kubebuilder:validation:Enum=Count;KeyRange;None
type ProgressMode string

// Progress modes.
const (
	// ProgressCount counts the query's rows first, in the same snapshot.
	ProgressCount ProgressMode = "Count"
	// ProgressKeyRange reads progress from an ordered result column between
	// two parameters, for example created_at between startDate and endDate.
	ProgressKeyRange ProgressMode = "KeyRange"
	// ProgressNone reports 0 until the end, then 100.
	ProgressNone ProgressMode = "None"
)

// QueryExecMode selects how pgx sends queries. Use SimpleProtocol or Exec
// behind a pooler in transaction mode such as PgBouncer.
// +kubebuilder:validation:Enum=CacheStatement;CacheDescribe;DescribeExec;Exec;SimpleProtocol
type QueryExecMode string

// ReportParameter declares one named query parameter.
// +kubebuilder:validation:XValidation:rule="self.type != 'enum' || (has(self.enum) && size(self.enum) > 0)",message="enum parameters must list their allowed values in enum"
// +kubebuilder:validation:XValidation:rule="!has(self.enum) || self.type == 'enum'",message="enum is only allowed when type is enum"
// +kubebuilder:validation:XValidation:rule="!has(self.maxLength) || self.type == 'string'",message="maxLength is only allowed when type is string"
// +kubebuilder:validation:XValidation:rule="!(has(self.min) || has(self.max)) || self.type in ['integer', 'number', 'date', 'datetime']",message="min and max are only allowed for integer, number, date and datetime parameters"
type ReportParameter struct {
	// name is how the query refers to the parameter (@name) and how requests
	// pass it: a letter or underscore, then letters, digits or underscores.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_]*$`
	Name string `json:"name"`

	// type of the value: string, integer, number, boolean, date (YYYY-MM-DD,
	// read in the report's time zone), datetime (RFC 3339) or enum.
	// +required
	Type ParameterType `json:"type"`

	// required parameters must be given by every request unless they have a default.
	// +optional
	Required bool `json:"required,omitempty"`

	// default is used when a request omits the parameter, written as a request would write it.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Default *string `json:"default,omitempty"`

	// enum lists the allowed values of an enum parameter.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=256
	Enum []string `json:"enum,omitempty"`

	// min is the smallest allowed value of an integer, number, date or datetime parameter.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Min *string `json:"min,omitempty"`

	// max is the largest allowed value of an integer, number, date or datetime parameter.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Max *string `json:"max,omitempty"`

	// maxLength is the longest allowed value of a string parameter, in characters.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4096
	MaxLength *int32 `json:"maxLength,omitempty"`

	// description tells users what the parameter means; forms show it.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Description string `json:"description,omitempty"`
}

// ReportRule is a check across a request's bound parameters.
type ReportRule struct {
	// expression is a CEL expression over `params`, the bound parameters,
	// that must be true, e.g. `params.startDate <= params.endDate`.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Expression string `json:"expression"`

	// message is shown to the user when the expression is false,
	// e.g. "startDate must not be after endDate".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Message string `json:"message"`
}

// SecretKeyRef names a key of a Secret in the object's own namespace.
type SecretKeyRef struct {
	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// key within the Secret's data.
	// +optional
	// +kubebuilder:default=url
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key,omitempty"`
}

// Datasource says where a report's rows come from.
type Datasource struct {
	// secretRef names the Secret key holding the PostgreSQL URL. Point it at a
	// read replica and a read-only role: a long export holds a snapshot.
	// +required
	SecretRef SecretKeyRef `json:"secretRef"`

	// queryExecMode is pgx's query exec mode; SimpleProtocol or Exec work
	// behind a pooler in transaction mode (PgBouncer). Default CacheStatement.
	// +optional
	QueryExecMode QueryExecMode `json:"queryExecMode,omitempty"`
}

// ProgressEstimate says how the generator estimates progress.
// +kubebuilder:validation:XValidation:rule="self.mode != 'KeyRange' || (has(self.keyColumn) && has(self.startParameter) && has(self.endParameter))",message="KeyRange progress needs keyColumn, startParameter and endParameter"
type ProgressEstimate struct {
	// mode: Count runs a count in the same snapshot first (exact, costs one
	// more scan); KeyRange reads an ordered result column between two
	// parameters (free); None shows 0 until the end.
	// +optional
	// +kubebuilder:default=Count
	Mode ProgressMode `json:"mode,omitempty"`

	// keyColumn is the result column the query is ordered by (KeyRange only).
	// +optional
	// +kubebuilder:validation:MaxLength=63
	KeyColumn string `json:"keyColumn,omitempty"`

	// startParameter is the parameter holding the range's start (KeyRange only).
	// +optional
	// +kubebuilder:validation:MaxLength=63
	StartParameter string `json:"startParameter,omitempty"`

	// endParameter is the parameter holding the range's end (KeyRange only).
	// +optional
	// +kubebuilder:validation:MaxLength=63
	EndParameter string `json:"endParameter,omitempty"`
}

// ReportDefinitionSpec is what a report type is: a query, its parameters and limits.
type ReportDefinitionSpec struct {
	// description tells users what the report contains.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Description string `json:"description,omitempty"`

	// query is one SQL SELECT (or WITH ... SELECT) with named parameters such
	// as @startDate. Parameters are always bound, never spliced into the text.
	// It runs in a REPEATABLE READ, READ ONLY transaction in which
	// current_setting('reportd.requester', true) is the request's requestedBy.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=65536
	Query string `json:"query"`

	// parameters the query takes; names are unique.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Parameters []ReportParameter `json:"parameters,omitempty"`

	// rules are CEL checks across parameters, evaluated before any work starts.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Rules []ReportRule `json:"rules,omitempty"`

	// timeZone (IANA name, default UTC) is the zone in which date parameters
	// are read and the session TimeZone while the query runs. A request or a
	// schedule may override it.
	// +optional
	// +kubebuilder:default=UTC
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	TimeZone string `json:"timeZone,omitempty"`

	// datasource holds the PostgreSQL connection; the manager's configured
	// datasource when omitted.
	// +optional
	Datasource *Datasource `json:"datasource,omitempty"`

	// formats the report may be requested in; all formats when omitted.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=4
	Formats []ReportFormat `json:"formats,omitempty"`

	// timeout caps how long one report of this type may run (e.g. "1h"); it
	// caps a request's timeoutSeconds.
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// maxRows fails a report that would exceed this many rows, instead of
	// silently truncating it. No limit when omitted.
	// +optional
	// +kubebuilder:validation:Minimum=1
	MaxRows *int64 `json:"maxRows,omitempty"`

	// progress says how progress is estimated.
	// +optional
	Progress *ProgressEstimate `json:"progress,omitempty"`
}

// ReportDefinitionStatus is the observed state of a ReportDefinition.
type ReportDefinitionStatus struct {
	// observedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// columns are the query's result columns, as found when it was checked.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=1024
	Columns []string `json:"columns,omitempty"`

	// conditions: Ready is True when the query prepares against its database
	// and its parameters match it.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rd,categories=reports
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Description",type=string,JSONPath=`.spec.description`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// ReportDefinition is a report type: a parameterized query over a datasource,
// usually kept in Git by whoever owns the data.
type ReportDefinition struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec defines the report type.
	// +required
	Spec ReportDefinitionSpec `json:"spec"`

	// status is whether the definition was checked against its database.
	// +optional
	Status ReportDefinitionStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ReportDefinitionList contains a list of ReportDefinition.
type ReportDefinitionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ReportDefinition `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ReportDefinition{}, &ReportDefinitionList{})
}
