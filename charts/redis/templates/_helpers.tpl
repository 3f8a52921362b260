{{/*
A Kubernetes memory quantity in bytes: (dict "quantity" "256Mi" "what" "<values path>").
Accepts plain bytes and the Ki/Mi/Gi/Ti and k/M/G/T suffixes.
*/}}
{{- define "redis.bytes" -}}
{{- $q := toString .quantity -}}
{{- $units := dict "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 -}}
{{- $m := regexFindAll "^([0-9]+)(Ki|Mi|Gi|Ti|k|M|G|T)?$" $q -1 -}}
{{- if not $m -}}
{{- fail (printf "%s: %q is not a memory quantity this chart understands (use e.g. 256Mi or 1Gi)" .what $q) -}}
{{- end -}}
{{- $num := regexReplaceAll "^([0-9]+).*$" $q "${1}" | int64 -}}
{{- $suffix := regexReplaceAll "^[0-9]+" $q "" -}}
{{- if $suffix -}}{{- mul $num (get $units $suffix | int64) -}}{{- else -}}{{- $num -}}{{- end -}}
{{- end -}}
