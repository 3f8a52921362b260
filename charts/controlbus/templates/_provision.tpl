{{/*
provision.sh: applies the plan (plan.tsv) with rpk as the SASL superuser. Idempotent: creating an
existing ACL is a no-op, existing topics (also one created between the listing and the create) get
their retention re-applied (partitions only grow by hand: changing them re-maps keys). Runs as a post-install and post-upgrade hook, so every upgrade also denies
SCRAM users created since the last run.
env: RPK_BROKERS (SASL listener), RPK_ADMIN_HOSTS, RPK_USER, RPK_PASS, RPK_SASL_MECHANISM,
     CONTROLBUS_WAIT_SECONDS.
*/}}
{{- define "controlbus.provisionScript" -}}
#!/usr/bin/env bash
# Apply the QMTL ControlBus plan with rpk. usage: provision.sh PLAN_TSV
set -euo pipefail
plan="${1:?usage: provision.sh PLAN_TSV}"
wait_seconds="${CONTROLBUS_WAIT_SECONDS:-300}"
log() { printf 'controlbus-provision: %s\n' "$*"; }

log "waiting up to ${wait_seconds}s for a healthy cluster"
deadline=$(( $(date +%s) + wait_seconds ))
until rpk cluster health 2>/dev/null | grep -Eq '^Healthy:[[:space:]]+true'; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    log "the cluster is not healthy after ${wait_seconds}s (or the superuser cannot authenticate):"
    rpk cluster health || true
    exit 1
  fi
  sleep 5
done

# Cluster settings the isolation depends on (also in .bootstrap.yaml; re-applied in case they drifted).
rpk cluster config set kafka_enable_authorization true
rpk cluster config set admin_api_require_auth true
rpk cluster config set auto_create_topics_enabled false

existing_topics="$(rpk topic list | awk 'NR > 1 { print $1 }')"
sasl_users=""
sasl_users_listed=0

list_sasl_users() {
  if [ "$sasl_users_listed" = 0 ]; then
    sasl_users="$(rpk security user list | awk 'NR > 1 { print $1 }' | grep -vxF "${RPK_USER}" || true)"
    sasl_users_listed=1
  fi
}

acl_args() {  # acl_args TYPE PATTERN NAME -> rpk resource flags
  case "$1" in
    topic) printf '%s\n' --topic "$3" --resource-pattern-type "$2" ;;
    group) printf '%s\n' --group "$3" --resource-pattern-type "$2" ;;
    transactional-id) printf '%s\n' --transactional-id "$3" --resource-pattern-type "$2" ;;
    cluster) printf '%s\n' --cluster ;;
    *) log "unknown resource type $1 in $plan"; exit 1 ;;
  esac
}

topics=0; acls=0
while IFS=$'\t' read -r kind f1 f2 f3 f4 f5 f6 || [ -n "$kind" ]; do
  case "$kind" in
    ''|'#'*) continue ;;
    topic)
      if printf '%s\n' "$existing_topics" | grep -qxF "$f1"; then
        rpk topic alter-config "$f1" --set "$f4"
        log "topic $f1 exists; set $f4"
      elif rpk topic create "$f1" --partitions "$f2" --replicas "$f3" --topic-config "$f4"; then
        log "topic $f1 created ($f2 partitions, replication factor $f3, $f4)"
      elif rpk topic list | awk 'NR > 1 { print $1 }' | grep -qxF "$f1"; then
        # Created since the listing above (a concurrent run, or a listing that lagged): same as existing.
        rpk topic alter-config "$f1" --set "$f4"
        log "topic $f1 appeared since the listing; set $f4"
      else
        log "could not create topic $f1 (rpk's error above)"
        exit 1
      fi
      topics=$((topics + 1)) ;;
    acl)
      mapfile -t resource < <(acl_args "$f3" "$f4" "$f5")
      if [ "$f2" = SASL_USERS ]; then
        list_sasl_users
        principals="$(printf '%s\n' "$sasl_users" | sed '/^$/d; s/^/User:/')"
      else
        principals="$f2"
      fi
      while IFS= read -r principal; do
        [ -n "$principal" ] || continue
        rpk security acl create "--${f1}-principal" "$principal" --operation "$f6" "${resource[@]}" >/dev/null
        log "acl $f1 $principal $f3 $f4 $f5 $f6"
        acls=$((acls + 1))
      done <<< "$principals"
      ;;
    *) log "unknown record '$kind' in $plan"; exit 1 ;;
  esac
done < "$plan"
log "done: $topics topics, $acls ACL bindings"
{{- end -}}
