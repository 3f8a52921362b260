{{/*
The DAG Manager's graph schema, in Neo4j 5 Cypher, rendered ONCE here and shipped as data
(ConfigMap qmtl-neo4j-schema, schema.cypher); the schema Job runs it with cypher-shell and the engine
tests run the same statements against a real Neo4j 5.

It is QMTL's own schema (qmtl/services/dagmanager/neo4j_init.py, SCHEMA_QUERIES) with the one
statement Neo4j 5 rejects translated: Neo4j 4's `CREATE CONSTRAINT ... ON (c:ComputeNode) ASSERT
c.node_id IS UNIQUE` is `FOR (c:ComputeNode) REQUIRE c.node_id IS UNIQUE` in Neo4j 5. Names are QMTL's,
so its rollback (DROP ... IF EXISTS by name) still applies. Every statement is IF NOT EXISTS: re-runs
change nothing.
*/}}
{{- define "neo4j.schema.cypher" -}}
// QMTL DAG Manager schema (Neo4j 5), rendered by the qmtl chart (charts/neo4j). Idempotent.
// Uniqueness and lookup for the core access paths.
CREATE CONSTRAINT compute_pk IF NOT EXISTS FOR (c:ComputeNode) REQUIRE c.node_id IS UNIQUE;
CREATE INDEX kafka_topic IF NOT EXISTS FOR (q:Queue) ON (q.topic);
// Tag-based queue lookups (any/all membership checks over c.tags).
CREATE INDEX compute_tags IF NOT EXISTS FOR (c:ComputeNode) ON (c.tags);
// Interval-filtered queue lookups.
CREATE INDEX queue_interval IF NOT EXISTS FOR (q:Queue) ON (q.interval);
// Buffering-window scans for GC and monitoring.
CREATE INDEX compute_buffering_since IF NOT EXISTS FOR (c:ComputeNode) ON (c.buffering_since);
{{- end -}}

{{- define "neo4j.schema.script" -}}
#!/usr/bin/env bash
# QMTL Neo4j schema (rendered by the qmtl chart, charts/neo4j): waits until Bolt accepts the neo4j
# user, then runs schema.cypher (next to this script) with cypher-shell, which reads
# NEO4J_ADDRESS, NEO4J_USERNAME and NEO4J_PASSWORD from the environment.
#   env: QMTL_SCHEMA_WAIT_SECONDS (default 300)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
wait_seconds="${QMTL_SCHEMA_WAIT_SECONDS:-300}"
deadline=$((SECONDS + wait_seconds))
err="${TMPDIR:-/tmp}/neo4j-schema.err"
until cypher-shell --non-interactive 'RETURN 1;' >/dev/null 2>"$err"; do
  if ((SECONDS >= deadline)); then
    echo "neo4j-schema: ${NEO4J_USERNAME:-?}@${NEO4J_ADDRESS:-?} did not accept a session in ${wait_seconds}s:" >&2
    cat "$err" >&2
    exit 1
  fi
  sleep 3
done
cypher-shell --non-interactive --fail-fast -f "$here/schema.cypher"
cypher-shell --non-interactive --format plain 'SHOW INDEXES YIELD name, type, labelsOrTypes, properties, owningConstraint;'
echo "neo4j-schema: done"
{{- end -}}

{{/*
The neo4j container's env: the password (Secret), NEO4J_AUTH, and neo4j.conf settings as the image's
NEO4J_* env vars (`.` -> `_`, `_` -> `__`): the chart's settings, then neo4j.config's (allowlisted by
values.schema.json), never replacing a variable the chart sets (qmtl.env).
*/}}
{{- define "neo4j.env" -}}
{{- $profile := include "qmtl.profile" . -}}
{{- $ep := dict -}}{{- include "qmtl.endpoints.into" (dict "ctx" $ "into" $ep) -}}
{{- /* neo4j.memory.<profile>: heap and pagecache, each typed by values.schema.json; present, here (the schema
  cannot require them: `helm lint` validates a partial override without this chart's defaults) */ -}}
{{- $mem := get (.Values.memory | default dict) $profile | default dict -}}
{{- if not (and (kindIs "map" $mem) $mem.heap $mem.pagecache) -}}
{{- fail (printf "neo4j.memory.%s: set both heap and pagecache (e.g. heap: 2g, pagecache: 1g)" $profile) -}}
{{- end -}}
{{- $ports := .Values.global.ports -}}
{{- $conf := dict
  "server.memory.heap.initial_size" $mem.heap
  "server.memory.heap.max_size" $mem.heap
  "server.memory.pagecache.size" $mem.pagecache
  "server.default_listen_address" "0.0.0.0"
  "server.bolt.listen_address" (printf ":%d" (int $ports.neo4jBolt))
  "server.http.listen_address" (printf ":%d" (int $ports.neo4jHttp))
  "server.https.enabled" "false"
  "dbms.security.auth_enabled" "true"
  "dbms.usage_report.enabled" "false" -}}
{{- $chart := list
  (dict "name" "QMTL_NEO4J_PASSWORD" "valueFrom" (dict "secretKeyRef" (dict "name" $ep.neo4j.secret.name "key" $ep.neo4j.secret.key)))
  (dict "name" "NEO4J_AUTH" "value" (printf "%s/$(QMTL_NEO4J_PASSWORD)" $ep.neo4j.username)) -}}
{{- range $k := keys $conf | sortAlpha -}}
{{- $chart = append $chart (dict "name" (include "neo4j.envName" $k) "value" (toString (get $conf $k))) -}}
{{- end -}}
{{- $extra := dict -}}
{{- range $k, $v := .Values.config | default dict -}}
{{- $_ := set $extra (include "neo4j.envName" $k) (toString $v) -}}
{{- end -}}
{{- include "qmtl.env" (dict "chart" $chart "extra" $extra) -}}
{{- end -}}

{{- define "neo4j.envName" -}}
{{- printf "NEO4J_%s" (. | replace "_" "__" | replace "." "_") -}}
{{- end -}}
