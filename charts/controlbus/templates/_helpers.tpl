{{/* Headless Service of the brokers (stable per-pod DNS names for advertised addresses and seeds). */}}
{{- define "controlbus.headless" -}}{{ include "qmtl.serviceName" "controlbus" }}-headless{{- end -}}

{{/* Broker count of this profile (global.replicas.<profile>.controlbus). */}}
{{- define "controlbus.brokers" -}}
{{- /* at least 1, and at least 3 in prod: values.schema.json */ -}}
{{- include "qmtl.replicas" (dict "ctx" . "workload" "controlbus") | int -}}
{{- end -}}

{{/* Replication factor of the ControlBus topics: 3, or the broker count when there are fewer. */}}
{{- define "controlbus.replicationFactor" -}}
{{- min 3 (include "controlbus.brokers" . | int) -}}
{{- end -}}

{{/* DNS name of broker i: (dict "ctx" $ "i" 0) */}}
{{- define "controlbus.brokerHost" -}}
{{- printf "%s-%d.%s.%s.svc.cluster.local" (include "qmtl.serviceName" "controlbus") (int .i) (include "controlbus.headless" .ctx) .ctx.Release.Namespace -}}
{{- end -}}

{{/* Every broker's admin API (host:port, comma-separated), as rpk takes it in RPK_ADMIN_HOSTS. */}}
{{- define "controlbus.adminHosts" -}}
{{- $admin := list -}}
{{- range $i := until (include "controlbus.brokers" . | int) -}}
{{- $admin = append $admin (printf "%s:%d" (include "controlbus.brokerHost" (dict "ctx" $ "i" $i)) (int $.Values.global.ports.redpandaAdmin)) -}}
{{- end -}}
{{- join "," $admin -}}
{{- end -}}

{{/* The ConfigMap with the ControlBus plan and its provisioning script (keys plan.tsv, provision.sh),
and where the pods that run the script mount it (the provisioning Job, the helm test). */}}
{{- define "controlbus.planConfigMap" -}}controlbus-plan{{- end -}}
{{- define "controlbus.planDir" -}}/etc/controlbus-plan{{- end -}}
