{{- /*
qmtl.serviceDeployment: the Deployment of one QMTL service (gateway, dagmanager, worldservice). What the three
share is written here once: image (global.qmtlImage unless <service>.image overrides it), replicas or HPA,
rolling update, pod metadata with the config checksum, service account, security contexts, the config
init containers and volumes, resources, placement. What differs comes from the service's own chart as
named templates, each called with (dict "ctx" $ "image" <ref> "pullPolicy" <policy>):
  "<service>.container.run"    how the process starts: command (and workingDir), above its env
  "<service>.container.serve"  ports and probes
  "<service>.container.mounts" volume mounts besides the config's (may render nothing)
  "<service>.sidecars"         further containers of the pod (may render nothing)
Call: (dict "ctx" $ "service" "gateway" "guard" true|false ["workInDataDir" true]); "guard" and
"workInDataDir" as for the qmtl.pod.* helpers (_pod.tpl).
*/}}
{{- define "qmtl.serviceDeployment" -}}
{{- $ := .ctx }}
{{- $service := .service }}
{{- $imgDefault := merge (dict "pullPolicy" $.Values.global.imagePullPolicy) (deepCopy $.Values.global.qmtlImage) }}
{{- $image := include "qmtl.image" (dict "ctx" $ "image" $.Values.image "default" $imgDefault "what" (printf "%s.image (default: global.qmtlImage)" $service)) }}
{{- $pull := include "qmtl.imagePullPolicy" (dict "image" $.Values.image "default" $imgDefault) }}
{{- $pod := dict "ctx" $ "service" $service "image" $image "pullPolicy" $pull "guard" .guard }}
{{- if .workInDataDir }}{{- $_ := set $pod "workInDataDir" true }}{{- end }}
{{- $parts := dict "ctx" $ "image" $image "pullPolicy" $pull }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "qmtl.serviceName" $service }}
  labels:
    {{- include "qmtl.labels" (dict "ctx" $ "component" $service) | nindent 4 }}
spec:
  {{- include "qmtl.replicasField" (dict "ctx" $ "workload" $service) | nindent 2 }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "qmtl.selectorLabels" (dict "ctx" $ "component" $service) | nindent 6 }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
  template:
    metadata:
      {{- include "qmtl.pod.metadata" (dict "ctx" $ "values" $.Values "component" $service "annotations" (include "qmtl.pod.checksumAnnotation" $pod | fromYaml)) | nindent 6 }}
    spec:
      serviceAccountName: {{ include "qmtl.serviceName" $service }}
      automountServiceAccountToken: false
      enableServiceLinks: false
      {{- include "qmtl.imagePullSecrets" $ | nindent 6 }}
      securityContext:
        {{- include "qmtl.podSecurityContext" dict | nindent 8 }}
      initContainers:
        {{- include "qmtl.pod.initContainers" $pod | nindent 8 }}
      containers:
        - name: {{ $service }}
          image: {{ $image | quote }}
          imagePullPolicy: {{ $pull }}
          {{- include (printf "%s.container.run" $service) $parts | nindent 10 }}
          env:
            {{- include "qmtl.pod.baseEnv" $ | nindent 12 }}
          {{- include (printf "%s.container.serve" $service) $parts | nindent 10 }}
          securityContext:
            {{- include "qmtl.containerSecurityContext" dict | nindent 12 }}
          resources:
            {{- include "qmtl.resources" (dict "ctx" $ "container" $service) | nindent 12 }}
          volumeMounts:
            {{- include "qmtl.pod.configMount" $pod | nindent 12 }}
            {{- with include (printf "%s.container.mounts" $service) $parts | default "" }}
            {{- . | nindent 12 }}
            {{- end }}
        {{- with include (printf "%s.sidecars" $service) $parts | default "" }}
        {{- . | nindent 8 }}
        {{- end }}
      volumes:
        {{- include "qmtl.pod.configVolumes" $pod | nindent 8 }}
      {{- include "qmtl.pod.placement" (dict "ctx" $ "values" $.Values "component" $service "builtin" (include "qmtl.pod.defaultSpread" (dict "ctx" $ "component" $service) | fromYaml)) | nindent 6 }}
{{- end }}
