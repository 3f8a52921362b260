{{/*
Names and labels.

Service names are fixed by the design (one stack per namespace), so the reference endpoints
(http://seamless-coordinator:8080, redis://redis:6379/3, ...) resolve exactly as written.
They are written here once; every template asks for them by component key.
*/}}

{{/* Service name of a component: its own name (the QMTL services, every bundled dependency of
     qmtl.dependencies, the coordinator's dedicated Redis), except the ControlBus, whose brokers are the
     Service `redpanda`: include "qmtl.serviceName" "controlbus" -> redpanda. Anything else fails. */}}
{{- define "qmtl.serviceName" -}}
{{- if eq . "controlbus" -}}
redpanda
{{- else if or (has . (list "gateway" "dagmanager" "worldservice" "seamless-coordinator" "redis-seamless")) (has . (splitList " " (include "qmtl.dependencies" nil))) -}}
{{- . -}}
{{- else -}}
{{- fail (printf "qmtl-lib: unknown component %q (a QMTL service, redis-seamless, or one of: %s)" . (include "qmtl.dependencies" nil)) -}}
{{- end -}}
{{- end -}}

{{/*
Common labels. Call with (dict "ctx" $ "component" "gateway").
*/}}
{{- define "qmtl.labels" -}}
{{ include "qmtl.selectorLabels" . }}
app.kubernetes.io/part-of: qmtl
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
qmtl.io/profile: {{ .ctx.Values.global.profile | quote }}
{{- end -}}

{{/*
Selector labels: stable across upgrades (never add to them). Call with (dict "ctx" $ "component" "gateway").
*/}}
{{- define "qmtl.selectorLabels" -}}
app.kubernetes.io/name: {{ .component }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The profile, validated: "dev" or "prod". Call with the root context. */}}
{{- define "qmtl.profile" -}}
{{- $p := .Values.global.profile | default "" -}}
{{- if not (has $p (list "dev" "prod")) -}}
{{- fail (printf "global.profile must be \"dev\" or \"prod\" (got %q): set it with -f values/dev.yaml or -f values/prod.yaml" $p) -}}
{{- end -}}
{{- $p -}}
{{- end -}}

{{- define "qmtl.isProd" -}}
{{- if eq (include "qmtl.profile" .) "prod" -}}true{{- end -}}
{{- end -}}
