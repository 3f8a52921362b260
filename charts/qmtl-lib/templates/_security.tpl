{{/*
Security contexts that meet Pod Security Standards "restricted".

Pod level: call with (dict "ctx" $ "user" 10001 "group" 10001 "fsGroup" 10001); user/group/fsGroup
default to 10001 when absent. Container level: call with (dict "readOnlyRootFilesystem" true) or an
empty dict (read-only root filesystem is the default; a container that must write to its root FS
says so explicitly and explains why next to the call).
*/}}
{{- define "qmtl.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .user | default 10001 }}
runAsGroup: {{ .group | default 10001 }}
fsGroup: {{ .fsGroup | default (.group | default 10001) }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "qmtl.containerSecurityContext" -}}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: {{ if hasKey . "readOnlyRootFilesystem" }}{{ .readOnlyRootFilesystem }}{{ else }}true{{ end }}
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}
