{{/*
server.conf settings as QuestDB's env vars: QDB_ + the key upper-cased, `.` -> `_`.
With HTTP basic auth on (http.user/http.password), QuestDB also asks the minimal health server for
credentials unless http.health.check.authentication.required is false: the kubelet's probes carry none.
*/}}
{{- define "questdb.configEnv" -}}
{{- $ports := .Values.global.ports -}}
{{- $conf := dict
  "pg.enabled" "true"
  "pg.net.bind.to" (printf "0.0.0.0:%d" (int $ports.questdbPg))
  "pg.readonly.user.enabled" "false"
  "http.enabled" "true"
  "http.net.bind.to" (printf "0.0.0.0:%d" (int $ports.questdbHttp))
  "http.min.enabled" "true"
  "http.min.net.bind.to" (printf "0.0.0.0:%d" (int $ports.questdbHealth))
  "http.health.check.authentication.required" "false"
  "line.tcp.enabled" (ternary "true" "false" (not (not .Values.ilpTcp)))
  "line.udp.enabled" "false"
  "telemetry.enabled" "false" -}}
{{- $reserved := list "pg.user" "pg.password" "http.user" "http.password" "pg.readonly.user.enabled" "pg.readonly.user" "pg.readonly.password" "pg.net.bind.to" "http.net.bind.to" "http.min.net.bind.to" "http.min.enabled" "http.health.check.authentication.required" "line.tcp.enabled" -}}
{{- range $k, $v := .Values.config | default dict -}}
{{- if has $k $reserved -}}
{{- fail (printf "questdb.config.%s is set by the chart (credentials from Secret qmtl-questdb, ports from global.ports, ILP TCP from questdb.ilpTcp): remove it" $k) -}}
{{- end -}}
{{- $_ := set $conf $k (toString $v) -}}
{{- end -}}
{{- range $k := keys $conf | sortAlpha }}
- name: {{ printf "QDB_%s" ($k | upper | replace "." "_") }}
  value: {{ get $conf $k | quote }}
{{- end }}
{{- end -}}
