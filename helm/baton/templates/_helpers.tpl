{{/* Chart name, truncated to what a label value allows. */}}
{{- define "baton.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's objects; a service's objects append "-<service>", so this keeps
room for the longest ("-resource", "-recovery").
*/}}
{{- define "baton.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 53 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 53 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 53 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "baton.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "baton.selectorLabels" -}}
app.kubernetes.io/name: {{ include "baton.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "baton.labels" -}}
helm.sh/chart: {{ include "baton.chart" . }}
{{ include "baton.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: baton
{{- end }}

{{/* Labels of one component; call with (dict "root" $ "component" "hub"). */}}
{{- define "baton.componentLabels" -}}
{{ include "baton.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "baton.componentSelectorLabels" -}}
{{ include "baton.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Name of one component's objects; call with (dict "root" $ "component" "hub"). */}}
{{- define "baton.componentName" -}}
{{- printf "%s-%s" (include "baton.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "baton.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "baton.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "baton.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* The Secret holding BATON_PG_DSN for the services. */}}
{{- define "baton.secretName" -}}
{{- .Values.secret.existingSecret | default (include "baton.fullname" .) }}
{{- end }}

{{/*
The Secret the hook Jobs read: pre-install hooks run before the release's own Secret
exists, so without existingSecret they get a hook-scoped copy.
*/}}
{{- define "baton.hookSecretName" -}}
{{- .Values.secret.existingSecret | default (printf "%s-hooks" (include "baton.fullname" .)) }}
{{- end }}

{{/*
Deep merge of two maps as YAML: "over" wins, maps merge key by key. (Sprig's
mergeOverwrite ignores false, 0 and "" in "over", so a service could not switch off what
serviceDefaults switches on.) Call with (dict "base" $a "over" $b).
*/}}
{{- define "baton.merge" -}}
{{- $out := deepCopy .base }}
{{- range $key, $value := .over }}
{{- $current := index $out $key }}
{{- if and (kindIs "map" $value) (kindIs "map" $current) }}
{{- $_ := set $out $key (include "baton.merge" (dict "base" $current "over" $value) | fromYaml) }}
{{- else }}
{{- $_ := set $out $key $value }}
{{- end }}
{{- end }}
{{- toYaml $out }}
{{- end }}

{{/* A service's settings as YAML: serviceDefaults overridden by services.<name>. */}}
{{- define "baton.serviceValues" -}}
{{- include "baton.merge" (dict "base" .root.Values.serviceDefaults "over" (index .root.Values.services .component)) }}
{{- end }}

{{/* The ConfigMap's data, also given inline to the hook Jobs (which run before it exists). */}}
{{- define "baton.configData" -}}
BATON_KAFKA_BOOTSTRAP: {{ .Values.config.kafkaBootstrap | quote }}
BATON_TOPIC_PREFIX: {{ .Values.config.topicPrefix | quote }}
BATON_PARTITIONS: {{ .Values.config.partitions | quote }}
{{- with .Values.config.replication }}
BATON_REPLICATION: {{ . | quote }}
{{- end }}
{{- with .Values.config.pgSchema }}
BATON_PG_SCHEMA: {{ . | quote }}
{{- end }}
BATON_LOG_LEVEL: {{ .Values.config.logLevel | quote }}
BATON_HEARTBEAT_INTERVAL: {{ .Values.config.heartbeatInterval | quote }}
BATON_HTTP_HOST: "0.0.0.0"
BATON_HOME: "/tmp/baton"
HOME: "/tmp"
{{- with .Values.config.otlpEndpoint }}
OTEL_EXPORTER_OTLP_ENDPOINT: {{ . | quote }}
{{- end }}
{{- range $key, $value := .Values.config.retention }}
{{- if ne (toString $value) "" }}
BATON_RETENTION_{{ upper $key }}: {{ $value | toString | quote }}
{{- end }}
{{- end }}
{{- range $name, $value := .Values.config.extraEnv }}
{{ $name }}: {{ $value | toString | quote }}
{{- end }}
{{- end }}

{{/*
BATON_STOP_GRACE of a service's pods: 5 s under terminationGracePeriodSeconds (at least
1), so the service has stopped by itself before Kubernetes kills it.
*/}}
{{- define "baton.stopGrace" -}}
{{- max 1 (sub (int .terminationGracePeriodSeconds) 5) }}
{{- end }}

{{/* Secret data of the chart's own Secret (base64 encoded). */}}
{{- define "baton.secretData" -}}
{{ .Values.secret.dsnKey }}: {{ required "secret.pgDsn is required unless secret.existingSecret is set" .Values.secret.pgDsn | b64enc | quote }}
{{- range $name, $value := .Values.secret.extraEnv }}
{{ $name }}: {{ $value | toString | b64enc | quote }}
{{- end }}
{{- end }}

{{/* Pod-level settings shared by the Deployments and the hook Jobs. */}}
{{- define "baton.podCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
automountServiceAccountToken: {{ .Values.automountServiceAccountToken }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
volumes:
  - name: tmp
    emptyDir:
      {{- with .Values.tmpVolume.sizeLimit }}
      sizeLimit: {{ . }}
      {{- end }}
{{- end }}

{{/* Container-level settings shared by the Deployments and the hook Jobs. */}}
{{- define "baton.containerCommon" -}}
image: {{ include "baton.image" . | quote }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
{{- end }}
