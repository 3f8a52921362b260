{{/*
Kubernetes resource quantities, parsed in ONE place.

  qmtl.quantity.number: (dict "q" <value> "kind" "cpu"|"memory"|"ephemeral-storage") -> millicores (cpu)
      or bytes (the others) as a number, or "" when the value is empty or not a quantity (the schema
      reports malformed ones). The aggregated values check compares limits with requests with it.
  qmtl.quantity.max: the largest quantity the chart sizes anything with ({cpu: millicores, bytes}); the
      aggregated values check refuses more, so that no computation on a quantity overflows int64.
  qmtl.quantity: for templates that size a process from its container's resources (Redis maxmemory,
      Redpanda --memory/--smp); fails naming the values key when the value is not a quantity.
        memory: (dict "quantity" "1536Mi" "what" "<values path>") -> bytes
        CPU:    (dict "quantity" "1500m" "cpu" true "what" "<values path>") -> whole cores, at least 1
*/}}
{{- define "qmtl.quantity.number" -}}
{{- $s := toString (.q | default "") -}}
{{- if and (or (kindIs "float64" .q) (kindIs "int" .q) (kindIs "int64" .q)) (ge (float64 .q) 0.0) -}}
{{- /* a YAML number (1e30 is one): no unit; cpu in cores */ -}}
{{- if eq .kind "cpu" -}}{{- mulf (float64 .q) 1000 -}}{{- else -}}{{- float64 .q -}}{{- end -}}
{{- else if $s -}}
{{- $number := regexFind "^([0-9]+(\\.[0-9]+)?|\\.[0-9]+)" $s -}}
{{- if $number -}}
{{- $suffix := trimPrefix $number $s -}}
{{- if eq .kind "cpu" -}}
{{- if eq $suffix "m" -}}{{- float64 $number -}}{{- else if eq $suffix "" -}}{{- mulf (float64 $number) 1000 -}}{{- end -}}
{{- else -}}
{{- $scale := dict "" 1 "k" 1e3 "M" 1e6 "G" 1e9 "T" 1e12 "P" 1e15 "E" 1e18 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "Pi" 1125899906842624 "Ei" 1152921504606846976 -}}
{{- if hasKey $scale $suffix -}}{{- mulf (float64 $number) (get $scale $suffix) -}}{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "qmtl.quantity" -}}
{{- $q := toString .quantity -}}
{{- $n := include "qmtl.quantity.number" (dict "q" $q "kind" (ternary "cpu" "memory" (not (not .cpu)))) -}}
{{- if .cpu -}}
{{- if not $n -}}
{{- fail (printf "%s: %q is not a CPU quantity (use e.g. 2 or 1500m)" .what $q) -}}
{{- end -}}
{{- max 1 (div (float64 $n | int64) 1000) -}}
{{- else -}}
{{- if not $n -}}
{{- fail (printf "%s: %q is not a memory quantity (use e.g. 256Mi or 1Gi)" .what $q) -}}
{{- end -}}
{{- float64 $n | int64 -}}
{{- end -}}
{{- end -}}


{{- define "qmtl.quantity.max" -}}
cpu: 1024000
bytes: 1125899906842624
{{- end -}}
