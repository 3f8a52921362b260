{{/*
The unified QMTL config (qmtl.yml), built from .Values.global only.

QMTL reads ONE plain YAML file and interpolates nothing, and passwords live inside DSNs. The chart
therefore renders the file as a template without secrets (ConfigMap "qmtl-config", rendered by the
umbrella) in which each secret is a placeholder:

  ${QMTL_SECRET_<NAME>}      replaced by the env var's value
  ${QMTL_SECRET_<NAME>|url}  replaced by the value percent-encoded for use inside a URL

A small init container (qmtl.script.assemble) in every QMTL pod fills the placeholders from env vars
that come from Secrets (secretKeyRef, also the user's own Secrets for managed dependencies), keeps
only the sections that service reads, and writes the final file to an in-memory emptyDir. Why:
  - a user's existing Secret can't be read at render time, so DSNs with its password can only be
    completed in the pod;
  - the rendered template is deterministic, so its checksum changes only when the config really
    changes, and each pod's checksum covers only the sections that pod reads;
  - a pod receives only its own credentials (gateway never sees neo4j's password).

Call: include "qmtl.config" .Values.global | fromYaml
  -> {config: <the unified template>, secrets: {<section>: {<ENV>: {name, key}}}}
*/}}
{{- define "qmtl.config" -}}
{{- $g := . -}}
{{- $ep := include "qmtl.endpoints" $g | fromYaml -}}
{{- $ports := $g.ports -}}
{{- $prod := eq $g.profile "prod" -}}
{{- $t := $ep.controlbus.topics -}}
{{- $secrets := dict "gateway" dict "dagmanager" dict "worldservice" dict -}}

{{- /* gateway */ -}}
{{- $gw := dict "host" "0.0.0.0" "port" (int $ports.gateway) -}}
{{- if $ep.redis.available -}}
{{- $u := $ep.redis.users.gateway -}}
{{- $_ := set $gw "redis_dsn" (printf "%s://%s:${QMTL_SECRET_REDIS_GATEWAY|url}@%s:%d/%d" $ep.redis.scheme $u.username $ep.redis.host (int $ep.redis.port) (int $u.db)) -}}
{{- $_ := set $secrets.gateway "QMTL_SECRET_REDIS_GATEWAY" $u.secret -}}
{{- end -}}
{{- if $ep.postgres.available -}}
{{- $d := $ep.postgres.databases.gateway -}}
{{- $_ := set $gw "database_backend" "postgres" -}}
{{- $_ := set $gw "database_dsn" (printf "postgresql://%s:${QMTL_SECRET_POSTGRES_GATEWAY|url}@%s:%d/%s?sslmode=%s" $d.username $ep.postgres.host (int $ep.postgres.port) $d.database $ep.postgres.sslmode) -}}
{{- $_ := set $secrets.gateway "QMTL_SECRET_POSTGRES_GATEWAY" $d.secret -}}
{{- else -}}
{{- $_ := set $gw "database_backend" "sqlite" -}}
{{- $_ := set $gw "database_dsn" "sqlite:////var/lib/qmtl/gateway.db" -}}
{{- end -}}
{{- if $ep.controlbus.available -}}
{{- $_ := set $gw "controlbus_brokers" $ep.controlbus.brokers -}}
{{- $_ := set $gw "controlbus_topics" (list (get $t "activation") (get $t "policy") (get $t "queue") (get $t "sentinel_weight")) -}}
{{- $_ := set $gw "controlbus_group" "gateway" -}}
{{- $_ := set $gw "controlbus_ack_topic" (get $t "control.activation.ack") -}}
{{- $_ := set $gw "commitlog_bootstrap" (join "," $ep.controlbus.brokers) -}}
{{- $_ := set $gw "commitlog_topic" (get $t "gateway.ingest") -}}
{{- $_ := set $gw "commitlog_group" "gateway-commitlog" -}}
{{- $_ := set $gw "commitlog_transactional_id" "gateway-commitlog" -}}
{{- end -}}
{{- $_ := set $gw "worldservice_url" (printf "http://%s:%d" (include "qmtl.serviceName" "worldservice") (int $ports.worldservice)) -}}
{{- $_ := set $gw "events" (dict "secret" "${QMTL_SECRET_GATEWAY_EVENTS}") -}}
{{- $_ := set $secrets.gateway "QMTL_SECRET_GATEWAY_EVENTS" (dict "name" (include "qmtl.bundledSecretNames" . | fromYaml).gatewayEvents "key" "secret") -}}

{{- /* dagmanager */ -}}
{{- $dm := dict "grpc_host" "0.0.0.0" "grpc_port" (int $ports.dagmanagerGrpc) "http_host" "0.0.0.0" "http_port" (int $ports.dagmanagerHttp) -}}
{{- if $ep.neo4j.available -}}
{{- $_ := set $dm "neo4j_dsn" $ep.neo4j.uri -}}
{{- $_ := set $dm "neo4j_user" $ep.neo4j.username -}}
{{- $_ := set $dm "neo4j_password" "${QMTL_SECRET_NEO4J}" -}}
{{- $_ := set $secrets.dagmanager "QMTL_SECRET_NEO4J" $ep.neo4j.secret -}}
{{- end -}}
{{- if $ep.controlbus.available -}}
{{- $_ := set $dm "kafka_dsn" (join "," $ep.controlbus.brokers) -}}
{{- $_ := set $dm "controlbus_dsn" (join "," $ep.controlbus.brokers) -}}
{{- $_ := set $dm "controlbus_queue_topic" (get $t "queue") -}}
{{- end -}}

