{{/*
The aggregated values check: rules a JSON Schema cannot express (they compare values with each other
or with the chart's own derived facts: service names, ports), plus a second line of defence for the
prod rules that matter most, for installs that skip the schema (--skip-schema-validation), plus the
core services' own cross-component rules (qmtl.config.errors in qmtl-lib).

  include "qmtl.validate.problems" . | fromYaml   ->  {problems: ["<key path>: <what is wrong>: <what to do>", ...]}

templates/validate/renders/first/check.yaml turns a non-empty list into ONE `fail` that lists every
problem. It never fails itself on odd input: a value of the wrong type is skipped here (the schema
names it) so that the other rules still report.

Types, bounds, patterns and the "prod requires ..." rules live in values.schema.json (generated from
schemas/values_schema.py). Each rule lives in one of the two places; the prod defence below is the
exception, on purpose.
*/}}

{{- define "qmtl.validate.problems" -}}
{{- $v := .Values -}}
{{- $g := $v.global -}}
{{- $p := list -}}
{{- if not (kindIs "map" $g) -}}
{{- $p = append $p "global: missing or not a map: start from values/dev.yaml or values/prod.yaml" -}}
{{- $g = dict -}}
{{- end -}}
{{- $profile := toString ($g.profile | default "") -}}
{{- $prod := eq $profile "prod" -}}
{{- if not (has $profile (list "dev" "prod")) -}}
{{- $p = append $p (printf "global.profile: %q is not a profile: set dev or prod (-f values/dev.yaml or -f values/prod.yaml)" $profile) -}}
{{- end -}}

{{- /* Which dependencies are there: bundled (enabled) or external (its endpoint given). Same rule as
qmtl.endpoints' `available`, computed here without calling it (it fails on the first problem). */ -}}
{{- $endpointKeys := dict "redis" "host" "postgres" "host" "neo4j" "uri" "questdb" "host" "minio" "endpoint" "controlbus" "brokers" -}}
{{- $names := dict "redis" "Redis" "postgres" "PostgreSQL" "neo4j" "Neo4j" "questdb" "QuestDB" "minio" "MinIO/S3" "controlbus" "the ControlBus" -}}
{{- $available := dict -}}
{{- $bundled := dict -}}
{{- range $dep := keys $endpointKeys | sortAlpha -}}
{{- $d := get $g $dep -}}
{{- if not (kindIs "map" $d) -}}{{- $d = dict -}}{{- end -}}
{{- $x := $d.external -}}
{{- if not (kindIs "map" $x) -}}{{- $x = dict -}}{{- end -}}
{{- $on := eq (toString $d.enabled) "true" -}}
{{- $_ := set $bundled $dep $on -}}
{{- $_ := set $available $dep (or $on (not (empty (get $x (get $endpointKeys $dep))))) -}}
{{- if and $on (not (empty $x)) -}}
{{- $p = append $p (printf "global.%s.external: is ignored while global.%s.enabled is true (the bundled %s is used): remove it, or set global.%s.enabled: false to use the managed one" $dep $dep (get $names $dep) $dep) -}}
{{- end -}}
{{- end -}}

