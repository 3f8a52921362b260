{{/*
The Redis ACL rules of each QMTL service: one place.

The ACL file of each instance is rendered WITHOUT passwords (ConfigMap redis-acl, redis.acl.file): each
user's line carries a placeholder that the pod's init container `redis-acl` (redis.acl.script) replaces
with the SHA-256 of that user's password from Secret qmtl-redis-users, writing the file into memory. So
the chart's render never needs a password (global.credentials.generate: false works), and the server
container sees only hashes.

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
redis.extraRules.<who> is matched against an allowlist by values.schema.json (the one place for it). Here
it is only split on any whitespace and re-joined with single spaces: Redis splits an ACL file line on
spaces and the file on newlines, so no value, however spelled, can start another line (another user).
*/}}
{{- define "redis.acl.rules" -}}
{{- $keys := get (include "redis.acl.keys" . | fromYaml) .who -}}
{{- if not $keys -}}{{- fail (printf "redis: no key patterns for Redis user %q (charts/redis/templates/_acl.tpl)" .who) -}}{{- end -}}
{{- $extra := toString (get (.ctx.Values.extraRules | default dict) .who | default "") -}}
{{- $parts := list "resetkeys" "resetchannels" -}}
{{- range $keys }}{{ $parts = append $parts (printf "~%s" .) }}{{ end -}}
{{- $parts = concat $parts (list "-@all" "+@read" "+@write" "+@connection" "+@transaction" "-@dangerous" "-keys" "-scan" "-randomkey" "-move" "-copy" "-select" (printf "+select|%d" (int .user.db))) -}}
{{- $parts = concat $parts (get (include "redis.acl.extraCommands" . | fromYaml) .who | default list) -}}
{{- range $token := regexSplit "[[:space:][:cntrl:]]+" (trim $extra) -1 }}{{ if $token }}{{ $parts = append $parts $token }}{{ end }}{{ end -}}
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
{{- $ep := dict -}}{{- include "qmtl.endpoints.into" (dict "ctx" $ "into" $ep) -}}
{{- $out := dict -}}
{{- range $who, $u := $ep.redis.users -}}
{{- $entry := get $out $u.host | default (dict "component" $u.host "users" list) -}}
{{- $_ := set $entry "users" (append $entry.users $who) -}}
{{- $_ := set $out $u.host $entry -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}


{{/* The env var that carries a Redis user's password in the init container: (who) -> QMTL_REDIS_PASSWORD_<WHO> */}}
{{- define "redis.acl.passwordEnv" -}}
{{- printf "QMTL_REDIS_PASSWORD_%s" (. | upper | replace "-" "_") -}}
{{- end -}}

{{/*
One instance's ACL file without passwords: (dict "ctx" $ "users" [<qmtl.redisUsers key>...]). Every user
line reads `user NAME on #@sha256:ENV@ RULES`; redis.acl.script puts the hash of $ENV there.
*/}}
{{- define "redis.acl.file" -}}
{{- $ctx := .ctx -}}
{{- $ep := dict -}}{{- include "qmtl.endpoints.into" (dict "ctx" $ctx "into" $ep) -}}
{{- $probe := include "redis.acl.healthcheckUser" $ctx -}}
user default off resetpass resetkeys resetchannels -@all
user {{ $probe }} on #@sha256:{{ include "redis.acl.passwordEnv" $probe }}@ {{ include "redis.acl.healthcheckRules" $ctx }}
{{- range $who := .users | sortAlpha }}
{{- $u := get $ep.redis.users $who }}
user {{ $u.username }} on #@sha256:{{ include "redis.acl.passwordEnv" $who }}@ {{ include "redis.acl.rules" (dict "ctx" $ctx "who" $who "user" $u) }}
{{- end }}
{{- end -}}

{{/*
The init container's script (POSIX sh in the Redis image): TEMPLATE -> OUTPUT with every placeholder
#@sha256:ENV@ replaced by # and the SHA-256 of the value of env var ENV. A password never reaches a
command line (printf is the shell's own; printenv and sha256sum see only the variable's name and stdin).
*/}}
{{- define "redis.acl.script" -}}
#!/bin/sh
# Redis ACL file for this pod (rendered by the qmtl chart, charts/redis): usage: assemble-acl.sh TEMPLATE OUTPUT
# Each "#@sha256:ENV@" in TEMPLATE becomes "#" + the SHA-256 of the password in env var ENV.
set -eu
template="$1"
output="$2"
partial="${output}.partial"
: > "$partial"
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in
    *'#@sha256:'*'@'*)
      name="${line#*#@sha256:}"
      name="${name%%@*}"
      case "$name" in
        '' | *[!A-Z0-9_]*) echo "redis-acl: bad placeholder in $template: $name" >&2; exit 1 ;;
      esac
      if ! password="$(printenv "$name")" || [ -z "$password" ]; then
        echo "redis-acl: $name is not set: the Secret key behind it is missing" >&2
        exit 1
      fi
      hash="$(printf '%s' "$password" | sha256sum)"
      hash="${hash%% *}"
      before="${line%%#@sha256:*}"
      after="${line#*#@sha256:$name@}"
      printf '%s#%s%s\n' "$before" "$hash" "$after" >> "$partial"
      ;;
    *) printf '%s\n' "$line" >> "$partial" ;;
  esac
done < "$template"
mv "$partial" "$output"
echo "redis-acl: wrote $output ($(grep -c '^user ' "$output") users)"
{{- end -}}
