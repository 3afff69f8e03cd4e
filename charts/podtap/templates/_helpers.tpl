{{/*
Names. The registration, the Service, the Secret and the Lease are named
from the full name, which is the release name when it already says
"podtap" (helm install podtap ...), so a default install carries the names
podtap-webhook's own configuration defaults to.
*/}}
{{- define "podtap.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "podtap.fullname" -}}
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

{{/* The webhook's Deployment, Service, ServiceAccount, Lease and Certificate. */}}
{{- define "podtap.webhookName" -}}
{{- printf "%s-webhook" (include "podtap.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "podtap.tlsSecretName" -}}
{{- if eq .Values.tls.mode "files" }}
{{- .Values.tls.files.secretName }}
{{- else }}
{{- printf "%s-tls" (include "podtap.webhookName" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "podtap.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "podtap.webhookName" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "podtap.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "podtap.labels" -}}
helm.sh/chart: {{ include "podtap.chart" . }}
{{ include "podtap.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: podtap
{{- end }}

{{/* Labels selecting the webhook's pods. */}}
{{- define "podtap.selectorLabels" -}}
app.kubernetes.io/name: {{ include "podtap.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: webhook
{{- end }}

{{/* An image reference: repository, then the digest or else the tag. */}}
{{- define "podtap.imageRef" -}}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository (default .appVersion .image.tag) }}
{{- end }}
{{- end }}

{{/*
Namespaces never injected: the control plane's, the release's own and the
configured ones. podtap-webhook excludes the same set itself (config
Webhook.Excluded); the registration keeps them from ever reaching it.
*/}}
{{- define "podtap.excludedNamespaces" -}}
{{- $out := append (include "podtap.systemNamespaces" . | fromJsonArray) .Release.Namespace }}
{{- range .Values.webhook.excludedNamespaces }}
{{- $out = append $out . }}
{{- end }}
{{- toJson (uniq $out) }}
{{- end }}

{{/*
kafka.brokers as a JSON list: the value is a list, or one comma-separated
string as `--set kafka.brokers=kafka:9092` gives it.
*/}}
{{- define "podtap.brokers" -}}
{{- $b := .Values.kafka.brokers }}
{{- if kindIs "string" $b }}
{{- $b = ternary list (splitList "," $b) (empty $b) }}
{{- end }}
{{- toJson $b }}
{{- end }}

{{/*
The sidecar's settings: sidecar.settings, with the kafka.* values over
them. Non-empty kafka.brokers switch the sink to Kafka.
*/}}
{{- define "podtap.sidecarSettings" -}}
{{- $settings := deepCopy .Values.sidecar.settings }}
{{- $k := .Values.kafka }}
{{- $brokers := include "podtap.brokers" . | fromJsonArray }}
{{- if $brokers }}
{{- $kafka := dict "brokers" $brokers "topic" $k.topic }}
{{- if $k.tls.enabled }}
{{- $tls := dict "enabled" true }}
{{- with $k.tls.serverName }}
{{- $_ := set $tls "server_name" . }}
{{- end }}
{{- $_ := set $kafka "tls" $tls }}
{{- end }}
{{- with $k.sasl.mechanism }}
{{- $_ := set $kafka "sasl" (dict "mechanism" .) }}
{{- end }}
{{- $settings = mustMergeOverwrite $settings (dict "sink" (dict "type" "kafka") "kafka" $kafka) }}
{{- end }}
{{- toYaml $settings }}
{{- end }}

{{/*
podtap-webhook's configuration file. Its checksum is on the pod template,
so a change rolls the webhook. Every key is one podtap-webhook knows; an
unknown key stops it at start.
*/}}
{{- define "podtap.config" -}}
{{- $k := .Values.kafka -}}
namespace: {{ .Release.Namespace }}
server:
  port: {{ .Values.webhook.port }}
  cert_dir: /run/podtap/serving-certs
  metrics_addr: ":{{ .Values.metrics.port }}"
  health_addr: ":{{ .Values.health.port }}"
tls:
  mode: {{ .Values.tls.mode }}
  {{- if ne .Values.tls.mode "files" }}
  secret_name: {{ include "podtap.tlsSecretName" . }}
  {{- end }}
  certificate: {{ include "podtap.webhookName" . }}
  extra_dns_names: {{ toJson .Values.tls.extraDNSNames }}
  ca_validity: {{ .Values.tls.auto.caValidity | quote }}
  cert_validity: {{ .Values.tls.auto.certValidity | quote }}
  renew_before: {{ .Values.tls.auto.renewBefore | quote }}
  check_interval: {{ .Values.tls.auto.checkInterval | quote }}
registration:
  name: {{ include "podtap.fullname" . }}
  service: {{ include "podtap.webhookName" . }}
  service_port: {{ .Values.webhook.servicePort }}
  url: {{ .Values.webhook.url | quote }}
  timeout: {{ .Values.webhook.timeoutSeconds }}s
receiver:
  service: {{ .Values.receiver.service }}
leader_election:
  enabled: {{ and .Values.leaderElection.enabled (eq .Values.tls.mode "auto") }}
  id: {{ include "podtap.webhookName" . }}
injection:
  excluded_namespaces: {{ include "podtap.excludedNamespaces" . }}
  native_sidecar: {{ .Values.webhook.nativeSidecar | quote }}
  version_refresh: {{ .Values.webhook.versionRefresh | quote }}
  allow_image_override: {{ .Values.webhook.allowImageOverride }}
  allow_tls_capture: {{ .Values.webhook.allowTLSCapture }}
  admission_check:
    enabled: {{ .Values.webhook.admissionCheck }}
sidecar:
  image: {{ include "podtap.imageRef" (dict "image" .Values.sidecar.image "appVersion" .Chart.AppVersion) }}
  image_pull_policy: {{ .Values.sidecar.image.pullPolicy }}
  cpu_request: {{ .Values.sidecar.resources.cpuRequest | quote }}
  cpu_limit: {{ .Values.sidecar.resources.cpuLimit | quote }}
  memory_request: {{ .Values.sidecar.resources.memoryRequest | quote }}
  memory_limit: {{ .Values.sidecar.resources.memoryLimit | quote }}
  kafka_secrets:
    tls: {{ ternary $k.tls.secretName "" (and (not (empty $k.brokers)) $k.tls.enabled) | quote }}
    tls_client_cert: {{ and (not (empty $k.brokers)) $k.tls.enabled (not (empty $k.tls.secretName)) $k.tls.clientCert }}
    sasl: {{ ternary $k.sasl.secretName "" (and (not (empty $k.brokers)) (not (empty $k.sasl.mechanism))) | quote }}
  settings:
    {{- include "podtap.sidecarSettings" . | nindent 4 }}
log:
  level: {{ .Values.logLevel }}
  format: {{ .Values.logFormat }}
{{- end }}