{{- /* prod: the Seamless side needs Redis, QuestDB and S3 whatever runs the coordinator. (What each
enabled QMTL service needs is in qmtl.config.errors, below.) */ -}}
{{- if $prod -}}
{{- range $dep := list "redis" "questdb" "minio" -}}
{{- if not (get $available $dep) -}}
{{- $p = append $p (printf "global.%s: prod requires %s for Seamless (no in-memory fallback): set global.%s.enabled: true, or global.%s.external.%s and its existingSecret" $dep (get $names $dep) $dep $dep (get $endpointKeys $dep)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* ControlBus: a topic prefix breaks QMTL's gateway unless the operator says the gateway handles it.
Prod defence (the schema has the same rule): a bundled bus has at least 3 brokers, also after a
per-component override. */ -}}
{{- $cb := $g.controlbus -}}
{{- if not (kindIs "map" $cb) -}}{{- $cb = dict -}}{{- end -}}
{{- if and $cb.topicPrefix (ne (toString $cb.topicPrefixAcknowledged) "true") -}}
{{- $p = append $p (printf "global.controlbus.topicPrefix: %q is set without global.controlbus.topicPrefixAcknowledged: true. QMTL's gateway routes ControlBus messages by the exact names (activation, policy, queue, ...) and drops prefixed ones: use a prefix only with a gateway that understands it, then set topicPrefixAcknowledged: true" (toString $cb.topicPrefix)) -}}
{{- end -}}
{{- if and $prod (get $bundled "controlbus") -}}
{{- $own := get $v "controlbus" -}}
{{- if not (kindIs "map" $own) -}}{{- $own = dict -}}{{- end -}}
{{- $table := dict -}}
{{- if kindIs "map" $g.replicas -}}{{- $table = get $g.replicas "prod" -}}{{- end -}}
{{- if not (kindIs "map" $table) -}}{{- $table = dict -}}{{- end -}}
{{- if hasKey $own "replicas" -}}
{{- if lt (float64 ($own.replicas | default 0)) 3.0 -}}
{{- $p = append $p (printf "controlbus.replicas: %v brokers; prod needs at least 3 (dagmanager creates data topics with replication factor 3): remove the override or set 3 or more" $own.replicas) -}}
{{- end -}}
{{- else if lt (float64 (get $table "controlbus" | default 0)) 3.0 -}}
{{- $p = append $p (printf "global.replicas.prod.controlbus: %v brokers; prod needs at least 3 (dagmanager creates data topics with replication factor 3): set 3 or more" (get $table "controlbus" | default "unset")) -}}
{{- end -}}
{{- end -}}

{{- /* Redis: each user its own logical database. */ -}}
{{- $redis := $g.redis -}}
{{- if not (kindIs "map" $redis) -}}{{- $redis = dict -}}{{- end -}}
{{- $dbs := $redis.databases -}}
{{- if kindIs "map" $dbs -}}
{{- $seen := dict -}}
{{- range $who := keys $dbs | sortAlpha -}}
{{- $index := toString (get $dbs $who) -}}
{{- if hasKey $seen $index -}}
{{- $p = append $p (printf "global.redis.databases.%s: database %s is already used by %s: give every Redis user its own database index" $who $index (get $seen $index)) -}}
{{- else -}}
{{- $_ := set $seen $index $who -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* Ports that share one pod (or one Service) must differ. */ -}}
{{- $ports := $g.ports -}}
{{- if not (kindIs "map" $ports) -}}{{- $ports = dict -}}{{- end -}}
{{- $groups := dict "dagmanager" (list "dagmanagerHttp" "dagmanagerGrpc") "seamless-coordinator" (list "coordinator" "coordinatorMetrics") "controlbus" (list "kafka" "kafkaSasl" "redpandaAdmin" "redpandaRpc") "neo4j" (list "neo4jBolt" "neo4jHttp") "questdb" (list "questdbPg" "questdbHttp" "questdbHealth") "minio" (list "minio" "minioConsole") -}}
{{- range $workload := keys $groups | sortAlpha -}}
{{- $seen := dict -}}
{{- range $key := get $groups $workload -}}
{{- if hasKey $ports $key -}}
{{- $n := toString (get $ports $key) -}}
{{- if hasKey $seen $n -}}
{{- $p = append $p (printf "global.ports.%s: %s is also global.ports.%s, and both listen in the %s pod: give them different ports" $key $n (get $seen $n) $workload) -}}
{{- else -}}
{{- $_ := set $seen $n $key -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* Resources: a limit below its request is refused by the API server at install time; say it now.
The active profile's table and every component's own override. */ -}}
{{- $tables := list -}}
{{- $res := $g.resources -}}
{{- if and (kindIs "map" $res) (has $profile (list "dev" "prod")) (kindIs "map" (get $res $profile)) -}}
{{- $tables = append $tables (dict "path" (printf "global.resources.%s" $profile) "table" (get $res $profile)) -}}
{{- end -}}
{{- range $name := keys $v | sortAlpha -}}
{{- $section := get $v $name -}}
{{- if and (ne $name "global") (kindIs "map" $section) (kindIs "map" $section.resources) -}}
{{- $tables = append $tables (dict "path" (printf "%s.resources" $name) "table" $section.resources) -}}
{{- end -}}
{{- end -}}
{{- range $t := $tables -}}
{{- range $container := keys $t.table | sortAlpha -}}
{{- $r := get $t.table $container -}}
{{- if and (kindIs "map" $r) (kindIs "map" $r.requests) (kindIs "map" $r.limits) -}}
{{- range $kind := list "cpu" "memory" "ephemeral-storage" -}}
{{- $req := include "qmtl.validate.quantity" (dict "q" (get $r.requests $kind) "kind" $kind) -}}
{{- $lim := include "qmtl.validate.quantity" (dict "q" (get $r.limits $kind) "kind" $kind) -}}
{{- if and $req $lim (lt (float64 $lim) (float64 $req)) -}}
{{- $p = append $p (printf "%s.%s.limits.%s: %v is below requests.%s (%v): raise the limit or lower the request" $t.path $container $kind (get $r.limits $kind) $kind (get $r.requests $kind)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* The core services' cross-component rules (the coordinator URL and switch, what each enabled
service needs), written by their owners in qmtl-lib's qmtl.config.errors: reported here too, so that one
`fail` lists everything. It needs a valid profile (it asks qmtl.profile) and the wiring blocks to be maps
(it reads them through qmtl.endpoints); otherwise the schema's type errors come first. */ -}}
{{- $shapesOk := and (kindIs "map" $g.ports) (kindIs "map" $g.seamless) (kindIs "map" (get $v "seamless-coordinator")) -}}
{{- range $block := list "redis" "postgres" "neo4j" "questdb" "minio" "controlbus" -}}
{{- $shapesOk = and $shapesOk (kindIs "map" (get $g $block)) -}}
{{- end -}}
{{- $shapesOk = and $shapesOk (kindIs "map" (dig "redis" "databases" "" $g)) -}}
{{- if and (has $profile (list "dev" "prod")) $shapesOk -}}
{{- $p = concat $p ((include "qmtl.config.errors" . | fromYaml).errors | default list) -}}
{{- end -}}

{{- toYaml (dict "problems" $p) -}}
{{- end -}}

{{/*
A Kubernetes quantity as a number (cpu in millicores, the others in bytes), or "" when it is not one
(the schema reports malformed quantities). (dict "q" <value> "kind" "cpu"|"memory"|"ephemeral-storage")
*/}}
{{- define "qmtl.validate.quantity" -}}
{{- $s := toString (.q | default "") -}}
{{- $number := regexFind "^([0-9]+(\\.[0-9]+)?|\\.[0-9]+)" $s -}}
{{- if $number -}}
{{- $suffix := trimPrefix $number $s -}}
{{- if eq .kind "cpu" -}}
{{- if eq $suffix "m" -}}{{- float64 $number -}}{{- else if eq $suffix "" -}}{{- mulf (float64 $number) 1000 -}}{{- end -}}
{{- else -}}
{{- $scale := dict "" 1 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "P" 1000000000000000 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "Pi" 1125899906842624 -}}
{{- if hasKey $scale $suffix -}}{{- mulf (float64 $number) (get $scale $suffix) -}}{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
