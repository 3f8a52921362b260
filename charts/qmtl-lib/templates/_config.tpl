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

Every key below was checked against QMTL's source (hyophyop/qmtl): the dataclasses GatewayConfig
(+ GatewayEventsConfig), DagManagerConfig, WorldServiceConfig / WorldServiceServerConfig,
SeamlessConfig and ConnectorsConfig, all built with `Cls(**section)`, so an unknown key makes the
service exit. Notes on keys that need care:
  - gateway.controlbus_ack_topic: not in every QMTL release's GatewayConfig; the config validation
    that gateway runs at start reads it (QMTL_RUNTIME_FACTS.md, commit fc06bd8). A QMTL older than that
    rejects it: use a matching image.
  - worldservice.server.controlbus_brokers / controlbus_topic: read by the WorldService app and its
    prod checks in current QMTL (older releases ignored them).
  - dev/local modes, as QMTL selects them: gateway without redis_dsn uses an in-memory Redis and with
    database_backend sqlite a file; dagmanager without neo4j_dsn keeps its graph in memory and saves it
    to memory_repo_path at exit, without kafka_dsn it uses an in-memory admin client; worldservice
    needs a `server` block with a non-empty `dsn` even in dev (it refuses to start otherwise) and, without
    `redis`, keeps everything in memory (the dsn is then unused). So the dev DSNs are local files under
    the pod's data dir, never a network endpoint.
  - seamless / connectors carry endpoints only, no credentials: none of the three services reads them
    (the coordinator, which is what talks to Redis/QuestDB/S3 for Seamless, has its own credentials
    from its own Secrets). They are the stack's record of where Seamless lives, complete in prod as
    `qmtl config validate --target seamless` requires.

Every DSN is assembled from encoded parts (qmtl.encode.urlPart / urlHost): a user, database or host name
from the values cannot add a host, a path or a parameter (say, sslmode) to it.

Call: {{- $all := dict }}{{- include "qmtl.config.into" (dict "ctx" $ "into" $all) }}
  fills $all with {config: <the unified template>, secrets: {<section>: {<ENV>: {name, key}}}, local: {<service>: bool}}
  `local`: the service keeps state in files under qmtl.dataDir (its pod needs a writable data dir).
*/}}
{{- define "qmtl.dataDir" -}}/var/lib/qmtl{{- end -}}

{{- define "qmtl.config.into" -}}
{{- include "qmtl.memo.into" (dict "ctx" .ctx "fn" "qmtl.config.build" "into" .into) -}}
{{- end -}}

{{- define "qmtl.config.build" -}}
{{- $g := .global -}}
{{- $ep := dict -}}{{- include "qmtl.endpoints.into" (dict "ctx" .ctx "into" $ep) -}}
{{- $ports := $g.ports -}}
{{- $data := include "qmtl.dataDir" . -}}
{{- $t := $ep.controlbus.topics -}}
{{- $secrets := dict "gateway" dict "dagmanager" dict "worldservice" dict -}}
{{- $local := dict "gateway" false "dagmanager" false "worldservice" false -}}
{{- $worldserviceUrl := printf "http://%s:%d" (include "qmtl.serviceName" "worldservice") (int $ports.worldservice) -}}
{{- $gatewayBase := printf "%s:%d" (include "qmtl.serviceName" "gateway") (int $ports.gateway) -}}

