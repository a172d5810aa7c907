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

{{/* The Secret holding the services' credentials (BATON_PG_DSN, the Kafka SASL principal,
the signing keys, secret.extraEnv). */}}
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
BATON_KAFKA_SECURITY_PROTOCOL: {{ .Values.config.kafkaSecurityProtocol | quote }}
{{- if hasPrefix "SASL_" .Values.config.kafkaSecurityProtocol }}
BATON_KAFKA_SASL_MECHANISM: {{ .Values.config.kafkaSaslMechanism | quote }}
{{- end }}
{{- if include "baton.kafkaCaSource" . }}
BATON_KAFKA_CA_FILE: {{ include "baton.kafkaCaFile" . | quote }}
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
BATON_STOP_GRACE of a service's pods: what terminationGracePeriodSeconds leaves after the
preStop sleep (SIGTERM comes only once it ends), less 5 s (at least 1), so the service has
stopped by itself before Kubernetes kills it. Call with the service's settings.
*/}}
{{- define "baton.stopGrace" -}}
{{- $grace := int .terminationGracePeriodSeconds }}
{{- $sleep := int .preStopSleepSeconds }}
{{- if and (gt $sleep 0) (ge $sleep $grace) }}
{{- fail (printf "preStopSleepSeconds (%d) must be under terminationGracePeriodSeconds (%d): SIGTERM comes after the sleep" $sleep $grace) }}
{{- end }}
{{- max 1 (sub (sub $grace $sleep) 5) }}
{{- end }}

{{/*
Secret data of the chart's own Secret (base64 encoded): the DSN, the shared Kafka SASL
principal and the signing keys when set, each component's own SASL principal given inline
(under "<component>-kafka-sasl-username" / "-password"), and secret.extraEnv.
*/}}
{{- define "baton.secretData" -}}
{{- $secret := .Values.secret }}
{{ $secret.dsnKey }}: {{ required "secret.pgDsn is required unless secret.existingSecret is set" $secret.pgDsn | b64enc | quote }}
{{- range $pair := list (list $secret.kafkaSaslUsernameKey $secret.kafkaSaslUsername) (list $secret.kafkaSaslPasswordKey $secret.kafkaSaslPassword) (list $secret.signingKeysKey $secret.signingKeys) }}
{{- if index $pair 1 }}
{{ index $pair 0 }}: {{ index $pair 1 | b64enc | quote }}
{{- end }}
{{- end }}
{{- range $component, $sasl := include "baton.inlineSasl" . | fromYaml }}
{{ $component }}-kafka-sasl-username: {{ $sasl.username | b64enc | quote }}
{{ $component }}-kafka-sasl-password: {{ $sasl.password | b64enc | quote }}
{{- end }}
{{- range $name, $value := $secret.extraEnv }}
{{ $name }}: {{ $value | toString | b64enc | quote }}
{{- end }}
{{- $auth := .Values.httpAuth }}
{{- if and $auth.enabled (not $auth.existingSecret) }}
{{ $auth.key }}: {{ printf "%s\n" (join "\n" $auth.tokens) | b64enc | quote }}
{{- end }}
{{- end }}

{{/*
The Secret holding the HTTP tokens file: httpAuth.existingSecret, else the chart's Secret
(secret.existingSecret when set). Lines given in httpAuth.tokens need the chart's own.
*/}}
{{- define "baton.httpTokensSecret" -}}
{{- $auth := .Values.httpAuth }}
{{- if and $auth.tokens (or $auth.existingSecret .Values.secret.existingSecret) }}
{{- fail "httpAuth.tokens are kept in the chart's own Secret, which an existing Secret replaces: put the tokens file under httpAuth.key of that Secret instead" }}
{{- end }}
{{- $auth.existingSecret | default (include "baton.secretName" .) }}
{{- end }}

{{- define "baton.httpTokensDir" -}}
/etc/baton/http
{{- end }}

