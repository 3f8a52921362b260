{{/*
Image reference with optional digest, from the mirror in global.imageRegistry when one is set.

Call with (dict "ctx" $ "image" .Values.image "default" .Values.global.qmtlImage "what" "gateway.image").
Fields: repository, tag, digest. Missing fields are taken from "default" (when given).
A digest, when set, pins the image: repository@sha256:... (the tag is kept for readability:
repository:tag@sha256:..., which the kubelet resolves by digest). The digest stays as it is under a
mirror: a mirror serves the same bytes.
`ctx` (the chart's root context) is required: every image of the stack goes through here, so that
global.imageRegistry reaches every one of them (qmtl.image.registry).
*/}}
{{- define "qmtl.image" -}}
{{- if not .ctx -}}
{{- fail (printf "qmtl-lib: qmtl.image for %s needs ctx (the chart's root context), so that global.imageRegistry applies" .what) -}}
{{- end -}}
{{- $img := merge (deepCopy (.image | default dict)) (deepCopy (.default | default dict)) -}}
{{- $repo := $img.repository | default "" -}}
{{- $tag := toString ($img.tag | default "") -}}
{{- $digest := $img.digest | default "" -}}
{{- if not $repo -}}
{{- fail (printf "%s.repository is empty: set the image repository" .what) -}}
{{- end -}}
{{- if and (not $tag) (not $digest) -}}
{{- fail (printf "%s: set a tag or a digest (an untagged image means :latest)" .what) -}}
{{- end -}}
{{- if and $digest (not (regexMatch "^sha256:[a-f0-9]{64}$" $digest)) -}}
{{- fail (printf "%s.digest %q is not of the form sha256:<64 hex digits>" .what $digest) -}}
{{- end -}}
{{- $ref := include "qmtl.image.registry" (dict "repository" $repo "registry" ((.ctx.Values.global | default dict).imageRegistry | default "")) -}}
{{- if $tag -}}{{- $ref = printf "%s:%s" $ref $tag -}}{{- end -}}
{{- if $digest -}}{{- $ref = printf "%s@%s" $ref $digest -}}{{- end -}}
{{- $ref -}}
{{- end -}}

{{/*
A repository moved to the mirror global.imageRegistry (host[:port][/path]): the mirror replaces the
registry part of the repository, the path stays. The registry part is the first path component when it
looks like a host (it has a "." or a ":", or is "localhost"), as container runtimes read it; a repository
without one is Docker Hub's, whose one-component names live under library/. Empty registry: unchanged.
  docker.io/library/redis        + registry.example.com/mirror -> registry.example.com/mirror/library/redis
  localhost/qmtl-stack/qmtl      + registry.example.com        -> registry.example.com/qmtl-stack/qmtl
  redis                          + registry.example.com        -> registry.example.com/library/redis
(dict "repository" "docker.io/library/redis" "registry" "registry.example.com/mirror")
*/}}
{{- define "qmtl.image.registry" -}}
{{- $registry := trimSuffix "/" (.registry | default "") -}}
{{- if not $registry -}}
{{- .repository -}}
{{- else -}}
{{- $parts := splitList "/" .repository -}}
{{- $first := first $parts -}}
{{- $path := .repository -}}
{{- if and (gt (len $parts) 1) (or (contains "." $first) (contains ":" $first) (eq $first "localhost")) -}}
{{- $path = join "/" (rest $parts) -}}
{{- else if eq (len $parts) 1 -}}
{{- $path = printf "library/%s" .repository -}}
{{- end -}}
{{- printf "%s/%s" $registry $path -}}
{{- end -}}
{{- end -}}

{{/* imagePullPolicy: the image's own, else global.imagePullPolicy. Call like qmtl.image. */}}
{{- define "qmtl.imagePullPolicy" -}}
{{- $img := merge (deepCopy (.image | default dict)) (deepCopy (.default | default dict)) -}}
{{- $img.pullPolicy | default "IfNotPresent" -}}
{{- end -}}

{{/* imagePullSecrets block for a pod spec. Call with the root context. */}}
{{- define "qmtl.imagePullSecrets" -}}
{{- with .Values.global.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . | quote }}
{{- end }}
{{- end }}
{{- end -}}
