{{- define "deja.fullname" -}}
{{- printf "%s-deja" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "deja.labels" -}}
app.kubernetes.io/name: deja
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "deja.selector" -}}
app.kubernetes.io/name: deja
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "deja.secretName" -}}
{{- default (printf "%s-secrets" (include "deja.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "deja.shared" -}}
{{- if and .Values.storage.cache .Values.storage.ledger -}}true{{- end -}}
{{- end -}}
