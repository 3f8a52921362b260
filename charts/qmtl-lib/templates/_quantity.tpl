{{/*
A Kubernetes resource quantity as a whole number, for templates that size a process from its container's
resources (Redis maxmemory, Redpanda --memory/--smp). Fails naming the values key when the quantity is
not one it understands.

  memory: (dict "quantity" "1536Mi" "what" "<values path>") -> bytes. Plain bytes and the Ki/Mi/Gi/Ti
          and k/M/G/T suffixes.
  CPU:    (dict "quantity" "1500m" "cpu" true "what" "<values path>") -> whole cores, at least 1.
          Whole cores and millicores (m).
*/}}
{{- define "qmtl.quantity" -}}
{{- $q := toString .quantity -}}
{{- if .cpu -}}
{{- if not (regexMatch "^[0-9]+(m)?$" $q) -}}
{{- fail (printf "%s: %q is not a CPU quantity this chart understands (use e.g. 2 or 1500m)" .what $q) -}}
{{- end -}}
{{- $cores := ternary (div (trimSuffix "m" $q | int64) 1000) ($q | int64) (hasSuffix "m" $q) -}}
{{- max 1 $cores -}}
{{- else -}}
{{- $units := dict "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 -}}
{{- if not (regexMatch "^[0-9]+(Ki|Mi|Gi|Ti|k|M|G|T)?$" $q) -}}
{{- fail (printf "%s: %q is not a memory quantity this chart understands (use e.g. 256Mi or 1Gi)" .what $q) -}}
{{- end -}}
{{- $num := regexReplaceAll "^([0-9]+).*$" $q "${1}" | int64 -}}
{{- $suffix := regexReplaceAll "^[0-9]+" $q "" -}}
{{- if $suffix -}}{{- mul $num (get $units $suffix | int64) -}}{{- else -}}{{- $num -}}{{- end -}}
{{- end -}}
{{- end -}}
