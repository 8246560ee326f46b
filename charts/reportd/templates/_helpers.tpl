{{/* Names, labels and small derived values shared by the templates. */}}

{{/* reportd.name: the chart name, or nameOverride. */}}
{{- define "reportd.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* reportd.fullname: "<release>-<chart>" (or the release alone when it
already contains the chart name), or fullnameOverride; at most 50
characters so suffixes such as "-manager" still fit 63. */}}
{{- define "reportd.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* reportd.chart: chart name and version for the helm.sh/chart label. */}}
{{- define "reportd.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* reportd.labels: the common labels of every object. */}}
{{- define "reportd.labels" -}}
helm.sh/chart: {{ include "reportd.chart" . }}
{{ include "reportd.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: reportd
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* reportd.selectorLabels: the labels that select the release's objects. */}}
{{- define "reportd.selectorLabels" -}}
app.kubernetes.io/name: {{ include "reportd.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* reportd.managerSelectorLabels: the labels that select manager pods. */}}
{{- define "reportd.managerSelectorLabels" -}}
{{ include "reportd.selectorLabels" . }}
app.kubernetes.io/component: manager
{{- end }}

{{/* reportd.managerServiceAccountName: the manager's ServiceAccount. */}}
{{- define "reportd.managerServiceAccountName" -}}
{{- default (printf "%s-manager" (include "reportd.fullname" .)) .Values.manager.serviceAccount.name }}
{{- end }}

{{/* reportd.managerUser: the manager's Kubernetes user name. */}}
{{- define "reportd.managerUser" -}}
system:serviceaccount:{{ .Release.Namespace }}:{{ include "reportd.managerServiceAccountName" . }}
{{- end }}

{{/* reportd.imageRef: "repository:tag" or "repository@digest" of an image
values object (repository, tag, digest), with the manager image and the
chart's appVersion as defaults. Call with (dict "image" X "root" $). */}}
{{- define "reportd.imageRef" -}}
{{- $root := .root }}
{{- $repository := default $root.Values.image.repository .image.repository }}
{{- $digest := default $root.Values.image.digest .image.digest }}
{{- $tag := default (default $root.Chart.AppVersion $root.Values.image.tag) .image.tag }}
{{- if $digest }}
{{- printf "%s@%s" $repository $digest }}
{{- else }}
{{- printf "%s:%s" $repository (toString $tag) }}
{{- end }}
{{- end }}

{{/* reportd.facadeNamespace: the namespace the facade serves. */}}
{{- define "reportd.facadeNamespace" -}}
{{- default (first .Values.reportNamespaces.names) .Values.facade.namespace }}
{{- end }}

{{/* reportd.s3CredentialsSecret: the S3 credentials Secret's name, or
empty for the SDK's default chain. */}}
{{- define "reportd.s3CredentialsSecret" -}}
{{- if .Values.storage.s3.credentials.secretName }}
{{- .Values.storage.s3.credentials.secretName }}
{{- else if .Values.storage.s3.credentials.create }}
{{- printf "%s-s3" (include "reportd.fullname" .) }}
{{- end }}
{{- end }}

{{/* reportd.hasAuth: "true" when the facade has an authentication method. */}}
{{- define "reportd.hasAuth" -}}
{{- if or .Values.auth.tokenFile.secretName .Values.auth.oidc.issuerURL .Values.auth.trustedHeader.userHeader }}true{{ end }}
{{- end }}

{{/* reportd.validate fails rendering on values that contradict each other
(what one value alone cannot say is in values.schema.json). A missing
storage.url or authentication only warns in NOTES.txt, so the chart
renders with its defaults. */}}
{{- define "reportd.validate" -}}
{{- $names := .Values.reportNamespaces.names }}
{{- if ne (len $names) (len (uniq $names)) }}
{{- fail "reportNamespaces.names lists a namespace twice" }}
{{- end }}
{{- if and .Values.facade.enabled .Values.facade.namespace (not (has .Values.facade.namespace $names)) }}
{{- fail (printf "facade.namespace %q must be one of reportNamespaces.names %v: the manager watches only those" .Values.facade.namespace $names) }}
{{- end }}
{{- if and .Values.storage.s3.credentials.create (or (not .Values.storage.s3.credentials.accessKey) (not .Values.storage.s3.credentials.secretKey)) }}
{{- fail "storage.s3.credentials.create needs storage.s3.credentials.accessKey and secretKey" }}
{{- end }}
{{- if and .Values.datasource.create (not .Values.datasource.url) }}
{{- fail "datasource.create needs datasource.url" }}
{{- end }}
{{- if and .Values.smtp.enabled (or (not .Values.smtp.host) (not .Values.smtp.from)) }}
{{- fail "smtp.enabled needs smtp.host and smtp.from" }}
{{- end }}
{{- if and .Values.auth.trustedHeader.userHeader (not .Values.auth.trustedHeader.trustedSources) }}
{{- fail "auth.trustedHeader.userHeader needs auth.trustedHeader.trustedSources: the header is believed only from the proxy" }}
{{- end }}
{{- if and .Values.facade.ingress.enabled (not .Values.facade.enabled) }}
{{- fail "facade.ingress.enabled needs facade.enabled" }}
{{- end }}
{{- if and (gt (int .Values.manager.replicas) 1) (not .Values.manager.leaderElection.enabled) }}
{{- fail "manager.replicas > 1 needs manager.leaderElection.enabled: two active managers would run every report twice" }}
{{- end }}
{{- end }}

{{/* reportd.celStrings: a list of strings as CEL string literals separated
by commas: 'a', 'b'. Quotes and backslashes are escaped. */}}
{{- define "reportd.celStrings" -}}
{{- $out := list }}
{{- range . }}
{{- $out = append $out (printf "'%s'" (. | replace "\\" "\\\\" | replace "'" "\\'")) }}
{{- end }}
{{- join ", " $out }}
{{- end }}
