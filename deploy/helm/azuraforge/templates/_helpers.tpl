{{/* The release's name, cut to Kubernetes' 63 characters. */}}
{{- define "azuraforge.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "azuraforge.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The labels that pick one component's pods: call with (list $ "api"). */}}
{{- define "azuraforge.selector" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ $root.Chart.Name }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "azuraforge.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* Every container's settings: the secret ones from the chart's Secret, the others as
values. The migration Job, the API and the workers get the same. */}}
{{- define "azuraforge.env" -}}
{{- $secret := include "azuraforge.fullname" . -}}
- name: AZURAFORGE_DATABASE_URL
  valueFrom: {secretKeyRef: {name: {{ $secret }}, key: database-url}}
- name: AZURAFORGE_BROKER_URL
  valueFrom: {secretKeyRef: {name: {{ $secret }}, key: broker-url}}
- name: AWS_ACCESS_KEY_ID
  valueFrom: {secretKeyRef: {name: {{ $secret }}, key: s3-access-key-id}}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom: {secretKeyRef: {name: {{ $secret }}, key: s3-secret-access-key}}
- name: AZURAFORGE_METRICS_TOKEN
  valueFrom: {secretKeyRef: {name: {{ $secret }}, key: metrics-token}}
- name: AZURAFORGE_TRANSPORT
  value: celery
- name: AZURAFORGE_BLOB_STORE
  value: {{ required "settings.blobStore is required: the bucket every replica shares, s3://bucket/prefix" .Values.settings.blobStore | quote }}
- name: AZURAFORGE_S3_ENDPOINT
  value: {{ .Values.settings.s3Endpoint | quote }}
- name: AWS_DEFAULT_REGION
  value: {{ .Values.settings.s3Region | quote }}
- name: AZURAFORGE_ALLOWED_HOSTS
  value: {{ .Values.ingress.host | quote }}
- name: AZURAFORGE_TRUSTED_PROXIES
  value: {{ .Values.settings.trustedProxies | quote }}
{{- range $name, $value := .Values.settings.extra }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{- define "azuraforge.pod" -}}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
