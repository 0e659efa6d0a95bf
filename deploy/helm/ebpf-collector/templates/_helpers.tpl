{{/* Object names: the release name, or "<release>-ebpf-collector", or fullnameOverride. */}}
{{- define "ebpf-collector.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if eq .Release.Name .Chart.Name -}}
{{- .Release.Name -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ebpf-collector.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ebpf-collector.labels" -}}
{{ include "ebpf-collector.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The agent's configuration text: values `config`, or the shipped pipelines/kubernetes.yaml. */}}
{{- define "ebpf-collector.config" -}}
{{- if .Values.config -}}
{{- .Values.config -}}
{{- else -}}
{{- .Files.Get "files/kubernetes.yaml" -}}
{{- end -}}
{{- end -}}

{{/* The container's securityContext for the preset. */}}
{{- define "ebpf-collector.securityContext" -}}
{{- if eq .Values.securityContext.preset "privileged" -}}
privileged: true
readOnlyRootFilesystem: true
runAsUser: 0
runAsNonRoot: false
seccompProfile:
  type: Unconfined
{{- else -}}
privileged: false
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsUser: 0
runAsNonRoot: false
capabilities:
  drop: [ALL]
  add: {{ concat .Values.securityContext.capabilities .Values.securityContext.extraCapabilities | toJson }}
seccompProfile: {{ .Values.securityContext.seccompProfile | toJson }}
{{- end -}}
{{- end -}}
