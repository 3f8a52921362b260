{{/*
Generated credentials that survive `helm upgrade`.

  include "qmtl.persistentSecret" (dict "ctx" $ "name" "qmtl-redis-users" "key" "gateway" "length" 32)

returns the value already stored under `key` in Secret `name` of the release namespace (Helm's lookup,
which sees the live cluster on install/upgrade), or a new random alphanumeric value (URL-safe, so it
can sit inside a DSN) when the Secret or key does not exist yet. `helm template` and `--dry-run` cannot
look up, so they always generate.

A value used twice in one render (e.g. a password in a Secret AND its hash in an ACL file) must be
computed ONCE per template file and reused from a variable: two calls generate two different values
on first install.
*/}}
{{- define "qmtl.persistentSecret" -}}
{{- $existing := lookup "v1" "Secret" .ctx.Release.Namespace .name -}}
{{- $data := (get ($existing | default dict) "data") | default dict -}}
{{- if hasKey $data .key -}}
{{- get $data .key | b64dec -}}
{{- else -}}
{{- randAlphaNum (.length | default 32 | int) -}}
{{- end -}}
{{- end -}}

{{/*
"true" when the chart generates its credentials (global.credentials.generate, default true), "" when they
are created outside the chart (GitOps: scripts/credentials creates them once; the chart only references
them by the names of qmtl.bundledSecretNames). Every template that renders a generated Secret asks this.
*/}}
{{- define "qmtl.credentials.generate" -}}
{{- $c := .Values.global.credentials | default dict -}}
{{- if or (not (kindIs "map" $c)) (not (hasKey $c "generate")) $c.generate -}}true{{- end -}}
{{- end -}}
