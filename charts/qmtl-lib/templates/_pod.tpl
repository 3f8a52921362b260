{{/*
Pod building blocks shared by the core services (gateway, dagmanager, worldservice, and the parts of
seamless-coordinator that are not QMTL-specific).

Every QMTL pod:
  - init container "qmtl-config": assembles /etc/qmtl/qmtl.yml (in-memory emptyDir) from the
    umbrella's ConfigMap "qmtl-config" and this service's own Secret-provided credentials;
  - init container "coordinator-guard" (prod only, no switch): waits for {coordinator_url}/healthz
    with bounded retries, then fails the pod visibly; used by services that depend on the coordinator;
  - mounts /etc/qmtl read-only in the main container (worldservice also gets the file itself in its
    data dir, its working directory, since it reads only ./qmtl.yml);
  - writes only to /tmp (emptyDir) and, when it runs in a local mode (sqlite / in-memory graph) or
    runs in its data dir ("workInDataDir"), to its data dir (qmtl.dataDir, emptyDir). Its root
    filesystem is read-only.

Call the helpers with (dict "ctx" $ "service" "gateway" "image" <image ref> "pullPolicy" <policy>
"guard" true|false ["workInDataDir" true]). "workInDataDir": the service writes files relative to its
working directory (QMTL's gateway: ./.risk_blobs), so its pod always gets the data dir and the
container sets workingDir to it.
*/}}

{{- define "qmtl.configMapName" -}}qmtl-config{{- end -}}
{{- define "qmtl.configDir" -}}/etc/qmtl{{- end -}}
{{- define "qmtl.configFile" -}}/etc/qmtl/qmtl.yml{{- end -}}
{{- define "qmtl.configTemplateDir" -}}/etc/qmtl-template{{- end -}}
{{/* QMTL's gateway dials DAG Manager here; it is hard-coded in QMTL and cannot be configured. */}}
{{- define "qmtl.gatewayDagmanagerDial" -}}127.0.0.1:50051{{- end -}}

{{/* QMTL_POD_NAME (the downward API) for the config assembler, when the service's config view has a
     per-replica value ("${QMTL_POD_NAME}": the gateway's Kafka client ids); nothing otherwise */}}
{{- define "qmtl.pod.nameEnv" -}}
{{- $view := dict -}}{{- include "qmtl.config.forService.into" (dict "ctx" .ctx "service" .service "into" $view) -}}
{{- if contains "${QMTL_POD_NAME}" (toJson $view.config) }}
- name: QMTL_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- end }}
{{- end -}}

{{/* env entries (secretKeyRef) for the credentials a service's config view needs */}}
{{- define "qmtl.pod.secretEnv" -}}
{{- $view := dict -}}{{- include "qmtl.config.forService.into" (dict "ctx" .ctx "service" .service "into" $view) -}}
{{- range $env := keys $view.secrets | sortAlpha }}
{{- $ref := get $view.secrets $env }}
{{- if not $ref.name }}
{{- fail (printf "%s needs a Secret for %s but none is set: give the external dependency an existingSecret (global.<dependency>.external.existingSecret in values.yaml)" $.service $env) }}
{{- end }}
- name: {{ $env }}
  valueFrom:
    secretKeyRef:
      name: {{ $ref.name | quote }}
      key: {{ $ref.key | quote }}
{{- end }}
{{- end -}}

{{/* env every QMTL container gets: HOME on the writable /tmp (QMTL expands ~ in a few defaults),
     unbuffered logs, no .pyc writes on the read-only root filesystem */}}
{{- define "qmtl.pod.baseEnv" -}}
- name: HOME
  value: /tmp
- name: PYTHONUNBUFFERED
  value: "1"
- name: PYTHONDONTWRITEBYTECODE
  value: "1"
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
    {{- include "qmtl.pod.baseEnv" . | nindent 4 }}
    {{- include "qmtl.pod.nameEnv" . | nindent 4 }}
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
{{- /* An empty URL is refused by the schema and the aggregated values check (and by the guard itself, which then exits 1). */}}
{{- $url := .ctx.Values.global.seamless.coordinator_url | default "" | trim }}
- name: coordinator-guard
  image: {{ .image | quote }}
  imagePullPolicy: {{ .pullPolicy | default "IfNotPresent" }}
  command:
    - python3
    - {{ include "qmtl.configTemplateDir" . }}/coordinator_guard.py
    - --url
    - {{ $url | quote }}
  env:
    {{- include "qmtl.pod.baseEnv" . | nindent 4 }}
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
{{- end }}
{{- end -}}

{{/* volumes for the config template (ConfigMap), the assembled file (in-memory emptyDir), /tmp and,
     in a local mode or with workInDataDir, the data dir. (dict "ctx" $ "service" "gateway") */}}
{{- define "qmtl.pod.configVolumes" -}}
- name: qmtl-config-template
  configMap:
    name: {{ include "qmtl.configMapName" . }}
    defaultMode: 0444
