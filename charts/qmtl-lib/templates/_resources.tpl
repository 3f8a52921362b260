{{/*
Resources, sized per profile by the chart that runs the container: resources.<profile>.<container> in its
own values.yaml (a subchart's; the umbrella's for its helm test pods), which an install overrides as
<section>.resources.<profile>.<container>. Replicas: global.replicas.<profile>.<workload> in the umbrella's
values.yaml, which a workload may override with its own `replicas`.

Call with (dict "ctx" $ "container" "gateway"). Fails when the table has no entry, so no container
can be rendered without requests and limits.
*/}}
{{- define "qmtl.resources" -}}
{{- $profile := include "qmtl.profile" .ctx -}}
{{- $table := get (.ctx.Values.resources | default dict) $profile | default dict -}}
{{- $r := get $table .container -}}
{{- if not $r -}}
{{- fail (printf "no resources for container %q: add resources.%s.%s (requests and limits) to the values.yaml of chart %s" .container $profile .container .ctx.Chart.Name) -}}
{{- end -}}
{{- if or (not $r.requests) (not $r.limits) -}}
{{- fail (printf "resources for container %q (profile %s) need both requests and limits" .container $profile) -}}
{{- end -}}
{{- toYaml $r -}}
{{- end -}}

{{/* Replica count. Call with (dict "ctx" $ "workload" "gateway"). */}}
{{- define "qmtl.replicas" -}}
{{- $profile := include "qmtl.profile" .ctx -}}
{{- if kindIs "float64" .ctx.Values.replicas -}}
{{- .ctx.Values.replicas | int -}}
{{- else if kindIs "int64" .ctx.Values.replicas -}}
{{- .ctx.Values.replicas -}}
{{- else -}}
{{- $table := get (.ctx.Values.global.replicas | default dict) $profile | default dict -}}
{{- if not (hasKey $table .workload) -}}
{{- fail (printf "no replica count for %q: add global.replicas.%s.%s to the umbrella's values.yaml" .workload $profile .workload) -}}
{{- end -}}
{{- get $table .workload | int -}}
{{- end -}}
{{- end -}}

{{/*
Autoscaling of a stateless workload (its section's `autoscaling`): "true" when a HorizontalPodAutoscaler
owns its replica count; the Deployment then renders no `replicas` (qmtl.replicasField), so that an upgrade
does not reset what the autoscaler chose. (dict "ctx" $)
*/}}
{{- define "qmtl.autoscaled" -}}
{{- if ((.ctx.Values.autoscaling | default dict).enabled) -}}true{{- end -}}
{{- end -}}

{{/* The Deployment's `replicas:` line, or nothing while an autoscaler owns the count.
     (dict "ctx" $ "workload" "gateway") */}}
{{- define "qmtl.replicasField" -}}
{{- if not (include "qmtl.autoscaled" .) -}}
replicas: {{ include "qmtl.replicas" . }}
{{- end -}}
{{- end -}}

{{/*
The HorizontalPodAutoscaler (autoscaling/v2) of a Deployment, when its section's autoscaling is on:
between minReplicas (null: the profile's replica count, global.replicas.<profile>.<workload>) and
maxReplicas, by average CPU and/or memory use relative to the requests (every container has requests:
qmtl.resources). The aggregated check keeps minReplicas <= maxReplicas, at least 2 in prod (the
PodDisruptionBudget lets one pod go at a time), and refuses it for a service that keeps state in its pod.
(dict "ctx" $ "component" "gateway")
*/}}
{{- define "qmtl.horizontalPodAutoscaler" -}}
{{- if include "qmtl.autoscaled" . -}}
{{- $a := .ctx.Values.autoscaling -}}
{{- $min := $a.minReplicas -}}
{{- if kindIs "invalid" $min -}}{{- $min = include "qmtl.replicas" (dict "ctx" .ctx "workload" .component) -}}{{- end -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "qmtl.serviceName" .component }}
  labels:
    {{- include "qmtl.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "qmtl.serviceName" .component }}
  minReplicas: {{ $min | int }}
  maxReplicas: {{ $a.maxReplicas | int }}
  metrics:
    {{- range $resource, $target := dict "cpu" $a.targetCPUUtilizationPercentage "memory" $a.targetMemoryUtilizationPercentage }}
    {{- if not (kindIs "invalid" $target) }}
    - type: Resource
      resource:
        name: {{ $resource }}
        target:
          type: Utilization
          averageUtilization: {{ $target | int }}
    {{- end }}
    {{- end }}
{{- end -}}
{{- end -}}