{{/*
Components (enabled services, and "jobs" for the hook Jobs) whose own Kafka SASL principal
is given inline (kafkaSasl.username and .password), as YAML: component -> kafkaSasl.
*/}}
{{- define "baton.inlineSasl" -}}
{{- $found := dict }}
{{- range $component, $enabled := .Values.services }}
{{- if $enabled.enabled }}
{{- $svc := include "baton.serviceValues" (dict "root" $ "component" $component) | fromYaml }}
{{- if and (not $svc.kafkaSasl.existingSecret) (or $svc.kafkaSasl.username $svc.kafkaSasl.password) }}
{{- $_ := set $found $component $svc.kafkaSasl }}
{{- end }}
{{- end }}
{{- end }}
{{- $jobs := .Values.jobs.kafkaSasl }}
{{- if and (or .Values.jobs.topics.enabled .Values.jobs.migrate.enabled) (not $jobs.existingSecret) (or $jobs.username $jobs.password) }}
{{- $_ := set $found "jobs" $jobs }}
{{- end }}
{{- toYaml $found }}
{{- end }}

{{/* One variable read from a Secret; call with (dict "name" N "secret" S "key" K "optional" B). */}}
{{- define "baton.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ .key }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end }}

{{/*
The environment of one Baton container, the same for the services and the hook Jobs:
- the configuration: inline for the Jobs (they run before the ConfigMap exists), which the
  services read from the ConfigMap (envFrom) instead;
- every credential the chart knows, from the chart's Secret (for the Jobs its hook copy) or
  secret.existingSecret: BATON_PG_DSN; the Kafka SASL principal, the component's own
  (kafkaSasl) or else the shared one; BATON_SIGNING_KEYS; secret.extraEnv. From an existing
  Secret all but the DSN are optional: a key it lacks leaves its variable unset;
- with Ed25519 signing, where the mounted key files are (baton.signingEnv);
- the component's own variables (env), which win over the configuration.
Call with (dict "root" $ "component" "hub" "settings" $svc "hook" false); settings holds
kafkaSasl and env.
*/}}
{{- define "baton.env" -}}
{{- $values := .root.Values }}
{{- $secret := $values.secret }}
{{- $existing := ne $secret.existingSecret "" }}
{{- $name := include "baton.secretName" .root }}
{{- if .hook }}
{{- $name = include "baton.hookSecretName" .root }}
{{- end }}
{{- $own := .settings.env | default dict }}
{{- if .hook }}
{{- range $var, $value := include "baton.configData" .root | fromYaml }}
{{- if not (hasKey $own $var) }}
- name: {{ $var }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}
{{- end }}
{{ include "baton.secretEnv" (dict "name" "BATON_PG_DSN" "secret" $name "key" $secret.dsnKey) }}
{{- $sasl := .settings.kafkaSasl }}
{{- $where := printf "%s.kafkaSasl" (ternary "jobs" (printf "services.%s" .component) .hook) }}
{{- if $sasl.existingSecret }}
{{ include "baton.secretEnv" (dict "name" "BATON_KAFKA_SASL_USERNAME" "secret" $sasl.existingSecret "key" $secret.kafkaSaslUsernameKey) }}
{{ include "baton.secretEnv" (dict "name" "BATON_KAFKA_SASL_PASSWORD" "secret" $sasl.existingSecret "key" $secret.kafkaSaslPasswordKey) }}
{{- else if or $sasl.username $sasl.password }}
{{- if not (and $sasl.username $sasl.password) }}
{{- fail (printf "%s: set both username and password (or existingSecret)" $where) }}
{{- end }}
{{- if $existing }}
{{- fail (printf "%s.username and .password are kept in the chart's own Secret, which secret.existingSecret replaces: give %s.existingSecret instead" $where $where) }}
{{- end }}
{{- $component := ternary "jobs" .component .hook }}
{{ include "baton.secretEnv" (dict "name" "BATON_KAFKA_SASL_USERNAME" "secret" $name "key" (printf "%s-kafka-sasl-username" $component)) }}
{{ include "baton.secretEnv" (dict "name" "BATON_KAFKA_SASL_PASSWORD" "secret" $name "key" (printf "%s-kafka-sasl-password" $component)) }}
{{- else }}
{{- if or $existing $secret.kafkaSaslUsername }}
{{ include "baton.secretEnv" (dict "name" "BATON_KAFKA_SASL_USERNAME" "secret" $name "key" $secret.kafkaSaslUsernameKey "optional" $existing) }}
{{- end }}
{{- if or $existing $secret.kafkaSaslPassword }}
{{ include "baton.secretEnv" (dict "name" "BATON_KAFKA_SASL_PASSWORD" "secret" $name "key" $secret.kafkaSaslPasswordKey "optional" $existing) }}
{{- end }}
{{- end }}
{{- if or $existing $secret.signingKeys }}
{{ include "baton.secretEnv" (dict "name" "BATON_SIGNING_KEYS" "secret" $name "key" $secret.signingKeysKey "optional" $existing) }}
{{- end }}
{{- range $var, $_ := $secret.extraEnv }}
{{ include "baton.secretEnv" (dict "name" $var "secret" $name "key" $var "optional" $existing) }}
{{- end }}
{{- include "baton.signingEnv" . }}
{{- range $var, $value := $own }}
- name: {{ $var }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}

{{/* Where the Kafka CA comes from: "secret", "configMap" or "" (the image's trust store). */}}
{{- define "baton.kafkaCaSource" -}}
{{- $ca := .Values.config.kafkaCa }}
{{- if and $ca.secretName $ca.configMapName }}
{{- fail "config.kafkaCa: set secretName or configMapName, not both" }}
{{- else if $ca.secretName }}secret
{{- else if $ca.configMapName }}configMap
{{- end }}
{{- end }}

{{- define "baton.kafkaCaDir" -}}
/etc/baton/kafka-ca
{{- end }}

{{/* BATON_KAFKA_CA_FILE: the CA's key, mounted as ca.crt in the read-only CA directory. */}}
{{- define "baton.kafkaCaFile" -}}
{{ include "baton.kafkaCaDir" . }}/ca.crt
{{- end }}

{{/*
Pod-level settings shared by the Deployments and the hook Jobs; call with
(dict "root" $ "component" "hub" "settings" $svc "hook" false), as baton.env. Volumes come
last, so that a Deployment can add its own.
*/}}
{{- define "baton.podCommon" -}}
{{- $root := .root }}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
automountServiceAccountToken: {{ $root.Values.automountServiceAccountToken }}
securityContext:
  {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
volumes:
  - name: tmp
    emptyDir:
      {{- with $root.Values.tmpVolume.sizeLimit }}
      sizeLimit: {{ . }}
      {{- end }}
  {{- $ca := $root.Values.config.kafkaCa }}
  {{- $items := list (dict "key" $ca.key "path" "ca.crt") }}
  {{- if eq (include "baton.kafkaCaSource" $root) "secret" }}
  - name: kafka-ca
    secret:
      secretName: {{ $ca.secretName }}
      items: {{ toJson $items }}
  {{- else if eq (include "baton.kafkaCaSource" $root) "configMap" }}
  - name: kafka-ca
    configMap:
      name: {{ $ca.configMapName }}
      items: {{ toJson $items }}
  {{- end }}
  {{- include "baton.signingVolumes" . | trim | nindent 2 }}
{{- end }}

{{/* Container-level settings shared by the Deployments and the hook Jobs; called as
baton.podCommon. volumeMounts come last, so that a Deployment can add its own. */}}
{{- define "baton.containerCommon" -}}
{{- $root := .root }}
image: {{ include "baton.image" $root | quote }}
imagePullPolicy: {{ $root.Values.image.pullPolicy }}
securityContext:
  {{- toYaml $root.Values.securityContext | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
  {{- if include "baton.kafkaCaSource" $root }}
  - name: kafka-ca
    mountPath: {{ include "baton.kafkaCaDir" $root }}
    readOnly: true
  {{- end }}
  {{- include "baton.signingMounts" . | trim | nindent 2 }}
{{- end }}