{{- /* gateway */ -}}
{{- $gw := dict "host" "0.0.0.0" "port" (int $ports.gateway) -}}
{{- if $ep.redis.available -}}
{{- $u := $ep.redis.users.gateway -}}
{{- $_ := set $gw "redis_dsn" (printf "%s://%s:${QMTL_SECRET_REDIS_GATEWAY|url}@%s:%d/%d" $ep.redis.scheme (include "qmtl.encode.urlPart" $u.username) (include "qmtl.encode.urlHost" $u.host) (int $u.port) (int $u.db)) -}}
{{- $_ := set $secrets.gateway "QMTL_SECRET_REDIS_GATEWAY" $u.secret -}}
{{- end -}}
{{- if $ep.postgres.available -}}
{{- $d := $ep.postgres.databases.gateway -}}
{{- $_ := set $gw "database_backend" "postgres" -}}
{{- $_ := set $gw "database_dsn" (printf "postgresql://%s:${QMTL_SECRET_POSTGRES_GATEWAY|url}@%s:%d/%s?sslmode=%s" (include "qmtl.encode.urlPart" $d.username) (include "qmtl.encode.urlHost" $ep.postgres.host) (int $ep.postgres.port) (include "qmtl.encode.urlPart" $d.database) (include "qmtl.encode.urlPart" $ep.postgres.sslmode)) -}}
{{- $_ := set $secrets.gateway "QMTL_SECRET_POSTGRES_GATEWAY" $d.secret -}}
{{- else -}}
{{- $_ := set $gw "database_backend" "sqlite" -}}
{{- $_ := set $gw "database_dsn" (printf "sqlite:///%s/gateway.db" $data) -}}
{{- $_ := set $local "gateway" true -}}
{{- end -}}
{{- if $ep.controlbus.available -}}
{{- $_ := set $gw "controlbus_brokers" $ep.controlbus.brokers -}}
{{- $_ := set $gw "controlbus_topics" (list (get $t "activation") (get $t "policy") (get $t "queue") (get $t "sentinel_weight")) -}}
{{- $_ := set $gw "controlbus_group" (printf "%s-${QMTL_POD_NAME}" $ep.controlbus.clients.gatewayGroup) -}}
{{- $_ := set $gw "controlbus_ack_topic" (get $t "control.activation.ack") -}}
{{- $_ := set $gw "commitlog_bootstrap" (join "," $ep.controlbus.brokers) -}}
{{- $_ := set $gw "commitlog_topic" (get $t "gateway.ingest") -}}
{{- $_ := set $gw "commitlog_group" $ep.controlbus.clients.commitlogGroup -}}
{{- $_ := set $gw "commitlog_transactional_id" (printf "%s-${QMTL_POD_NAME}" $ep.controlbus.clients.commitlogTransactionalId) -}}
{{- end -}}
{{- $_ := set $gw "worldservice_url" $worldserviceUrl -}}
{{- /* events: the signing secret from the gateway's own Secret; the WebSocket URLs handed to SDK
     clients point at the gateway Service, or, when the gateway is exposed (global.gatewayIngress /
     gatewayHttpRoute), at its public host (QMTL's defaults assume a TLS ingress named "gateway"). */ -}}
{{- $wsBase := printf "ws://%s" $gatewayBase -}}
{{- with include "qmtl.gatewayExposure.url" (dict "global" $g) -}}{{- $wsBase = include "qmtl.gatewayExposure.wsBase" . -}}{{- end -}}
{{- $_ := set $gw "events" (dict "secret" "${QMTL_SECRET_GATEWAY_EVENTS}" "stream_url" (printf "%s/ws/evt" $wsBase) "fallback_url" (printf "%s/ws" $wsBase)) -}}
{{- $events := $g.gatewayEvents | default dict -}}
{{- $eventsRef := dict "name" (include "qmtl.bundledSecretNames" . | fromYaml).gatewayEvents "key" "secret" -}}
{{- if $events.existingSecret -}}{{- $eventsRef = dict "name" $events.existingSecret "key" ($events.key | default "secret") -}}{{- end -}}
{{- $_ := set $secrets.gateway "QMTL_SECRET_GATEWAY_EVENTS" $eventsRef -}}

