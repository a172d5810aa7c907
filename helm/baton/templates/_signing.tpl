{{/*
Ed25519 message signing (signing.ed25519, docs/security.md). Each service signs with the
private key files of its own Secret (services.<name>.signingKey), mounted in its pods only;
every pod, the hook Jobs too, verifies with the public key files of signing.ed25519.publicKeys.
The key files are mounted as whole directories (never subPath), so a Secret or ConfigMap
updated for a key rotation reaches running pods, which re-read their key files.
*/}}

{{- define "baton.signingPublicDir" -}}
/etc/baton/signing/public
{{- end }}

{{- define "baton.signingPrivateDir" -}}
/etc/baton/signing/private
{{- end }}

{{/* Where the public keys come from: "secret", "configMap" or "chart" (signing.ed25519.publicKeys.files). */}}
{{- define "baton.signingPublicSource" -}}
{{- $keys := .Values.signing.ed25519.publicKeys }}
{{- $given := 0 }}
{{- range $set := list $keys.secretName $keys.configMapName (len $keys.files) }}
{{- if $set }}{{- $given = add1 $given }}{{- end }}
{{- end }}
{{- if ne $given 1 }}
{{- fail "signing.ed25519.publicKeys: set one of secretName, configMapName or files (the <key id>.pub files of every publisher)" }}
{{- end }}
{{- if $keys.secretName }}secret
{{- else if $keys.configMapName }}configMap
{{- else }}chart
{{- end }}
{{- end }}

{{/* Name of the chart's ConfigMap of public keys; its hook copy serves the pre-install Jobs. */}}
{{- define "baton.signingPublicConfigMap" -}}
{{- printf "%s-signing-public" (include "baton.fullname" .) }}
{{- end }}

{{/*
The Secret of a service's private key files: its signingKey.existingSecret, or the chart's
own made from signingKey.files. Call with (dict "root" $ "component" "hub" "settings" $svc).
*/}}
{{- define "baton.signingPrivateSecret" -}}
{{- $key := .settings.signingKey }}
{{- $where := printf "services.%s.signingKey" .component }}
{{- if and $key.existingSecret (len $key.files) }}
{{- fail (printf "%s: set existingSecret or files, not both" $where) }}
{{- else if $key.existingSecret }}
{{- $key.existingSecret }}
{{- else if len $key.files }}
{{- printf "%s-%s-signing" (include "baton.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- fail (printf "%s: signing.ed25519.enabled needs this service's private key files (<key id>.key): existingSecret or files" $where) }}
{{- end }}
{{- end }}

{{/*
Fails the render when two services would mount the same private key Secret: each
service's Secret holds its own key, so no pod can read another service's.
*/}}
{{- define "baton.signingCheck" -}}
{{- if .Values.signing.ed25519.enabled }}
{{- $_ := include "baton.signingPublicSource" . }}
{{- $owner := dict }}
{{- range $component, $enabled := .Values.services }}
{{- if $enabled.enabled }}
{{- $svc := include "baton.serviceValues" (dict "root" $ "component" $component) | fromYaml }}
{{- $name := include "baton.signingPrivateSecret" (dict "root" $ "component" $component "settings" $svc) }}
{{- if hasKey $owner $name }}
{{- fail (printf "services.%s.signingKey and services.%s.signingKey name the same Secret %s: each service's private key stays in a Secret of its own" (get $owner $name) $component $name) }}
{{- end }}
{{- $_ := set $owner $name $component }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* The key volumes of a pod: public keys everywhere, the service's own private keys in its
pods only (never in the hook Jobs). Called as baton.podCommon. */}}
{{- define "baton.signingVolumes" -}}
{{- $root := .root }}
{{- if $root.Values.signing.ed25519.enabled }}
{{- $keys := $root.Values.signing.ed25519.publicKeys }}
{{- $source := include "baton.signingPublicSource" $root }}
- name: signing-public
  {{- if eq $source "secret" }}
  secret:
    secretName: {{ $keys.secretName }}
  {{- else }}
  configMap:
    {{- if eq $source "configMap" }}
    name: {{ $keys.configMapName }}
    {{- else if .hook }}
    name: {{ include "baton.signingPublicConfigMap" $root }}-hooks
    {{- else }}
    name: {{ include "baton.signingPublicConfigMap" $root }}
    {{- end }}
  {{- end }}
{{- if not .hook }}
- name: signing-private
  secret:
    secretName: {{ include "baton.signingPrivateSecret" . }}
    # 0440: the container's user reads it through the pod's fsGroup; nobody writes it.
    defaultMode: 288
{{- end }}
{{- end }}
{{- end }}

{{- define "baton.signingMounts" -}}
{{- if .root.Values.signing.ed25519.enabled }}
- name: signing-public
  mountPath: {{ include "baton.signingPublicDir" .root }}
  readOnly: true
{{- if not .hook }}
- name: signing-private
  mountPath: {{ include "baton.signingPrivateDir" .root }}
  readOnly: true
{{- end }}
{{- end }}
{{- end }}

{{/*
BATON_SIGNING_PUBLIC_KEYS in every pod; a service's BATON_SIGNING_PRIVATE_KEYS and
BATON_SIGNING_KEY_ID (signingKey.publisher, else the service's name: it signs with its
newest key). A variable the component's own env sets is left to it.
*/}}
{{- define "baton.signingEnv" -}}
{{- if .root.Values.signing.ed25519.enabled }}
{{- $own := .settings.env | default dict }}
{{- $vars := dict "BATON_SIGNING_PUBLIC_KEYS" (include "baton.signingPublicDir" .root) }}
{{- if not .hook }}
{{- $_ := set $vars "BATON_SIGNING_PRIVATE_KEYS" (include "baton.signingPrivateDir" .root) }}
{{- $_ := set $vars "BATON_SIGNING_KEY_ID" (.settings.signingKey.publisher | default .component) }}
{{- end }}
{{- range $var, $value := $vars }}
{{- if not (hasKey $own $var) }}
- name: {{ $var }}
  value: {{ $value | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
