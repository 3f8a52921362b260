{{/*
Memo for the wiring models, pure functions of .Values.global (qmtl.endpoints, qmtl.config, a service's
config view): the first call in a chart builds the model, later calls in the same chart reuse it. Each
chart has its own copy of `global`, so the memo lives in a private key of that copy (`__qmtlMemo`, read
by nothing else) and cannot leak between charts or renders. A render asks for these models dozens of
times; rebuilding them, or passing them around as YAML text, was most of a prod render's time
(scripts/benchmark.py).

A model is built by a builder template that fills the map it is given as "into"; include cannot return
a map, so the caller passes its own:

  {{- $ep := dict }}{{- include "qmtl.memo.into" (dict "global" .Values.global "fn" "qmtl.endpoints.build" "into" $ep) }}

fills $ep with the model's top-level keys (the builder is called with (dict "global" .Values.global
"into" <map>)). Extra keys of the call (e.g. "service") are passed to the builder too and name the
result, so a builder can take arguments that are themselves pure (strings). $ep's nested maps are the
memo's own: a caller must not change them (none does: they build new maps).
*/}}
{{- define "qmtl.memo.into" -}}
{{- if not (hasKey .global "__qmtlMemo") -}}
{{- $_ := set .global "__qmtlMemo" dict -}}
{{- end -}}
{{- $memo := get .global "__qmtlMemo" -}}
{{- $args := omit . "into" "fn" "global" -}}
{{- $key := .fn -}}
{{- range $k := keys $args | sortAlpha -}}
{{- $key = printf "%s %s=%v" $key $k (get $args $k) -}}
{{- end -}}
{{- if not (hasKey $memo $key) -}}
{{- $model := dict -}}
{{- $_ := include .fn (merge (dict "global" .global "into" $model) $args) -}}
{{- $_ := set $memo $key $model -}}
{{- end -}}
{{- range $k, $v := get $memo $key -}}
{{- $_ := set $.into $k $v -}}
{{- end -}}
{{- end -}}
