{{/* Headless Service of the brokers (stable per-pod DNS names for advertised addresses and seeds). */}}
{{- define "controlbus.headless" -}}{{ include "qmtl.serviceName" "controlbus" }}-headless{{- end -}}

{{/* Broker count of this profile (global.replicas.<profile>.controlbus). */}}
{{- define "controlbus.brokers" -}}
{{- $n := include "qmtl.replicas" (dict "ctx" . "workload" "controlbus") | int -}}
{{- if lt $n 1 -}}
{{- fail (printf "global.replicas.%s.controlbus must be at least 1 (got %d)" .Values.global.profile $n) -}}
{{- end -}}
{{- $n -}}
{{- end -}}

{{/* Replication factor of the ControlBus topics: 3, or the broker count when there are fewer. */}}
{{- define "controlbus.replicationFactor" -}}
{{- min 3 (include "controlbus.brokers" . | int) -}}
{{- end -}}

{{/* DNS name of broker i: (dict "ctx" $ "i" 0) */}}
{{- define "controlbus.brokerHost" -}}
{{- printf "%s-%d.%s.%s.svc.cluster.local" (include "qmtl.serviceName" "controlbus") (int .i) (include "controlbus.headless" .ctx) .ctx.Release.Namespace -}}
{{- end -}}

{{/*
A Kubernetes quantity as a number: (dict "quantity" "1536Mi" "what" "<values path>") -> bytes;
CPU: (dict "quantity" "1500m" "cpu" true ...) -> whole cores (at least 1).
*/}}
{{- define "controlbus.quantity" -}}
{{- $q := toString .quantity -}}
{{- if .cpu -}}
{{- if not (regexMatch "^[0-9]+(m)?$" $q) -}}
{{- fail (printf "%s: %q is not a CPU quantity this chart understands (use e.g. 2 or 1500m)" .what $q) -}}
{{- end -}}
{{- $cores := ternary (div (trimSuffix "m" $q | int64) 1000) ($q | int64) (hasSuffix "m" $q) -}}
{{- max 1 $cores -}}
{{- else -}}
{{- $units := dict "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 -}}
{{- if not (regexMatch "^[0-9]+(Ki|Mi|Gi|Ti|k|M|G|T)?$" $q) -}}
{{- fail (printf "%s: %q is not a memory quantity this chart understands (use e.g. 1536Mi or 4Gi)" .what $q) -}}
{{- end -}}
{{- $num := regexReplaceAll "^([0-9]+).*$" $q "${1}" | int64 -}}
{{- $suffix := regexReplaceAll "^[0-9]+" $q "" -}}
{{- if $suffix -}}{{- mul $num (get $units $suffix | int64) -}}{{- else -}}{{- $num -}}{{- end -}}
{{- end -}}
{{- end -}}
