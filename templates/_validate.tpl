{{/*
The aggregated values check: the ONE place for the values rules a JSON Schema cannot express, because
they compare values with each other or with the chart's own derived facts (service names, ports, the
gateway's hard-coded DAG Manager address). Everything a schema can say (types, bounds, patterns,
unknown keys, "prod requires ...", rules between keys of the if/then kind) is in values.schema.json,
generated from schemas/rules.py, and nowhere else.

  include "qmtl.validate.problems" . | fromYaml   ->  {problems: ["<key path>: <what is wrong>: <what to do>", ...]}

templates/validate/renders/first/check.yaml turns a non-empty list into ONE `fail` that lists every
problem, before any other template renders. It never fails itself on odd input: a value of the wrong
type is skipped here (the schema names it), so that the other rules still report.

One deliberate exception to "each rule in one place": the design's promise that prod never installs
without Redis, QuestDB and S3 for Seamless is also kept here, for installs that skip the schema (helm
--skip-schema-validation): the endpoints are derived facts this check reads anyway. tests/validation/
test_checks.py proves it. "prod needs global.seamless.coordinator_url" is the schema's alone (its prod
rules); an install that skips the schema meets the runtime guard, which fails the pods visibly.

The rules:
  coordinator   global.seamless.coordinator_url and seamless-coordinator.enabled agree: the bundled
                coordinator is http://seamless-coordinator:<global.ports.coordinator> (its Service name, also
                qualified with the release namespace, matched exactly), any other host is an external one
  seamless      the bundled coordinator (any profile) has Redis and QuestDB; prod has them and S3 whatever
                runs the coordinator (the exception above)
  leases        the bundled coordinator's lease record outlives its longest lease
                (seamless-coordinator.leases.recordTtlSeconds * 1000 > leases.maxMs)
  redis         every Redis user its own logical database
  topics        every ControlBus topic's full name (global.controlbus.topicPrefix + its name) within
                Kafka's 249 characters
  scrape        global.serviceMonitor.scrapeTimeout at most its interval (Prometheus refuses more)
  exposure      the paths of global.gatewayIngress / gatewayHttpRoute route the gateway's WebSocket
                streams (/ws, /ws/evt): the URLs the gateway hands to SDK clients point there
  autoscaling   minReplicas (or the profile's replica count) at most maxReplicas, at least 2 in prod (the
                PodDisruptionBudget lets one pod go at a time); never for a service that keeps its state
                in its pod (its local modes: gateway without Redis and PostgreSQL, worldservice without
                Redis and PostgreSQL, dagmanager without Neo4j)
  ports         ports that listen in the same pod differ
  secrets       a Secret named in the values is not the chart's own Secret of another component
  resources     no limit below its request, and no quantity beyond qmtl.quantity.max (the active profile's
                table and every component's override)
*/}}

{{- define "qmtl.validate.problems" -}}
{{- $v := .Values -}}
{{- $g := $v.global -}}
{{- $p := list -}}
{{- if not (kindIs "map" $g) -}}{{- $g = dict -}}{{- end -}}
{{- $profile := toString ($g.profile | default "") -}}
{{- $prod := eq $profile "prod" -}}
{{- $ports := $g.ports -}}
{{- if not (kindIs "map" $ports) -}}{{- $ports = dict -}}{{- end -}}
{{- $coordSection := get $v "seamless-coordinator" -}}
{{- if not (kindIs "map" $coordSection) -}}{{- $coordSection = dict -}}{{- end -}}
{{- $coordEnabled := eq (toString $coordSection.enabled) "true" -}}
{{- $name := include "qmtl.serviceName" "seamless-coordinator" -}}
{{- $coordPort := get $ports "coordinator" -}}
{{- $bundledUrl := printf "http://%s:%v" $name $coordPort -}}
{{- $seamless := $g.seamless -}}
{{- if not (kindIs "map" $seamless) -}}{{- $seamless = dict -}}{{- end -}}