{{- /* worldservice: client part (url) and server part */ -}}
{{- $ws := dict "url" (printf "http://%s:%d" (include "qmtl.serviceName" "worldservice") (int $ports.worldservice)) -}}
{{- $srv := dict -}}
{{- if $ep.postgres.available -}}
{{- $d := $ep.postgres.databases.worldservice -}}
{{- $_ := set $srv "dsn" (printf "postgresql://%s:${QMTL_SECRET_POSTGRES_WORLDSERVICE|url}@%s:%d/%s?sslmode=%s" $d.username $ep.postgres.host (int $ep.postgres.port) $d.database $ep.postgres.sslmode) -}}
{{- $_ := set $secrets.worldservice "QMTL_SECRET_POSTGRES_WORLDSERVICE" $d.secret -}}
{{- end -}}
{{- if $ep.redis.available -}}
{{- $u := $ep.redis.users.worldservice -}}
{{- $_ := set $srv "redis" (printf "%s://%s:${QMTL_SECRET_REDIS_WORLDSERVICE|url}@%s:%d/%d" $ep.redis.scheme $u.username $ep.redis.host (int $ep.redis.port) (int $u.db)) -}}
{{- $_ := set $secrets.worldservice "QMTL_SECRET_REDIS_WORLDSERVICE" $u.secret -}}
{{- end -}}
{{- if $ep.controlbus.available -}}
{{- $_ := set $srv "controlbus_brokers" $ep.controlbus.brokers -}}
{{- $_ := set $srv "controlbus_topic" (get $t "policy") -}}
{{- end -}}
{{- if $srv -}}{{- $_ := set $ws "server" $srv -}}{{- end -}}

{{- /* seamless: endpoints only, no credentials (the coordinator gets its own from its Secrets). */ -}}
{{- $sl := dict "artifact_bucket" $g.seamless.artifact_bucket "artifacts_enabled" $ep.s3.available "artifact_dir" "/var/lib/qmtl/artifacts" -}}
{{- with $ep.coordinator.url -}}{{- $_ := set $sl "coordinator_url" . -}}{{- end -}}
{{- if $ep.redis.available -}}
{{- $_ := set $sl "redis_dsn" (printf "%s://%s:%d/%d" $ep.redis.scheme $ep.redis.host (int $ep.redis.port) (int $ep.redis.users.seamless.db)) -}}
{{- end -}}
{{- if $ep.questdb.available -}}
{{- $_ := set $sl "questdb_dsn" (printf "postgresql://%s:%d/%s" $ep.questdb.host (int $ep.questdb.port) $ep.questdb.database) -}}
{{- end -}}
{{- if $ep.s3.available -}}
{{- $_ := set $sl "artifact_endpoint" $ep.s3.endpoint -}}
{{- end -}}

{{- $conf := dict "profile" $g.profile "gateway" $gw "dagmanager" $dm "worldservice" $ws "seamless" $sl -}}
{{- if $ep.redis.available -}}
{{- $_ := set $conf "connectors" (dict "ccxt_rate_limiter_redis" (printf "%s://%s:%d/%d" $ep.redis.scheme $ep.redis.host (int $ep.redis.port) (int $ep.redis.users.ratelimiter.db))) -}}
{{- end -}}
{{- toYaml (dict "config" $conf "secrets" $secrets) -}}
{{- end -}}

{{/* Sections of the unified config each service reads (besides the top-level `profile`). */}}
{{- define "qmtl.config.sections" -}}
gateway: [gateway, seamless, connectors]
dagmanager: [dagmanager]
worldservice: [worldservice]
{{- end -}}

{{/*
One service's view: (dict "global" .Values.global "service" "gateway")
  -> {config: <profile + its sections>, secrets: {<ENV>: {name, key}}}
*/}}
{{- define "qmtl.config.forService" -}}
{{- $all := include "qmtl.config" .global | fromYaml -}}
{{- $sections := get (include "qmtl.config.sections" . | fromYaml) .service -}}
{{- if not $sections -}}{{- fail (printf "qmtl-lib: %q reads no QMTL config section" .service) -}}{{- end -}}
{{- $conf := dict "profile" $all.config.profile -}}
{{- $env := dict -}}
{{- range $sections -}}
{{- if hasKey $all.config . -}}{{- $_ := set $conf . (get $all.config .) -}}{{- end -}}
{{- $_ := merge $env (get $all.secrets . | default dict) -}}
{{- end -}}
{{- toYaml (dict "config" $conf "secrets" $env) -}}
{{- end -}}

{{/*
Checksum for a service's pod template: its config view plus the scripts that assemble and guard it.
Changing a value rolls exactly the pods that read it. (dict "global" .Values.global "service" "gateway")
*/}}
{{- define "qmtl.config.checksum" -}}
{{- $view := include "qmtl.config.forService" . -}}
{{- printf "%s\n%s\n%s" $view (include "qmtl.script.assemble" .) (include "qmtl.script.guard" .) | sha256sum -}}
{{- end -}}
