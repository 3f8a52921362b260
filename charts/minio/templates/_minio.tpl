{{/*
MinIO provisioning, rendered ONCE here and shipped as data (ConfigMap qmtl-minio-provision):
  coordinator-policy.json  the coordinator user's policy: object actions only on
                           <bucket>/<artifact_prefix>*, listing only with an s3:prefix under it, and
                           the bucket's location (S3 clients ask for it); nothing else, no other bucket
  provision.sh             run with mc as root by the post-install/post-upgrade Job: the bucket, the
                           policy, the user, exactly that policy attached to it, no anonymous access
The engine tests apply the same two files to a real MinIO and check what the user can and cannot do.
*/}}
{{- define "minio.coordinatorPolicy" -}}
{{- $ep := dict -}}{{- include "qmtl.endpoints.into" (dict "ctx" $ "into" $ep) -}}
{{- $bucketArn := printf "arn:aws:s3:::%s" $ep.s3.bucket -}}
{{- $statements := list
  (dict "Sid" "ListOnlyUnderTheArtifactPrefix" "Effect" "Allow" "Action" (list "s3:ListBucket") "Resource" (list $bucketArn) "Condition" (dict "StringLike" (dict "s3:prefix" (list (printf "%s*" $ep.s3.prefix)))))
  (dict "Sid" "BucketLocation" "Effect" "Allow" "Action" (list "s3:GetBucketLocation") "Resource" (list $bucketArn))
  (dict "Sid" "ArtifactObjects" "Effect" "Allow" "Action" (list "s3:GetObject" "s3:PutObject" "s3:DeleteObject" "s3:AbortMultipartUpload" "s3:ListMultipartUploadParts") "Resource" (list (printf "%s/%s*" $bucketArn $ep.s3.prefix)))
-}}
{{- toPrettyJson (dict "Version" "2012-10-17" "Statement" $statements) -}}
{{- end -}}

{{- define "minio.provision.script" -}}
#!/usr/bin/env bash
# QMTL MinIO provisioning (rendered by the qmtl chart, charts/minio), run with mc as MinIO's root: the
# bucket, the policy (coordinator-policy.json, next to this script), the coordinator's user with exactly
# that policy, no anonymous access. Idempotent. Every value comes from the environment (the Job's env:
# nothing from the values is written into this text) and no secret is ever an argument of a command:
#   env: MINIO_ENDPOINT, MINIO_ROOT_USER, MINIO_ROOT_PASSWORD (root: this Job only)
#        QMTL_S3_BUCKET, QMTL_MINIO_POLICY (the bucket and the policy's name)
#        QMTL_S3_ACCESS_KEY, QMTL_S3_SECRET_KEY (the coordinator's keys)
#        QMTL_PROVISION_WAIT_SECONDS (default 300), MC (the mc binary, default mc)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bucket="${QMTL_S3_BUCKET:?QMTL_S3_BUCKET is not set}"
policy="${QMTL_MINIO_POLICY:?QMTL_MINIO_POLICY is not set}"
user="${QMTL_S3_ACCESS_KEY:?QMTL_S3_ACCESS_KEY is not set}"
: "${QMTL_S3_SECRET_KEY:?QMTL_S3_SECRET_KEY is not set}"
: "${MINIO_ROOT_USER:?MINIO_ROOT_USER is not set}" "${MINIO_ROOT_PASSWORD:?MINIO_ROOT_PASSWORD is not set}"
endpoint="${MINIO_ENDPOINT:?MINIO_ENDPOINT is not set}"
# root's alias from the environment only (nothing written to a config file)
export MC_HOST_qmtl="${endpoint%%://*}://${MINIO_ROOT_USER}:${MINIO_ROOT_PASSWORD}@${endpoint#*://}"
# `command`: the binary, not this function (a bare `mc` here would call itself forever)
mc() { command "${MC:-mc}" --config-dir "${TMPDIR:-/tmp}/.mc" --no-color "$@"; }

wait_seconds="${QMTL_PROVISION_WAIT_SECONDS:-300}"
deadline=$((SECONDS + wait_seconds))
# (not `mc ready`: it blocks until the cluster reports ready, with no deadline of its own)
until mc admin info qmtl >/dev/null 2>&1; do
  if ((SECONDS >= deadline)); then
    echo "minio-provision: ${endpoint} was not ready in ${wait_seconds}s" >&2
    mc admin info qmtl >&2 || true
    exit 1
  fi
  sleep 3
done

mc mb --ignore-existing "qmtl/${bucket}"
mc anonymous set none "qmtl/${bucket}" >/dev/null
mc admin policy create qmtl "$policy" "$here/coordinator-policy.json"
# the secret key on mc's stdin (printf is bash's own): never on a command line
printf '%s\n' "$QMTL_S3_SECRET_KEY" | mc admin user add qmtl "$user" >/dev/null
echo "minio-provision: user ${user} set"

# exactly one policy on the coordinator's user: ours
info="$(mc --json admin user info qmtl "$user")"
attached=""
if [[ $info =~ \"policyName\":\"([^\"]*)\" ]]; then attached="${BASH_REMATCH[1]}"; fi
have=0
IFS=',' read -r -a names <<<"$attached"
for name in "${names[@]}"; do
  if [[ -z $name ]]; then continue; fi
  if [[ $name == "$policy" ]]; then
    have=1
  else
    mc admin policy detach qmtl "$name" --user "$user"
  fi
done
if ((have == 0)); then
  mc admin policy attach qmtl "$policy" --user "$user"
fi
echo "minio-provision: done (bucket ${bucket}, user ${user}, policy ${policy})"
{{- end -}}