- name: qmtl-config
  emptyDir:
    medium: Memory
    sizeLimit: 1Mi
- name: tmp
  emptyDir:
    sizeLimit: 256Mi
{{- if .service }}
{{- $view := dict }}{{- include "qmtl.config.forService.into" (dict "ctx" .ctx "service" .service "into" $view) }}
{{- if or $view.local .workInDataDir }}
- name: data
  emptyDir:
    sizeLimit: 1Gi
{{- end }}
{{- end }}
{{- end -}}

{{/* main container's mounts: the assembled config, /tmp and the data dir when the service runs in a
     local mode or with workInDataDir. (dict "ctx" $ "service" "gateway") */}}
{{- define "qmtl.pod.configMount" -}}
- name: qmtl-config
  mountPath: {{ include "qmtl.configDir" . }}
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- if .service }}
{{- $view := dict }}{{- include "qmtl.config.forService.into" (dict "ctx" .ctx "service" .service "into" $view) }}
{{- if or $view.local .workInDataDir }}
- name: data
  mountPath: {{ include "qmtl.dataDir" . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* pod annotation that rolls the pod when what it reads changes. (dict "ctx" $ "service" "gateway") */}}
{{- define "qmtl.pod.checksumAnnotation" -}}
checksum/qmtl-config: {{ include "qmtl.config.checksum" (dict "ctx" .ctx "service" .service) | quote }}
{{- end -}}

{{/*
The gateway's forwarder sidecar: 127.0.0.1:50051 (where QMTL's gateway dials DAG Manager) to the
dagmanager Service's gRPC port. Runs qmtl.script.forwarder with the gateway image's python3.
Call with (dict "ctx" $ "image" <ref> "pullPolicy" <policy> "healthPort" <port>).
*/}}
{{- define "qmtl.pod.forwarder" -}}
{{- $upstream := printf "%s:%d" (include "qmtl.serviceName" "dagmanager") (int .ctx.Values.global.ports.dagmanagerGrpc) -}}
- name: dagmanager-forwarder
  image: {{ .image | quote }}
  imagePullPolicy: {{ .pullPolicy | default "IfNotPresent" }}
  command:
    - python3
    - {{ include "qmtl.configTemplateDir" . }}/tcp_forwarder.py
    - {{ include "qmtl.gatewayDagmanagerDial" . | quote }}
    - {{ $upstream | quote }}
    - {{ printf "0.0.0.0:%d" (int .healthPort) | quote }}
  env:
    {{- include "qmtl.pod.baseEnv" . | nindent 4 }}
  ports:
    - name: fwd-health
      containerPort: {{ .healthPort }}
      protocol: TCP
  readinessProbe:
    httpGet:
      path: /healthz
      port: fwd-health
    periodSeconds: 10
    timeoutSeconds: 2
    failureThreshold: 3
  livenessProbe:
    httpGet:
      path: /healthz
      port: fwd-health
    initialDelaySeconds: 5
    periodSeconds: 20
    timeoutSeconds: 2
    failureThreshold: 3
  securityContext:
    {{- include "qmtl.containerSecurityContext" dict | nindent 4 }}
  resources:
    {{- include "qmtl.resources" (dict "ctx" .ctx "container" "gateway-forwarder") | nindent 4 }}
  volumeMounts:
    - name: qmtl-config-template
      mountPath: {{ include "qmtl.configTemplateDir" . }}
      readOnly: true
{{- end -}}

{{/* The built-in placement of the QMTL services and the coordinator (qmtl.pod.placement's "builtin"):
     in prod, replicas spread over nodes and zones (soft, so a small cluster still schedules).
     (dict "ctx" $ "component" "gateway") */}}
{{- define "qmtl.pod.defaultSpread" -}}
{{- if eq (include "qmtl.profile" .ctx) "prod" }}
topologySpreadConstraints:
{{- range $key := list "kubernetes.io/hostname" "topology.kubernetes.io/zone" }}
  - maxSkew: 1
    topologyKey: {{ $key }}
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "qmtl.selectorLabels" $ | nindent 8 }}
    matchLabelKeys:
      - pod-template-hash
{{- end }}
{{- end }}
{{- end -}}

{{/* ServiceAccount without an API token (no core service talks to the Kubernetes API).
     (dict "ctx" $ "component" "gateway") */}}
{{- define "qmtl.serviceAccount" -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "qmtl.serviceName" .component }}
  labels:
    {{- include "qmtl.labels" . | nindent 4 }}
automountServiceAccountToken: false
{{- end -}}

{{/* PodDisruptionBudget, prod only: at most one pod of the workload down at a time.
     (dict "ctx" $ "component" "gateway") */}}
{{- define "qmtl.podDisruptionBudget" -}}
{{- if eq (include "qmtl.profile" .ctx) "prod" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "qmtl.serviceName" .component }}
  labels:
    {{- include "qmtl.labels" . | nindent 4 }}
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      {{- include "qmtl.selectorLabels" . | nindent 6 }}
{{- end -}}
{{- end -}}
