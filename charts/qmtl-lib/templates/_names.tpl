{{/*
Names and labels.

Service names are fixed by the design (one stack per namespace), so the reference endpoints
(http://seamless-coordinator:8080, redis://redis:6379/3, ...) resolve exactly as written.
They are written here once; every template asks for them by component key.
*/}}

{{/* Service name of a component: include "qmtl.serviceName" "controlbus" -> redpanda
     (a dict literal, not YAML: it is asked for hundreds of times per render) */}}
{{- define "qmtl.serviceName" -}}
{{- $names := dict
    "gateway" "gateway"
    "dagmanager" "dagmanager"
    "worldservice" "worldservice"
    "seamless-coordinator" "seamless-coordinator"
    "controlbus" "redpanda"
    "redis" "redis"
    "redis-seamless" "redis-seamless"
    "postgres" "postgres"
    "neo4j" "neo4j"
    "questdb" "questdb"
    "minio" "minio"
-}}
{{- if not (hasKey $names .) -}}
{{- fail (printf "qmtl-lib: unknown component %q (known: %s)" . (keys $names | sortAlpha | join ", ")) -}}
{{- end -}}
{{- get $names . -}}
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
