{{/*
The gateway outside the cluster: global.gatewayIngress (an Ingress) and global.gatewayHttpRoute (a Gateway
API HTTPRoute), both rendered by the gateway chart. Their public URLs are written here once; the QMTL
config (the WebSocket URLs the gateway hands to SDK clients: gateway.events.stream_url/fallback_url),
NOTES and the tests read them from here.

  include "qmtl.gatewayExposure.urls" (dict "global" .Values.global) | fromYaml
    -> {ingress: "https://qmtl.example.com", httpRoute: "https://qmtl.example.com"} (only the ones on)
  include "qmtl.gatewayExposure.url" (dict "global" .Values.global)
    -> the one the gateway hands out: the Ingress's, else the HTTPRoute's, else ""

The gateway serves every route from / (QMTL has no base-path setting), so a URL is scheme://host; the
paths of each exposure must include its WebSocket streams /ws and /ws/evt (the aggregated check).
*/}}
{{- define "qmtl.gatewayExposure.urls" -}}
{{- $g := .global | default dict -}}
{{- $out := dict -}}
{{- $ing := $g.gatewayIngress | default dict -}}
{{- if and $ing.enabled $ing.host -}}
{{- $_ := set $out "ingress" (printf "%s://%s" (ternary "https" "http" (eq (toString ($ing.tls | default dict).enabled) "true")) $ing.host) -}}
{{- end -}}
{{- $route := $g.gatewayHttpRoute | default dict -}}
{{- if and $route.enabled $route.hostnames -}}
{{- $_ := set $out "httpRoute" (printf "%s://%s" ($route.scheme | default "https") (first $route.hostnames)) -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{- define "qmtl.gatewayExposure.url" -}}
{{- $urls := include "qmtl.gatewayExposure.urls" . | fromYaml -}}
{{- $urls.ingress | default $urls.httpRoute | default "" -}}
{{- end -}}

{{/* The gateway's WebSocket base for a URL: http(s)://host -> ws(s)://host. */}}
{{- define "qmtl.gatewayExposure.wsBase" -}}
{{- regexReplaceAll "^http" . "ws" -}}
{{- end -}}

{{/*
"true" when the paths (global.gatewayIngress.paths / global.gatewayHttpRoute.paths) route `path` to the
gateway: an Exact path equal to it, or a Prefix path that is "/", equal to it, or one of its leading
segments (Ingress and Gateway API match prefixes by path segment). (dict "paths" <list> "path" "/ws/evt")
*/}}
{{- define "qmtl.gatewayExposure.routes" -}}
{{- $hit := false -}}
{{- range $p := .paths | default list -}}
{{- if kindIs "map" $p -}}
{{- $prefix := trimSuffix "/" (toString $p.path) -}}
{{- if eq (toString $p.pathType) "Exact" -}}
{{- if eq (toString $p.path) $.path -}}{{- $hit = true -}}{{- end -}}
{{- else if or (eq $prefix "") (eq $prefix $.path) (hasPrefix (printf "%s/" $prefix) $.path) -}}
{{- $hit = true -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if $hit -}}true{{- end -}}
{{- end -}}
