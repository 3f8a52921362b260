{{/*
Resources and replicas, sized per profile from ONE table: global.resources.<profile>.<container>
and global.replicas.<profile>.<workload> in the umbrella's values.yaml. A workload may override
with its own `resources.<container>` / `replicas` values.

Call with (dict "ctx" $ "container" "gateway"). Fails when the table has no entry, so no container
can be rendered without requests and limits.
*/}}
{{- define "qmtl.resources" -}}
{{- $profile := include "qmtl.profile" .ctx -}}
{{- $own := (.ctx.Values.resources | default dict) -}}
{{- $table := get (.ctx.Values.global.resources | default dict) $profile | default dict -}}
{{- $r := get $own .container | default (get $table .container) -}}
{{- if not $r -}}
{{- fail (printf "no resources for container %q: add global.resources.%s.%s (requests and limits) to the umbrella's values.yaml" .container $profile .container) -}}
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
