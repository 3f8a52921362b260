{{/*
Pod building blocks shared by the QMTL services (gateway, dagmanager, worldservice).

Every QMTL pod:
  - init container "qmtl-config": assembles /etc/qmtl/qmtl.yml (in-memory emptyDir) from the
    umbrella's ConfigMap "qmtl-config" and this service's own Secret-provided credentials;
  - init container "coordinator-guard" (prod only, no switch): waits for {coordinator_url}/healthz
    with bounded retries, then fails the pod visibly; used by services that depend on the coordinator;
  - mounts /etc/qmtl read-only in the main container (worldservice uses it as its working directory).

Call the helpers with (dict "ctx" $ "service" "gateway" "image" <image ref> "guard" true|false).
*/}}

{{- define "qmtl.configMapName" -}}qmtl-config{{- end -}}
{{- define "qmtl.configDir" -}}/etc/qmtl{{- end -}}
{{- define "qmtl.configFile" -}}/etc/qmtl/qmtl.yml{{- end -}}
{{- define "qmtl.configTemplateDir" -}}/etc/qmtl-template{{- end -}}

{{/* env entries (secretKeyRef) for the credentials a service's config view needs */}}
{{- define "qmtl.pod.secretEnv" -}}
{{- $view := include "qmtl.config.forService" (dict "global" .ctx.Values.global "service" .service) | fromYaml -}}
{{- range $env := keys $view.secrets | sortAlpha }}
{{- $ref := get $view.secrets $env }}
{{- if not $ref.name }}
{{- fail (printf "%s needs a Secret for %s but none is set: give the external dependency an existingSecret (see values.yaml, global.<dependency>.external.existingSecret)" $.service $env) }}
{{- end }}
- name: {{ $env }}
  valueFrom:
    secretKeyRef:
      name: {{ $ref.name | quote }}
      key: {{ $ref.key | quote }}
{{- end }}
{{- end -}}

{{- define "qmtl.pod.initContainers" -}}
{{- $sections := get (include "qmtl.config.sections" . | fromYaml) .service -}}
- name: qmtl-config
  image: {{ .image | quote }}
  imagePullPolicy: {{ .pullPolicy | default "IfNotPresent" }}
  command:
    - python3
    - {{ include "qmtl.configTemplateDir" . }}/assemble_config.py
    - {{ include "qmtl.configTemplateDir" . }}/qmtl.json
    - {{ join "," $sections | quote }}
    - {{ include "qmtl.configFile" . }}
  env:
    {{- include "qmtl.pod.secretEnv" . | nindent 4 }}
  securityContext:
    {{- include "qmtl.containerSecurityContext" dict | nindent 4 }}
  resources:
    {{- include "qmtl.resources" (dict "ctx" .ctx "container" "qmtl-init") | nindent 4 }}
  volumeMounts:
    - name: qmtl-config-template
      mountPath: {{ include "qmtl.configTemplateDir" . }}
      readOnly: true
    - name: qmtl-config
      mountPath: {{ include "qmtl.configDir" . }}
{{- if and .guard (eq (include "qmtl.profile" .ctx) "prod") }}
- name: coordinator-guard
  image: {{ .image | quote }}
  imagePullPolicy: {{ .pullPolicy | default "IfNotPresent" }}
  command:
    - python3
    - {{ include "qmtl.configTemplateDir" . }}/coordinator_guard.py
    - --config
    - {{ include "qmtl.configFile" . }}
  env:
    - name: QMTL_GUARD_ATTEMPTS
      value: {{ .ctx.Values.global.guard.attempts | quote }}
    - name: QMTL_GUARD_INTERVAL_SECONDS
      value: {{ .ctx.Values.global.guard.intervalSeconds | quote }}
    - name: QMTL_GUARD_TIMEOUT_SECONDS
      value: {{ .ctx.Values.global.guard.timeoutSeconds | quote }}
  securityContext:
    {{- include "qmtl.containerSecurityContext" dict | nindent 4 }}
  resources:
    {{- include "qmtl.resources" (dict "ctx" .ctx "container" "qmtl-init") | nindent 4 }}
  volumeMounts:
    - name: qmtl-config-template
      mountPath: {{ include "qmtl.configTemplateDir" . }}
      readOnly: true
    - name: qmtl-config
      mountPath: {{ include "qmtl.configDir" . }}
      readOnly: true
{{- end }}
{{- end -}}

{{/* volumes for the config template (ConfigMap) and the assembled file (in-memory emptyDir) */}}
{{- define "qmtl.pod.configVolumes" -}}
- name: qmtl-config-template
  configMap:
    name: {{ include "qmtl.configMapName" . }}
    defaultMode: 0444
- name: qmtl-config
  emptyDir:
    medium: Memory
    sizeLimit: 1Mi
{{- end -}}

{{/* main container's mount of the assembled config */}}
{{- define "qmtl.pod.configMount" -}}
- name: qmtl-config
  mountPath: {{ include "qmtl.configDir" . }}
  readOnly: true
{{- end -}}
