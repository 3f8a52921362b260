{{/*
Persistence of a bundled dependency's StatefulSet (postgres, neo4j, questdb, minio, ...), from the
workload's own `persistence` values:

  persistence:
    size: 8Gi                  # or per profile: {dev: 1Gi, prod: 50Gi}
    storageClass: ""           # "" = the cluster's default StorageClass; "-" = storageClassName: ""
                               #   (no dynamic provisioning: bind a pre-created PV); else a class name
    accessModes: [ReadWriteOnce]
    retentionPolicy:           # StatefulSet persistentVolumeClaimRetentionPolicy
      whenDeleted: Retain      # Retain: `helm uninstall` keeps the data; Delete: it goes with the set
      whenScaled: Retain

  qmtl.persistence.claimTemplate   (dict "ctx" $ "component" "postgres" "name" "data" "what" "postgres.persistence")
                                   one volumeClaimTemplates entry
  qmtl.persistence.retentionPolicy (dict "ctx" $ "what" "postgres.persistence")
                                   the persistentVolumeClaimRetentionPolicy block
  qmtl.persistence.keep            (dict "ctx" $ "what" "postgres.persistence")
                                   "true" when the data outlives the release (whenDeleted: Retain). The
                                   Secrets a dependency's data was initialised with (superuser, root and
                                   admin passwords) are then kept too (helm.sh/resource-policy: keep):
                                   a re-install with the same release name adopts them, so the kept
                                   data and its credentials still match.
*/}}
{{- define "qmtl.persistence.values" -}}
{{- $p := .ctx.Values.persistence | default dict -}}
{{- $profile := include "qmtl.profile" .ctx -}}
{{- $size := $p.size -}}
{{- if kindIs "map" $size -}}{{- $size = get $size $profile -}}{{- end -}}
{{- if not $size -}}
{{- fail (printf "%s.size is empty for profile %s: give a volume size such as 8Gi (or {dev: 1Gi, prod: 50Gi})" .what $profile) -}}
{{- end -}}
{{- if not (regexMatch "^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$" (toString $size)) -}}
{{- fail (printf "%s.size %q is not a Kubernetes quantity (e.g. 8Gi)" .what (toString $size)) -}}
{{- end -}}
{{- $retention := merge (deepCopy ($p.retentionPolicy | default dict)) (dict "whenDeleted" "Retain" "whenScaled" "Retain") -}}
{{- range $k := list "whenDeleted" "whenScaled" -}}
{{- if not (has (get $retention $k) (list "Retain" "Delete")) -}}
{{- fail (printf "%s.retentionPolicy.%s must be Retain or Delete (got %v)" $.what $k (get $retention $k)) -}}
{{- end -}}
{{- end -}}
{{- toYaml (dict "size" (toString $size) "storageClass" ($p.storageClass | default "") "accessModes" ($p.accessModes | default (list "ReadWriteOnce")) "retention" $retention) -}}
{{- end -}}

{{- define "qmtl.persistence.claimTemplate" -}}
{{- $v := include "qmtl.persistence.values" . | fromYaml -}}
- apiVersion: v1
  kind: PersistentVolumeClaim
  metadata:
    name: {{ .name }}
    labels:
      {{- include "qmtl.selectorLabels" (dict "ctx" .ctx "component" .component) | nindent 6 }}
  spec:
    accessModes:
      {{- toYaml $v.accessModes | nindent 6 }}
    {{- if eq $v.storageClass "-" }}
    storageClassName: ""
    {{- else if $v.storageClass }}
    storageClassName: {{ $v.storageClass | quote }}
    {{- end }}
    resources:
      requests:
        storage: {{ $v.size | quote }}
{{- end -}}

{{- define "qmtl.persistence.retentionPolicy" -}}
{{- $v := include "qmtl.persistence.values" . | fromYaml -}}
whenDeleted: {{ $v.retention.whenDeleted }}
whenScaled: {{ $v.retention.whenScaled }}
{{- end -}}

{{- define "qmtl.persistence.keep" -}}
{{- $v := include "qmtl.persistence.values" . | fromYaml -}}
{{- if eq $v.retention.whenDeleted "Retain" -}}true{{- end -}}
{{- end -}}
