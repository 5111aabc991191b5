{{/* Chart name, truncated to the 63 characters of a label value. */}}
{{- define "tte.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects. */}}
{{- define "tte.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tte.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tte.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "tte.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "tte.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "tte.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tte.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The SOCKS5 address of the tailnet vantage, empty when it is off. */}}
{{- define "tte.socks5Address" -}}
{{- if .Values.tailnetVantage.enabled }}
{{- if .Values.tailnetVantage.sidecar.enabled }}localhost:1055{{ else }}{{ .Values.tailnetVantage.socks5Address }}{{ end }}
{{- end }}
{{- end }}

{{/* Whether the prometheus-operator CRDs are served. */}}
{{- define "tte.hasMonitoringAPI" -}}
{{- if .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" }}true{{ end }}
{{- end }}

{{/* Values that are valid one by one but not together. */}}
{{- define "tte.validate" -}}
{{- $tv := .Values.tailnetVantage }}
{{- if and $tv.enabled (not $tv.sidecar.enabled) (not $tv.socks5Address) }}
{{- fail "tailnetVantage.enabled needs tailnetVantage.socks5Address or tailnetVantage.sidecar.enabled" }}
{{- end }}
{{- if and $tv.sidecar.enabled (not $tv.enabled) }}
{{- fail "tailnetVantage.sidecar.enabled needs tailnetVantage.enabled" }}
{{- end }}
{{- if and $tv.sidecar.enabled (not $tv.sidecar.authKeySecret.name) }}
{{- fail "tailnetVantage.sidecar.enabled needs tailnetVantage.sidecar.authKeySecret.name: a Secret with a Tailscale auth key" }}
{{- end }}
{{- if and .Values.networkPolicy.enabled $tv.enabled (not $tv.sidecar.enabled) (not .Values.networkPolicy.socks5To) }}
{{- fail "networkPolicy.enabled with tailnetVantage.socks5Address needs networkPolicy.socks5To: the pods or ipBlock serving that address" }}
{{- end }}
{{- if and .Values.rbac.create .Values.kubernetes.discovery (not .Values.serviceAccount.create) (not .Values.serviceAccount.name) }}
{{- fail "rbac.create with serviceAccount.create=false needs serviceAccount.name" }}
{{- end }}
{{- end }}

{{/* The exporter's configuration file (README "Running it"). */}}
{{- define "tte.config" -}}
{{- $cfg := dict "modules" (dict
      "https" (dict "prober" "https" "timeout" .Values.probe.timeout)
      "tls" (dict "prober" "tls" "timeout" .Values.probe.timeout)) }}
{{- with .Values.extraSignatures }}
{{- $_ := set $cfg "log_signatures" . }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{/*
"true" when the tailnet policy comes from the Tailscale API, "" otherwise;
fails on a half-given or double source, which the exporter would refuse.
*/}}
{{- define "tte.tailnetPolicyAPI" -}}
{{- $tp := .Values.tailnetPolicy -}}
{{- $s := $tp.apiSecret -}}
{{- if $s.name -}}
{{- if $tp.configMap.name -}}
{{- fail "tailnetPolicy: set configMap.name or apiSecret.name, not both" -}}
{{- end -}}
{{- if and $s.apiKey (or $s.oauthClientId $s.oauthClientSecret) -}}
{{- fail "tailnetPolicy.apiSecret: set apiKey or oauthClientId and oauthClientSecret, not both" -}}
{{- end -}}
{{- if not (or $s.apiKey (and $s.oauthClientId $s.oauthClientSecret)) -}}
{{- fail "tailnetPolicy.apiSecret: set apiKey, or both oauthClientId and oauthClientSecret (the Secret's keys)" -}}
{{- end -}}
true
{{- else if or $s.apiKey $s.oauthClientId $s.oauthClientSecret -}}
{{- fail "tailnetPolicy.apiSecret: keys given without the Secret's name" -}}
{{- end -}}
{{- end -}}
