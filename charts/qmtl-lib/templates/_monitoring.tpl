{{/*
A Prometheus Operator ServiceMonitor for one QMTL service's /metrics, when
global.serviceMonitor.enabled (the monitoring.coreos.com/v1 CRDs must be in the cluster). It selects the
component's Service by its selector labels and scrapes the named Service port.

  {{ include "qmtl.serviceMonitor" (dict "ctx" $ "component" "gateway" "port" "http") }}

Which services have metrics, and on which port, is a fact of QMTL's services: the gateway on its
HTTP port, WorldService on its only port, the coordinator on its metrics port; dagmanager has none. The
NetworkPolicy side of the same fact is files/service-graph.yaml's metrics edges (a test keeps them equal).
*/}}
{{- define "qmtl.serviceMonitor" -}}
{{- $sm := .ctx.Values.global.serviceMonitor | default dict -}}
{{- if $sm.enabled -}}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "qmtl.serviceName" .component }}
  labels:
    {{- /* the chart's own labels win over global.serviceMonitor.labels */}}
    {{- merge (include "qmtl.labels" . | fromYaml) ($sm.labels | default dict) | toYaml | nindent 4 }}
spec:
  selector:
    matchLabels:
      {{- include "qmtl.selectorLabels" . | nindent 6 }}
  endpoints:
    - port: {{ .port }}
      path: /metrics
      scheme: http
      interval: {{ $sm.interval }}
      scrapeTimeout: {{ $sm.scrapeTimeout }}
{{- end -}}
{{- end -}}