{{- /* coordinator: the URL decides where the coordinator runs; the switch must agree. The bundled coordinator
is the URL whose host is EXACTLY its Service's name (or that name qualified with the release namespace:
.<ns>, .<ns>.svc, .<ns>.svc.cluster.local; any letter case); every other host (another name that merely
starts like it, an IP literal, an IPv6 form) is an external coordinator. A URL whose form the schema
refuses is the schema's to report; whatever cannot be read as scheme://authority is not the bundled one. */ -}}
{{- $url := "" -}}
{{- if kindIs "string" $seamless.coordinator_url -}}{{- $url = trim $seamless.coordinator_url -}}{{- end -}}
{{- if $url -}}
{{- $scheme := lower (regexReplaceAll "^([A-Za-z][A-Za-z0-9+.-]*)://.*$" $url "${1}") -}}
{{- $authority := regexReplaceAll "^[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*).*$" $url "${1}" -}}
{{- $rest := regexReplaceAll "^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*(.*)$" $url "${1}" -}}
{{- $userinfo := contains "@" $authority -}}
{{- $hostport := regexReplaceAll "^.*@" $authority "" -}}
{{- $host := regexReplaceAll "^(\\[[^\\]]*\\]|[^:]*).*$" $hostport "${1}" -}}
{{- $port := trimPrefix ":" (trimPrefix $host $hostport) -}}
{{- $ns := lower (toString .Release.Namespace) -}}
{{- $bundledHosts := list $name (printf "%s.%s" $name $ns) (printf "%s.%s.svc" $name $ns) (printf "%s.%s.svc.cluster.local" $name $ns) -}}
{{- $isBundled := and (regexMatch "^[A-Za-z][A-Za-z0-9+.-]*://" $url) (has (lower $host | trimSuffix ".") $bundledHosts) -}}
{{- if $isBundled -}}
{{- if not $coordEnabled -}}
{{- $p = append $p (printf "global.seamless.coordinator_url: %q is the bundled coordinator, but seamless-coordinator.enabled is false: set seamless-coordinator.enabled: true, or point the URL at your external coordinator" $url) -}}
{{- else -}}
{{- if ne $scheme "http" -}}
{{- $p = append $p (printf "global.seamless.coordinator_url: %q: the bundled coordinator serves plain http: use %s" $url $bundledUrl) -}}
{{- end -}}
{{- $effective := $port | default (ternary "443" "80" (eq $scheme "https")) -}}
{{- if ne $effective (toString $coordPort) -}}
{{- $p = append $p (printf "global.seamless.coordinator_url: %q: the bundled coordinator listens on global.ports.coordinator (%v), not %s: use %s" $url $coordPort $effective $bundledUrl) -}}
{{- end -}}
{{- if or $userinfo (not (has $rest (list "" "/"))) -}}
{{- $p = append $p (printf "global.seamless.coordinator_url: %q: the bundled coordinator is reached at its root, without credentials, path, query or fragment (the guard probes {coordinator_url}/healthz): use %s" $url $bundledUrl) -}}
{{- end -}}
{{- end -}}
{{- else if $coordEnabled -}}
{{- $p = append $p (printf "global.seamless.coordinator_url: %q is an external coordinator (host %q is not the bundled coordinator's Service %s), so the bundled one would run unused: set seamless-coordinator.enabled: false, or use %s" $url $host $name $bundledUrl) -}}
{{- end -}}
{{- end -}}

