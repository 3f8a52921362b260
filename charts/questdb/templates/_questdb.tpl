{{/*
The questdb container's env: the data dir, the coordinator's credentials (Secret) for PG wire and HTTP
basic auth, and server.conf settings as QuestDB's env vars (QDB_ + the key upper-cased, `.` -> `_`): the
chart's, then questdb.config's (allowlisted by values.schema.json), never replacing a variable the chart
sets (qmtl.env). With HTTP basic auth on (http.user/http.password), QuestDB also asks the minimal health
server for credentials unless http.health.check.authentication.required is false: the kubelet's probes
carry none.
*/}}
{{- define "questdb.env" -}}
{{- $ports := .Values.global.ports -}}
{{- $ep := dict -}}{{- include "qmtl.endpoints.into" (dict "ctx" $ "into" $ep) -}}
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
{{- $user := dict "secretKeyRef" (dict "name" $ep.questdb.username.name "key" $ep.questdb.username.key) -}}
{{- $password := dict "secretKeyRef" (dict "name" $ep.questdb.password.name "key" $ep.questdb.password.key) -}}
{{- /* The image's entrypoint chowns only when it runs as root: it does not here. */ -}}
{{- $chart := list
  (dict "name" "QUESTDB_DATA_DIR" "value" "/var/lib/questdb")
  (dict "name" "QDB_PG_USER" "valueFrom" $user)
  (dict "name" "QDB_PG_PASSWORD" "valueFrom" $password)
  (dict "name" "QDB_HTTP_USER" "valueFrom" $user)
  (dict "name" "QDB_HTTP_PASSWORD" "valueFrom" $password) -}}
{{- range $k := keys $conf | sortAlpha -}}
{{- $chart = append $chart (dict "name" (include "questdb.envName" $k) "value" (get $conf $k)) -}}
{{- end -}}
{{- $extra := dict -}}
{{- range $k, $v := .Values.config | default dict -}}
{{- $_ := set $extra (include "questdb.envName" $k) (toString $v) -}}
{{- end -}}
{{- include "qmtl.env" (dict "chart" $chart "extra" $extra) -}}
{{- end -}}

{{- define "questdb.envName" -}}
{{- printf "QDB_%s" (. | upper | replace "." "_") -}}
{{- end -}}
