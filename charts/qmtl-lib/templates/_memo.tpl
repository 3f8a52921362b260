{{/*
Memo for the wiring models, pure functions of .Values.global (qmtl.endpoints, qmtl.config, a service's
config view): the first call in a chart builds the model, later calls in the same chart reuse it.

Why a cache: a render asks for these models dozens of times (every template that wires a service or a
dependency), and building each once per chart instead is a measurable share of a prod render's CPU time
(scripts/benchmark.py prints it: "wiring models built once per chart"). Where it lives: in the chart's root
context, the map Helm hands to every template of one chart as `$` (its Values, Release, Chart, ...), under
the key `qmtlMemo`, which nothing else reads. Not in .Values: the values stay exactly what Helm merged. Each
chart has its own root context and its own copy of `global`, so the memo cannot mix charts or renders. (Were
a Helm to hand each template a copy of that map, each template would build its own models: slower, same
output.)

A model is built by a builder template that fills the map it is given as "into"; include cannot return
a map, so the caller passes its own:

  {{- $ep := dict }}{{- include "qmtl.memo.into" (dict "ctx" $ "fn" "qmtl.endpoints.build" "into" $ep) }}

fills $ep with the model's top-level keys (the builder is called with (dict "ctx" $ "global"
$.Values.global "into" <map>)). Extra keys of the call (e.g. "service") are passed to the builder too and
name the result, so a builder can take arguments that are themselves pure (strings). $ep's nested maps are
the memo's own: a caller must not change them (none does: they build new maps).
*/}}
{{- define "qmtl.memo.into" -}}
{{- $memo := get .ctx "qmtlMemo" -}}
{{- if not (kindIs "map" $memo) -}}
{{- $memo = dict -}}
{{- $_ := set .ctx "qmtlMemo" $memo -}}
{{- end -}}
{{- $args := omit . "into" "fn" "ctx" -}}
{{- $key := .fn -}}
{{- range $k := keys $args | sortAlpha -}}
{{- $key = printf "%s %s=%v" $key $k (get $args $k) -}}
{{- end -}}
{{- if not (hasKey $memo $key) -}}
{{- $model := dict -}}
{{- $_ := include .fn (merge (dict "ctx" .ctx "global" .ctx.Values.global "into" $model) $args) -}}
{{- $_ := set $memo $key $model -}}
{{- end -}}
{{- range $k, $v := get $memo $key -}}
{{- $_ := set $.into $k $v -}}
{{- end -}}
{{- end -}}
