{{/*
The Redis ACL rules of each QMTL service: one place. Only the password hash is added by the Secret
template (templates/secret.yaml), which computes every password once.

Isolation, rule by rule:
  - key patterns: each user reaches only the keys its service writes (QMTL_RUNTIME_FACTS.md);
  - no key listing (KEYS, SCAN, RANDOMKEY) and no @dangerous commands (FLUSHALL, CONFIG, DEBUG, ...);
  - no pub/sub (no channel is granted) and no Lua (@scripting is not granted);
  - its own logical database only: SELECT is allowed with that one index (+select|N, Redis' first-arg
    rule); MOVE and COPY (which take a target DB) are refused, SWAPDB and MIGRATE are @dangerous.
Residual risk (stated in README): ACL key patterns are not per database, so the isolation between
users rests on the patterns; the DB index restriction is a second fence that relies on a first-arg
rule Redis marks as deprecated. global.redis.dedicatedCoordinator moves the coordinator to its own
Redis, which removes the shared failure domain entirely.
*/}}

{{/* Key patterns per service key of qmtl.redisUsers. */}}
{{- define "redis.acl.keys" -}}
gateway: ["strategy:*", "dag_hash:*", "strategy_queue", "lock:*", "seamless:*"]
worldservice: ["world:*", "risk-blobs:*"]
seamless: ["seamless:*"]
ratelimiter: ["rl:*"]
{{- end -}}

{{/* Commands beyond the common set, per service (the rate limiter reads Redis' clock). */}}
{{- define "redis.acl.extraCommands" -}}
ratelimiter: ["+time"]
{{- end -}}

{{/*
One user's rule line, without the password: (dict "ctx" $ "who" "gateway" "user" <endpoints user>)
*/}}
{{- define "redis.acl.rules" -}}
{{- $keys := get (include "redis.acl.keys" . | fromYaml) .who -}}
{{- if not $keys -}}{{- fail (printf "redis: no key patterns for Redis user %q (charts/redis/templates/_acl.tpl)" .who) -}}{{- end -}}
{{- $extra := get (.ctx.Values.extraRules | default dict) .who | default "" -}}
{{- range $bad := list "nopass" "allkeys" "~*" "allchannels" "&*" "+@all" "allcommands" "%R~*" "%W~*" "%RW~*" -}}
{{- if has $bad (splitList " " $extra) -}}
{{- fail (printf "redis.extraRules.%s contains %q, which would break the per-service isolation: grant specific commands or patterns instead" $.who $bad) -}}
{{- end -}}
{{- end -}}
{{- $parts := list "resetkeys" "resetchannels" -}}
{{- range $keys }}{{ $parts = append $parts (printf "~%s" .) }}{{ end -}}
{{- $parts = concat $parts (list "-@all" "+@read" "+@write" "+@connection" "+@transaction" "-@dangerous" "-keys" "-scan" "-randomkey" "-move" "-copy" "-select" (printf "+select|%d" (int .user.db))) -}}
{{- $parts = concat $parts (get (include "redis.acl.extraCommands" . | fromYaml) .who | default list) -}}
{{- with $extra }}{{ $parts = append $parts . }}{{ end -}}
{{- join " " $parts -}}
{{- end -}}

{{/* The probe user: PING only, no keys, no channels. */}}
{{- define "redis.acl.healthcheckUser" -}}healthcheck{{- end -}}
{{- define "redis.acl.healthcheckRules" -}}resetkeys resetchannels -@all +ping{{- end -}}

{{/*
The bundled instances: the main `redis` and, with global.redis.dedicatedCoordinator, `redis-seamless`
for the coordinator alone. -> {<service name>: {component, users: [<qmtl.redisUsers key>...]}}
*/}}
{{- define "redis.instances" -}}
{{- $ep := dict -}}{{- include "qmtl.endpoints.into" (dict "global" .Values.global "into" $ep) -}}
{{- $out := dict -}}
{{- range $who, $u := $ep.redis.users -}}
{{- $entry := get $out $u.host | default (dict "component" $u.host "users" list) -}}
{{- $_ := set $entry "users" (append $entry.users $who) -}}
{{- $_ := set $out $u.host $entry -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}
