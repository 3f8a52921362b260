{{/*
Image reference with optional digest.

Call with (dict "image" .Values.image "default" .Values.global.qmtlImage "what" "gateway.image").
Fields: repository, tag, digest. Missing fields are taken from "default" (when given).
A digest, when set, pins the image: repository@sha256:... (the tag is kept for readability:
repository:tag@sha256:..., which the kubelet resolves by digest).
*/}}
{{- define "qmtl.image" -}}
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
{{- $ref := $repo -}}
{{- if $tag -}}{{- $ref = printf "%s:%s" $ref $tag -}}{{- end -}}
{{- if $digest -}}{{- $ref = printf "%s@%s" $ref $digest -}}{{- end -}}
{{- $ref -}}
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
