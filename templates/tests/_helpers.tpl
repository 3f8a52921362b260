{{/*
`helm test` pods of the qmtl chart (templates/tests/*.yaml), built on one skeleton.

Each pod proves one thing about the installed stack with the CLIENT THAT SHIPS IN THE DEPENDENCY'S OWN
IMAGE (redis-cli, psql, rpk, mc), with the client the service itself uses (Neo4j: the driver in the DAG
Manager's image), or, where the dependency's image has none, with python3 of the QMTL image: the
coordinator answers /healthz, and each bundled dependency lets a service's own credentials in
and keeps them inside their scope (other keys, other databases, other prefixes are refused). The
credentials are the very Secret keys the services use (qmtl.endpoints); no password is rendered.

Every check script prints one "ok: ..." line per passed check and one "FAIL: ..." line (stderr) per
failed one, runs all its checks, and exits 1 when any failed.

Pods: name qmtl-test-<check>, component label helm-test-<check> (each its own component in
files/service-graph.yaml, which is where the network policies let it reach its target), container
resources resources.<profile>.helm-test-<check> (values.yaml). Hook delete policy: a passed pod is deleted
(helm uninstall never deletes hook objects, so a kept pod would outlive the release); a failed one stays
for `kubectl logs` until the next `helm test`.

Only bundled dependencies get a pod: a managed one's client image is not part of this chart's values.
*/}}

{{/* Name and component of a test pod: include "qmtl.helmTest.name" "redis" -> qmtl-test-redis */}}
{{- define "qmtl.helmTest.name" -}}qmtl-test-{{ . }}{{- end -}}
{{- define "qmtl.helmTest.component" -}}helm-test-{{ . }}{{- end -}}

{{/* How long a check waits for its service to answer at all (await_reachable; the QuestDB check's own loop). */}}
{{- define "qmtl.helmTest.awaitSeconds" -}}30{{- end -}}

{{/* Shell functions every check script starts with: pass/fail lines, the final verdict, await_reachable. */}}
{{- define "qmtl.helmTest.shellPrelude" -}}
set -u
failures=0
pass() { echo "ok: $*"; }
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
finish() {
  if [ "$failures" -gt 0 ]; then
    echo "$failures check(s) failed" >&2
    exit 1
  fi
  echo "all checks passed"
}
# A new pod's first connections can be refused until the NetworkPolicy enforcer has added its address to
# the peers the target admits (seen with kube-router on the local cluster: "Connection refused" for about
# a second): wait until the service answers at all, then check (the checks say what is wrong).
await_reachable() {  # await_reachable WHAT PROBE...: PROBE exits 0 once WHAT answers, whatever it answers
  what=$1; shift
  waited=0
  until "$@"; do
    waited=$((waited + 1))
    {{- $seconds := include "qmtl.helmTest.awaitSeconds" . }}
    if [ "$waited" -ge {{ $seconds }} ]; then echo "note: $what did not answer in {{ $seconds }} s; checking anyway" >&2; return 0; fi
    sleep 1
  done
}
{{- end -}}

{{/*
A secretKeyRef env var: (dict "name" "REDISCLI_AUTH" "ref" (dict "name" <secret> "key" <key>))
*/}}
{{- define "qmtl.helmTest.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ required (printf "qmtl helm test: no Secret name for %s" .name) .ref.name | quote }}
      key: {{ required (printf "qmtl helm test: no Secret key for %s" .name) .ref.key | quote }}
{{- end -}}

{{/*
The pod. Call with a dict:
  ctx      the root context
  check    short name (redis, postgres, ...): pod qmtl-test-<check>, component helm-test-<check>,
           resources resources.<profile>.helm-test-<check> (values.yaml)
  image    {image: <values image block>, default: <optional defaults>, what: <values path>}
  user     uid (and gid) to run as, the image's own unprivileged user (default 10001)
  command  list: the container's command
  env      YAML list of env vars (string), optional
  mounts   YAML list of extra volumeMounts (string), optional
  volumes  YAML list of extra volumes (string), optional
  what     one line saying what the pod proves (annotation qmtl.io/helm-test)
A writable emptyDir is mounted at /tmp (HOME) for clients that keep state there; the root filesystem is
read-only.
*/}}
{{- define "qmtl.helmTest.pod" -}}
{{- $ctx := .ctx -}}
{{- $img := .image -}}
{{- $pull := (merge (deepCopy ($img.image | default dict)) (deepCopy ($img.default | default dict))).pullPolicy | default $ctx.Values.global.imagePullPolicy | default "IfNotPresent" -}}
{{- $user := .user | default 10001 -}}
apiVersion: v1
kind: Pod
metadata:
  name: {{ include "qmtl.helmTest.name" .check }}
  {{- $hook := dict "helm.sh/hook" "test" "helm.sh/hook-delete-policy" "before-hook-creation,hook-succeeded" "qmtl.io/helm-test" .what }}
  {{- /* placement and pod metadata: global's (the test pods are the umbrella's own) */}}
  {{- include "qmtl.pod.metadata" (dict "ctx" $ctx "values" dict "component" (include "qmtl.helmTest.component" .check) "annotations" $hook) | nindent 2 }}
spec:
  restartPolicy: Never
  # every check has its own client timeouts; this bounds the pod as a whole
  activeDeadlineSeconds: 300
  automountServiceAccountToken: false
  enableServiceLinks: false
  {{- include "qmtl.imagePullSecrets" $ctx | nindent 2 }}
  {{- include "qmtl.pod.placement" (dict "ctx" $ctx "values" dict "component" (include "qmtl.helmTest.component" .check)) | nindent 2 }}
  securityContext:
    {{- include "qmtl.podSecurityContext" (dict "user" $user "group" $user "fsGroup" $user) | nindent 4 }}
  containers:
    - name: check
      image: {{ include "qmtl.image" (merge (dict "ctx" $ctx) $img) | quote }}
      imagePullPolicy: {{ $pull }}
      command:
        {{- toYaml .command | nindent 8 }}
      env:
        - name: HOME
          value: /tmp
        {{- with .env }}
        {{- . | nindent 8 }}
        {{- end }}
      securityContext:
        {{- include "qmtl.containerSecurityContext" dict | nindent 8 }}
      resources:
        {{- include "qmtl.resources" (dict "ctx" $ctx "container" (include "qmtl.helmTest.component" .check)) | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        {{- with .mounts }}
        {{- . | nindent 8 }}
        {{- end }}
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
    {{- with .volumes }}
    {{- . | nindent 4 }}
    {{- end }}
{{- end -}}
