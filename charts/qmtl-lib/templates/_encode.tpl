{{/*
Values written into another language's text: each through the ONE encoding that is safe there, so that no
value, even one the schema never saw (helm --skip-schema-validation), changes the text's structure.

  qmtl.encode.k8sLiteral  (string) -> the string for a container's env value, command or args, where the
                          kubelet expands $(VAR): every "$" written "$$", so nothing is expanded (a value
                          could otherwise copy a Secret-fed variable onto a command line or into a setting)
  qmtl.encode.urlPart     (string) -> percent-encoded for the userinfo, path or query of a URL/DSN (every
                          byte but A-Z a-z 0-9 - . _ ~), so a user or database name cannot add a host, a
                          path or a parameter
  qmtl.encode.urlHost     (string) -> a host for a URL: a bracketed IPv6 literal as it is, anything else
                          percent-encoded like urlPart (a DNS name is left unchanged by that)
  qmtl.encode.sh          (string) -> a POSIX shell word in single quotes (' written '\'')
*/}}
{{- define "qmtl.encode.k8sLiteral" -}}
{{- . | toString | replace "$" "$$" -}}
{{- end -}}

{{- define "qmtl.encode.urlPart" -}}
{{- /* Go's QueryEscape, with the "+" it writes for a space made %20 (a literal "+" is already %2B) */ -}}
{{- . | toString | urlquery | replace "+" "%20" -}}
{{- end -}}

{{- define "qmtl.encode.urlHost" -}}
{{- $h := toString . -}}
{{- if regexMatch "^\\[[0-9A-Fa-f:.]+\\]$" $h -}}{{- $h -}}{{- else -}}{{- include "qmtl.encode.urlPart" $h -}}{{- end -}}
{{- end -}}

{{- define "qmtl.encode.sh" -}}
{{- printf "'%s'" (. | toString | replace "'" "'\\''") -}}
{{- end -}}

{{/*
The env of a container of which part comes from values (settings passed through as env vars), such that
the chart's own variables can never be replaced:
  include "qmtl.env" (dict "chart" (list <env entry> ...) "extra" (dict "<NAME>" <value> ...)) | nindent N
renders the chart's entries in their order, then each extra variable (by name) whose NAME the chart does
not set: of two entries with one name Kubernetes uses the later, so an extra one is dropped instead.
Extra values are literal (qmtl.encode.k8sLiteral). Any workload that passes values through as env vars
uses this helper.
*/}}
{{- define "qmtl.env" -}}
{{- $taken := dict -}}
{{- $out := list -}}
{{- range $e := .chart -}}
{{- $_ := set $taken $e.name true -}}
{{- $out = append $out $e -}}
{{- end -}}
{{- $extra := .extra | default dict -}}
{{- range $name := keys $extra | sortAlpha -}}
{{- if not (hasKey $taken $name) -}}
{{- $out = append $out (dict "name" $name "value" (include "qmtl.encode.k8sLiteral" (get $extra $name))) -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}
