{{/*
The ControlBus plan: topics and ACLs, rendered ONCE as data (ConfigMap controlbus-plan, key plan.tsv).
The provisioning Job applies it with rpk (provision.sh); the engine tests parse the same text and apply
it to a real Kafka broker. One record per line, fields separated by one TAB, `#` starts a comment:

  topic  <name>  <partitions>  <replication factor>  <config>=<value>
  acl    allow|deny  <principal>  topic|group|transactional-id|cluster  literal|prefixed  <name>  <op>,<op>...

Names from the values (topics, prefixes) are written URL-query-escaped: a Kafka name ([A-Za-z0-9._-], what
values.schema.json allows) is unchanged, and any other text cannot add a field or a record (a TAB or a
newline becomes %09 / %0A, a name that rpk then refuses).

Principals. QMTL's clients have no SASL, so they use the internal listener (authentication_method:
none). Redpanda gives such a connection the anonymous principal `User:` with an EMPTY name, and refuses
to create an ACL for an empty principal name ("Principal name cannot be empty"): the only ACL that
reaches it is the wildcard `User:*`. So QMTL's grants are written for `User:*`, which also matches
every SASL principal; the plan therefore DENIES (deny beats allow) every SASL principal on every topic,
group and transactional id. `SASL_USERS` stands for each SCRAM user that exists when the plan is
applied, except the superuser (superusers bypass ACLs); the Job lists them on every install/upgrade.
(Apache Kafka names the anonymous principal `User:ANONYMOUS`; `User:*` matches it too, so the plan
means the same on Kafka, which is what the engine tests run.)

Who may do what:
  - ControlBus topics (global.controlbus.topics, prefixed pattern when topicPrefix is set): QMTL may
    read/write/describe them; nobody but the superuser may delete or alter them (explicit deny);
  - data topics dagmanager creates: create/describe/delete/read/write on `*` or on
    global.controlbus.dataTopicPrefix (their names have no fixed prefix otherwise);
  - consumer groups: read/describe (gateway's groups and the SDK's own);
  - the gateway's commit-log transactional id: write/describe; cluster: idempotent_write.
*/}}
{{- define "controlbus.plan" -}}
{{- $ep := dict -}}{{- include "qmtl.endpoints.into" (dict "ctx" $ "into" $ep) -}}
{{- $cb := $ep.controlbus -}}
{{- $rf := include "controlbus.replicationFactor" . | int -}}
{{- $qmtl := "User:*" -}}
{{- $lines := list "# QMTL ControlBus plan (charts/controlbus/templates/_plan.tpl)" -}}
{{- range $key := keys .Values.global.controlbus.topics | sortAlpha -}}
{{- $t := get $.Values.global.controlbus.topics $key -}}
{{- /* names, partitions (>= 1) and retentionMs (> 0 or -1): values.schema.json */ -}}
{{- $lines = append $lines (printf "topic\t%s\t%d\t%d\tretention.ms=%d" (get $cb.topics $key | urlquery) (int $t.partitions) $rf (int64 $t.retentionMs)) -}}
{{- end -}}
{{- $controlbus := list -}}
{{- if $cb.topicPrefix -}}
{{- $controlbus = list (list "prefixed" ($cb.topicPrefix | urlquery)) -}}
{{- else -}}
{{- range $name := values $cb.topics | sortAlpha -}}{{- $controlbus = append $controlbus (list "literal" ($name | urlquery)) -}}{{- end -}}
{{- end -}}
{{- range $controlbus -}}
{{- $lines = append $lines (printf "acl\tallow\t%s\ttopic\t%s\t%s\tread,write,describe,describe_configs" $qmtl (index . 0) (index . 1)) -}}
{{- $lines = append $lines (printf "acl\tdeny\t%s\ttopic\t%s\t%s\tdelete,alter,alter_configs" $qmtl (index . 0) (index . 1)) -}}
{{- end -}}
{{- $data := .Values.global.controlbus.dataTopicPrefix | default "" | urlquery -}}
{{- $lines = append $lines (printf "acl\tallow\t%s\ttopic\t%s\t%s\tcreate,describe,delete,read,write,describe_configs" $qmtl (ternary "prefixed" "literal" (ne $data "")) (default "*" $data)) -}}
{{- $lines = append $lines (printf "acl\tallow\t%s\tgroup\tliteral\t*\tread,describe" $qmtl) -}}
{{- /* one transactional id per gateway replica: "<commitlogTransactionalId>-<pod name>" (_endpoints.tpl) */ -}}
{{- $lines = append $lines (printf "acl\tallow\t%s\ttransactional-id\tprefixed\t%s-\twrite,describe" $qmtl $cb.clients.commitlogTransactionalId) -}}
{{- $lines = append $lines (printf "acl\tallow\t%s\tcluster\tliteral\tkafka-cluster\tidempotent_write" $qmtl) -}}
{{- range $type := list "topic" "group" "transactional-id" -}}
{{- $lines = append $lines (printf "acl\tdeny\tSASL_USERS\t%s\tliteral\t*\tall" $type) -}}
{{- end -}}
{{- $lines = append $lines "acl\tdeny\tSASL_USERS\tcluster\tliteral\tkafka-cluster\tall" -}}
{{- join "\n" $lines -}}
{{- end -}}