{{- /* dagmanager */ -}}
{{- $dm := dict "grpc_host" "0.0.0.0" "grpc_port" (int $ports.dagmanagerGrpc) "http_host" "0.0.0.0" "http_port" (int $ports.dagmanagerHttp) -}}
{{- if $ep.neo4j.available -}}
{{- $_ := set $dm "neo4j_dsn" $ep.neo4j.uri -}}
{{- $_ := set $dm "neo4j_user" $ep.neo4j.username -}}
{{- $_ := set $dm "neo4j_password" "${QMTL_SECRET_NEO4J}" -}}
{{- $_ := set $secrets.dagmanager "QMTL_SECRET_NEO4J" $ep.neo4j.secret -}}
{{- else -}}
{{- $_ := set $dm "memory_repo_path" (printf "%s/dagmanager-graph.gpickle" $data) -}}
{{- $_ := set $local "dagmanager" true -}}
{{- end -}}
{{- if $ep.controlbus.available -}}
{{- $_ := set $dm "kafka_dsn" (join "," $ep.controlbus.brokers) -}}
{{- /* QMTL wraps controlbus_dsn in a one-element broker list: one bootstrap broker, the client
     discovers the others. */ -}}
{{- $_ := set $dm "controlbus_dsn" (first $ep.controlbus.brokers) -}}
{{- $_ := set $dm "controlbus_queue_topic" (get $t "queue") -}}
{{- end -}}

{{- /* worldservice: client part (url) and server part (always present: WorldService refuses to start
     without server.dsn, even in dev) */ -}}
{{- $ws := dict "url" $worldserviceUrl -}}
{{- $srv := dict -}}
{{- if $ep.postgres.available -}}
{{- $d := $ep.postgres.databases.worldservice -}}
{{- $_ := set $srv "dsn" (printf "postgresql://%s:${QMTL_SECRET_POSTGRES_WORLDSERVICE|url}@%s:%d/%s?sslmode=%s" (include "qmtl.encode.urlPart" $d.username) (include "qmtl.encode.urlHost" $ep.postgres.host) (int $ep.postgres.port) (include "qmtl.encode.urlPart" $d.database) (include "qmtl.encode.urlPart" $ep.postgres.sslmode)) -}}
{{- $_ := set $secrets.worldservice "QMTL_SECRET_POSTGRES_WORLDSERVICE" $d.secret -}}
{{- else -}}
{{- $_ := set $srv "dsn" (printf "sqlite:///%s/worldservice.db" $data) -}}
{{- $_ := set $local "worldservice" true -}}
{{- end -}}
{{- if $ep.redis.available -}}
{{- $u := $ep.redis.users.worldservice -}}
{{- $_ := set $srv "redis" (printf "%s://%s:${QMTL_SECRET_REDIS_WORLDSERVICE|url}@%s:%d/%d" $ep.redis.scheme (include "qmtl.encode.urlPart" $u.username) (include "qmtl.encode.urlHost" $u.host) (int $u.port) (int $u.db)) -}}
{{- $_ := set $secrets.worldservice "QMTL_SECRET_REDIS_WORLDSERVICE" $u.secret -}}
{{- end -}}
{{- if $ep.controlbus.available -}}
{{- $_ := set $srv "controlbus_brokers" $ep.controlbus.brokers -}}
{{- $_ := set $srv "controlbus_topic" (get $t "policy") -}}
{{- end -}}
{{- $_ := set $ws "server" $srv -}}

{{- /* seamless: endpoints only (see above). */ -}}
{{- $sl := dict "artifact_bucket" $ep.s3.bucket "artifacts_enabled" $ep.s3.available "artifact_dir" (printf "%s/seamless-artifacts" $data) -}}
{{- with $ep.coordinator.url -}}{{- $_ := set $sl "coordinator_url" . -}}{{- end -}}
{{- if $ep.redis.available -}}
{{- $u := $ep.redis.users.seamless -}}
{{- $_ := set $sl "redis_dsn" (printf "%s://%s:%d/%d" $ep.redis.scheme (include "qmtl.encode.urlHost" $u.host) (int $u.port) (int $u.db)) -}}
{{- end -}}
{{- if $ep.questdb.available -}}
{{- $_ := set $sl "questdb_dsn" (printf "postgresql://%s:%d/%s?sslmode=%s" (include "qmtl.encode.urlHost" $ep.questdb.host) (int $ep.questdb.port) (include "qmtl.encode.urlPart" $ep.questdb.database) (include "qmtl.encode.urlPart" $ep.questdb.sslmode)) -}}
{{- end -}}
{{- if $ep.s3.available -}}
{{- $_ := set $sl "artifact_endpoint" $ep.s3.endpoint -}}
{{- end -}}