{{- /* seamless: what the coordinator stores its state and tables in (and, in prod, Seamless's artifacts). The availability of a
dependency is qmtl.endpoints' (bundled, or an external endpoint given); it is asked only when needed and
when the blocks it reads are maps. */ -}}
{{- if or $prod $coordEnabled -}}
{{- $shapesOk := and (kindIs "map" $g.ports) (kindIs "map" $g.seamless) -}}
{{- range $block := include "qmtl.dependencies" $ | splitList " " -}}
{{- $shapesOk = and $shapesOk (kindIs "map" (get $g $block)) -}}
{{- end -}}
{{- $shapesOk = and $shapesOk (kindIs "map" (get (ternary $g.redis dict (kindIs "map" $g.redis)) "databases")) -}}
{{- if $shapesOk -}}
{{- $ep := dict -}}{{- include "qmtl.endpoints.into" (dict "ctx" $ "into" $ep) -}}
{{- $needs := list (list "redis" "redis" "Redis" "host" "its state") (list "questdb" "questdb" "QuestDB" "host" "its tables") (list "minio" "s3" "S3 (MinIO)" "endpoint" "its artifacts") -}}
{{- range $need := $needs -}}
{{- /* The coordinator itself uses no S3: only prod (QMTL's seamless config) requires it. */ -}}
{{- if and (not (get (get $ep (index $need 1)) "available")) (or $prod (ne (index $need 0) "minio")) -}}
{{- $why := ternary "prod has no in-memory fallback for Seamless" (printf "the bundled coordinator (seamless-coordinator.enabled: true) keeps %s there" (index $need 4)) $prod -}}
{{- $alt := ternary "" ", or set seamless-coordinator.enabled: false" $prod -}}
{{- $p = append $p (printf "global.%s: no %s, and %s: set global.%s.enabled: true, or global.%s.external.%s with its existingSecret%s" (index $need 0) (index $need 2) $why (index $need 0) (index $need 0) (index $need 3) $alt) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* leases: a stale token must still find the key's record (409) while a lease could be live. */ -}}
{{- $leases := get $coordSection "leases" -}}
{{- if and $coordEnabled (kindIs "map" $leases) -}}
{{- $maxMs := get $leases "maxMs" -}}
{{- $ttl := get $leases "recordTtlSeconds" -}}
{{- if and (or (kindIs "int" $maxMs) (kindIs "int64" $maxMs) (kindIs "float64" $maxMs)) (or (kindIs "int" $ttl) (kindIs "int64" $ttl) (kindIs "float64" $ttl)) -}}
{{- if le (mul (int64 $ttl) 1000) (int64 $maxMs) -}}
{{- $p = append $p (printf "seamless-coordinator.leases.recordTtlSeconds: %d s does not outlive leases.maxMs (%d ms): a lease record must outlive the longest lease, or completing it would answer 404 instead of 409; raise recordTtlSeconds or lower maxMs" (int64 $ttl) (int64 $maxMs)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* secrets: a Secret the values name (an external dependency's existingSecret, the gateway's event key)
is never one the chart owns for another component (qmtl.bundledSecretNames, the one list of them), nor a
Helm release record (sh.helm.release.v1.*, which holds every generated credential): that would hand this
service another one's (or a superuser's) credentials, or send them to an external host. Only the
component's own chart Secret may be named again (e.g. a Redis moved from bundled to managed). */ -}}
{{- $owned := include "qmtl.bundledSecretNames" . | fromYaml -}}
{{- $refs := list (list "redis" "global.redis.external.existingSecret" "redis") (list "postgres" "global.postgres.external.existingSecret" "postgres") (list "neo4j" "global.neo4j.external.existingSecret" "neo4j") (list "questdb" "global.questdb.external.existingSecret" "questdb") (list "minio" "global.minio.external.existingSecret" "minioCoordinator") (list "gatewayEvents" "global.gatewayEvents.existingSecret" "gatewayEvents") -}}
{{- range $ref := $refs -}}
{{- $block := get $g (index $ref 0) -}}
{{- if kindIs "map" $block -}}
{{- $holder := ternary $block (get $block "external") (eq (index $ref 0) "gatewayEvents") -}}
{{- $named := "" -}}
{{- if and (kindIs "map" $holder) (kindIs "string" (get $holder "existingSecret")) -}}{{- $named = trim (get $holder "existingSecret") -}}{{- end -}}
{{- if $named -}}
{{- range $what := keys $owned | sortAlpha -}}
{{- if and (eq $named (get $owned $what)) (ne $what (index $ref 2)) -}}
{{- $p = append $p (printf "%s: %q is the chart's own Secret for %s: name a Secret you created for this service's credentials (the chart's Secrets: %s)" (index $ref 1) $named $what (join ", " (values $owned | sortAlpha))) -}}
{{- end -}}
{{- end -}}
{{- if hasPrefix "sh.helm.release." $named -}}
{{- $p = append $p (printf "%s: %q is a Helm release record, which holds every credential the chart generated: name a Secret you created for this service's credentials" (index $ref 1) $named) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* redis: each user its own logical database. */ -}}
{{- $dbs := get (ternary $g.redis dict (kindIs "map" $g.redis)) "databases" -}}
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

{{- /* topics: Kafka refuses a topic name over 249 characters; the prefix counts. */ -}}
{{- $bus := ternary $g.controlbus dict (kindIs "map" $g.controlbus) -}}
{{- $prefix := ternary $bus.topicPrefix "" (kindIs "string" $bus.topicPrefix) -}}
{{- if kindIs "map" $bus.topics -}}
{{- range $topic := keys $bus.topics | sortAlpha -}}
{{- $full := len (printf "%s%s" $prefix $topic) -}}
{{- if gt $full 249 -}}
{{- $p = append $p (printf "global.controlbus.topics.%s: the topic's full name (global.controlbus.topicPrefix + name) has %d characters, Kafka allows 249: shorten the name or the prefix" $topic $full) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* scrape: durations are one number and unit (values.schema.json); compare them in ms. */ -}}
{{- $sm := ternary $g.serviceMonitor dict (kindIs "map" $g.serviceMonitor) -}}
{{- if $sm.enabled -}}
{{- $ms := dict -}}
{{- range $key := list "interval" "scrapeTimeout" -}}
{{- $d := toString (get $sm $key) -}}
{{- if regexMatch "^[0-9]+(ms|s|m|h)$" $d -}}
{{- $unit := regexReplaceAll "^[0-9]+" $d "" -}}
{{- $_ := set $ms $key (mul (int64 (trimSuffix $unit $d)) (get (dict "ms" 1 "s" 1000 "m" 60000 "h" 3600000) $unit)) -}}
{{- end -}}
{{- end -}}
{{- if and (hasKey $ms "interval") (hasKey $ms "scrapeTimeout") (gt (get $ms "scrapeTimeout") (get $ms "interval")) -}}
{{- $p = append $p (printf "global.serviceMonitor.scrapeTimeout: %s is longer than global.serviceMonitor.interval (%s), which Prometheus refuses: shorten it or raise the interval" $sm.scrapeTimeout $sm.interval) -}}
{{- end -}}
{{- end -}}

{{- /* exposure: the gateway's WebSocket streams go through every exposure that is on. */ -}}
{{- range $key := list "gatewayIngress" "gatewayHttpRoute" -}}
{{- $x := get $g $key -}}
{{- if and (kindIs "map" $x) (eq (toString $x.enabled) "true") (kindIs "slice" $x.paths) -}}
{{- range $path := list "/ws" "/ws/evt" -}}
{{- if not (include "qmtl.gatewayExposure.routes" (dict "paths" $x.paths "path" $path)) -}}
{{- $p = append $p (printf "global.%s.paths: %s is not routed to the gateway, but its WebSocket streams (/ws, /ws/evt) must be: the gateway hands their URLs to SDK clients. Add {path: /ws, pathType: Prefix}, or route /" $key $path) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* autoscaling: a range the autoscaler can keep, that the PodDisruptionBudget stays coherent with, for a
service whose replicas share their state. */ -}}
{{- $epShapesOk := and (kindIs "map" $g.ports) (kindIs "map" $g.seamless) (kindIs "map" (get (ternary $g.redis dict (kindIs "map" $g.redis)) "databases")) -}}
{{- range $block := include "qmtl.dependencies" $ | splitList " " -}}
{{- $epShapesOk = and $epShapesOk (kindIs "map" (get $g $block)) -}}
{{- end -}}
{{- $stateIn := dict "gateway" (list "redis" "postgres") "worldservice" (list "redis" "postgres") "dagmanager" (list "neo4j") "seamless-coordinator" list -}}
{{- range $name := keys $stateIn | sortAlpha -}}
{{- $s := get $v $name -}}
{{- if and (kindIs "map" $s) (eq (toString $s.enabled) "true") (kindIs "map" $s.autoscaling) (eq (toString $s.autoscaling.enabled) "true") -}}
{{- $a := $s.autoscaling -}}
{{- $min := $a.minReplicas -}}
{{- $minFrom := printf "%s.autoscaling.minReplicas" $name -}}
{{- if kindIs "invalid" $min -}}
{{- if or (kindIs "float64" $s.replicas) (kindIs "int64" $s.replicas) (kindIs "int" $s.replicas) -}}
{{- $min = $s.replicas -}}{{- $minFrom = printf "%s.replicas" $name -}}
{{- else if and (kindIs "map" $g.replicas) (kindIs "map" (get $g.replicas $profile)) -}}
{{- $min = get (get $g.replicas $profile) $name -}}{{- $minFrom = printf "global.replicas.%s.%s" $profile $name -}}
{{- end -}}
{{- end -}}
{{- $numbers := and (or (kindIs "float64" $min) (kindIs "int64" $min) (kindIs "int" $min)) (or (kindIs "float64" $a.maxReplicas) (kindIs "int64" $a.maxReplicas) (kindIs "int" $a.maxReplicas)) -}}
{{- if and $numbers (gt (int $min) (int $a.maxReplicas)) -}}
{{- $p = append $p (printf "%s.autoscaling.maxReplicas: %d is below the autoscaler's minReplicas (%d, from %s): raise it, or lower minReplicas" $name (int $a.maxReplicas) (int $min) $minFrom) -}}
{{- end -}}
{{- if and $numbers $prod (lt (int $min) 2) -}}
{{- $p = append $p (printf "%s.autoscaling.minReplicas: the autoscaler's minReplicas is %d (from %s); prod needs at least 2, so that one pod serves while the PodDisruptionBudget lets the other go: set %s.autoscaling.minReplicas to 2 or more" $name (int $min) $minFrom $name) -}}
{{- end -}}
{{- if $epShapesOk -}}
{{- $ep := dict -}}{{- include "qmtl.endpoints.into" (dict "ctx" $ "into" $ep) -}}
{{- $missing := list -}}{{- $keys := list -}}
{{- range $dep := get $stateIn $name -}}
{{- if not (get (get $ep $dep) "available") -}}
{{- $missing = append $missing (get (dict "redis" "Redis" "postgres" "PostgreSQL" "neo4j" "Neo4j") $dep) -}}
{{- $keys = append $keys (printf "global.%s" $dep) -}}
{{- end -}}
{{- end -}}
{{- if $missing -}}
{{- $p = append $p (printf "%s.autoscaling.enabled: without %s, %s keeps its state in its own pod (its local mode), so its replicas would not share it: give it %s (bundled or external), or leave autoscaling off" $name (join " and " $missing) $name (join " and " $keys)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* ports: the ports that listen in one pod differ. Each group: (key path, value) in the order in which
a collision is blamed on the later one. The gateway pod also holds the forwarder sidecar: its health port,
and the DAG Manager address QMTL's gateway dials (qmtl.gatewayDagmanagerDial, fixed). */ -}}
{{- $groups := list -}}
{{- range $workload, $keys := dict "dagmanager" (list "dagmanagerHttp" "dagmanagerGrpc") "seamless-coordinator" (list "coordinator" "coordinatorMetrics") "controlbus" (list "kafka" "kafkaSasl" "redpandaAdmin" "redpandaRpc") "neo4j" (list "neo4jBolt" "neo4jHttp") "questdb" (list "questdbPg" "questdbHttp" "questdbHealth") "minio" (list "minio" "minioConsole") -}}
{{- $members := list -}}
{{- range $key := $keys -}}
{{- if hasKey $ports $key -}}{{- $members = append $members (list (printf "global.ports.%s" $key) (get $ports $key)) -}}{{- end -}}
{{- end -}}
{{- $groups = append $groups (list $workload $members) -}}
{{- end -}}
{{- $gatewaySection := get $v "gateway" -}}
{{- if and (kindIs "map" $gatewaySection) (eq (toString $gatewaySection.enabled) "true") -}}
{{- $dial := include "qmtl.gatewayDagmanagerDial" . -}}
{{- $members := list (list (printf "the DAG Manager address QMTL's gateway dials (%s, fixed)" $dial) (regexFind "[0-9]+$" $dial)) -}}
{{- if hasKey $ports "gateway" -}}{{- $members = append $members (list "global.ports.gateway" $ports.gateway) -}}{{- end -}}
{{- $health := get (ternary $gatewaySection.forwarder dict (kindIs "map" $gatewaySection.forwarder)) "healthPort" -}}
{{- if ne (toString $health) "" -}}{{- $members = append $members (list "gateway.forwarder.healthPort" $health) -}}{{- end -}}
{{- $groups = append $groups (list "gateway" $members) -}}
{{- end -}}
{{- range $group := $groups -}}
{{- $seen := dict -}}
{{- range $member := index $group 1 -}}
{{- $n := toString (index $member 1) -}}
{{- if hasKey $seen $n -}}
{{- $p = append $p (printf "%s: %s is also %s, and both listen in the %s pod: give them different ports" (index $member 0) $n (get $seen $n) (index $group 0)) -}}
{{- else -}}
{{- $_ := set $seen $n (index $member 0) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* resources: every container has requests and limits, cpu and memory (the schema cannot require them: a
  partial override of a subchart's table, e.g. requests only, is valid once Helm merges the subchart's
  defaults, which `helm lint` validates without); a limit below its request is refused by the API server at
  install time: say both now. */ -}}
{{- $tables := list -}}
{{- /* the umbrella's own table (its helm test pods), then each section's; only a deployed chart's table has its
  defaults merged in (Helm leaves a disabled subchart's values out), so completeness is asked of those only */ -}}
{{- $owners := list (list "" $v true) -}}
{{- range $section := keys $v | sortAlpha -}}
{{- $owners = append $owners (list (printf "%s." $section) (get $v $section) (hasKey $.Subcharts $section)) -}}
{{- end -}}
{{- range $o := $owners -}}
{{- $owner := index $o 1 -}}
{{- if and (kindIs "map" $owner) (kindIs "map" $owner.resources) (kindIs "map" (get $owner.resources $profile)) -}}
{{- $tables = append $tables (dict "path" (printf "%sresources.%s" (index $o 0) $profile) "table" (get $owner.resources $profile) "deployed" (index $o 2)) -}}
{{- end -}}
{{- end -}}
{{- range $t := $tables -}}
{{- range $container := keys $t.table | sortAlpha -}}
{{- $r := get $t.table $container -}}
{{- if and $t.deployed (kindIs "map" $r) -}}
{{- range $side := list "requests" "limits" -}}
{{- $l := get $r $side -}}
{{- if not (kindIs "map" $l) -}}
{{- $p = append $p (printf "%s.%s.%s: missing: every container has requests and limits (cpu and memory each)" $t.path $container $side) -}}
{{- else -}}
{{- range $kind := list "cpu" "memory" -}}
{{- if not (hasKey $l $kind) -}}
{{- $p = append $p (printf "%s.%s.%s.%s: missing: every container has requests and limits (cpu and memory each)" $t.path $container $side $kind) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and (kindIs "map" $r) (kindIs "map" $r.requests) (kindIs "map" $r.limits) -}}
{{- range $kind := list "cpu" "memory" "ephemeral-storage" -}}
{{- $req := include "qmtl.quantity.number" (dict "q" (get $r.requests $kind) "kind" $kind) -}}
{{- $lim := include "qmtl.quantity.number" (dict "q" (get $r.limits $kind) "kind" $kind) -}}
{{- if and $req $lim (lt (float64 $lim) (float64 $req)) -}}
{{- $p = append $p (printf "%s.%s.limits.%s: %v is below requests.%s (%v): raise the limit or lower the request" $t.path $container $kind (get $r.limits $kind) $kind (get $r.requests $kind)) -}}
{{- end -}}
{{- /* quantities: bounded, so that what the chart computes from them (Redis maxmemory, Redpanda --memory,
  in int64) cannot overflow: at most qmtl.quantity.max (1024 cores, 1 PiB) */ -}}
{{- $max := get (include "qmtl.quantity.max" $ | fromYaml) (ternary "cpu" "bytes" (eq $kind "cpu")) -}}
{{- range $side := list "requests" "limits" -}}
{{- $n := include "qmtl.quantity.number" (dict "q" (get (get $r $side) $kind) "kind" $kind) -}}
{{- if and $n (gt (float64 $n) (float64 $max)) -}}
{{- $p = append $p (printf "%s.%s.%s.%s: %v is more than the chart sizes anything with (%s): use a realistic quantity" $t.path $container $side $kind (get (get $r $side) $kind) (ternary "1024 cores" "1Pi" (eq $kind "cpu"))) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- toYaml (dict "problems" $p) -}}
{{- end -}}
