{{/*
Memo for pure functions of .Values.global (qmtl.endpoints, qmtl.config): the first call in a chart
computes, later calls in the same chart reuse the text. Each chart has its own copy of `global`, so the
memo lives in a private key of that copy (`__qmtlMemo`, read by nothing else) and cannot leak between
charts or renders. A render evaluates these functions dozens of times; without the memo they were the
largest part of a prod render (scripts/benchmark.py).

  include "qmtl.memo" (dict "global" .Values.global "fn" "qmtl.endpoints.build")
*/}}
{{- define "qmtl.memo" -}}
{{- if not (hasKey .global "__qmtlMemo") -}}
{{- $_ := set .global "__qmtlMemo" dict -}}
{{- end -}}
{{- $memo := get .global "__qmtlMemo" -}}
{{- if not (hasKey $memo .fn) -}}
{{- $_ := set $memo .fn (include .fn .global) -}}
{{- end -}}
{{- get $memo .fn -}}
{{- end -}}
