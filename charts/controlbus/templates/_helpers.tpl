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