{{- $conf := dict "profile" $g.profile "gateway" $gw "dagmanager" $dm "worldservice" $ws "seamless" $sl -}}
{{- if $ep.redis.available -}}
{{- $u := $ep.redis.users.ratelimiter -}}
{{- $_ := set $conf "connectors" (dict "ccxt_rate_limiter_redis" (printf "%s://%s:%d/%d" $ep.redis.scheme (include "qmtl.encode.urlHost" $u.host) (int $u.port) (int $u.db))) -}}
{{- end -}}
{{- $_ := set .into "config" $conf -}}
{{- $_ := set .into "secrets" $secrets -}}
{{- $_ := set .into "local" $local -}}
{{- end -}}

{{/*
What each QMTL service's pod reads: config sections (besides the top-level `profile`) and the scripts
it runs. The guard runs only in prod (qmtl.pod.initContainers). This is the one place that decides
which change rolls which pod.
*/}}
{{- define "qmtl.config.consumers" -}}
gateway:
  sections: [gateway]
  scripts: [assemble, guard, forwarder]
dagmanager:
  sections: [dagmanager]
  scripts: [assemble]
worldservice:
  sections: [worldservice]
  scripts: [assemble]
{{- end -}}

{{- define "qmtl.config.sections" -}}
{{- $out := dict -}}
{{- range $svc, $c := (include "qmtl.config.consumers" . | fromYaml) -}}
{{- $_ := set $out $svc $c.sections -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/*
One service's view: (dict "ctx" $ "service" "gateway" "into" $view) fills $view with
  {config: <profile + its sections>, secrets: {<ENV>: {name, key}}, local: bool}
*/}}
{{- define "qmtl.config.forService.into" -}}
{{- include "qmtl.memo.into" (dict "ctx" .ctx "fn" "qmtl.config.view" "service" .service "into" .into) -}}
{{- end -}}

{{- define "qmtl.config.view" -}}
{{- $all := dict -}}{{- include "qmtl.config.into" (dict "ctx" .ctx "into" $all) -}}
{{- $sections := get (include "qmtl.config.sections" . | fromYaml) .service -}}
{{- if not $sections -}}{{- fail (printf "qmtl-lib: %q reads no QMTL config section" .service) -}}{{- end -}}
{{- $conf := dict "profile" $all.config.profile -}}
{{- $env := dict -}}
{{- range $sections -}}
{{- if hasKey $all.config . -}}{{- $_ := set $conf . (get $all.config .) -}}{{- end -}}
{{- $_ := merge $env (get $all.secrets . | default dict) -}}
{{- end -}}
{{- $_ := set .into "config" $conf -}}
{{- $_ := set .into "secrets" $env -}}
{{- $_ := set .into "local" (get $all.local .service) -}}
{{- end -}}

{{/*
Checksum for a service's pod template: its config view plus the text of every script the pod runs.
Changing a value rolls exactly the pods that read it. (dict "ctx" $ "service" "gateway")
*/}}
{{- define "qmtl.config.checksum" -}}
{{- $model := dict -}}{{- include "qmtl.config.forService.into" (dict "ctx" .ctx "service" .service "into" $model) -}}
{{- $view := toYaml $model -}}
{{- $consumer := get (include "qmtl.config.consumers" . | fromYaml) .service -}}
{{- $parts := list $view -}}
{{- $scriptArgs := dict "global" .ctx.Values.global "service" .service -}}
{{- range $consumer.scripts -}}
{{- if or (ne . "guard") (eq $.ctx.Values.global.profile "prod") -}}
{{- $parts = append $parts (include (printf "qmtl.script.%s" .) $scriptArgs) -}}
{{- end -}}
{{- end -}}
{{- join "\n---\n" $parts | sha256sum -}}
{{- end -}}
