{{/*
Placement and metadata of EVERY pod of the stack (Deployments, StatefulSets, hook Jobs, helm test pods),
from one set of keys at two levels:

  global.<key>       the default for every pod of the release
  <component>.<key>  one section's own (its workload and its hook Jobs); the helm test pods, which belong
                     to the umbrella, take global's

  nodeSelector, tolerations, affinity,     the section's own when it is set (not empty), else global's:
  topologySpreadConstraints,               a whole value replaces, nothing is merged element by element
  priorityClassName
  podAnnotations, podLabels                global's and the section's, merged (the section's win per key);
                                           the chart's own labels and annotations win over both, and
                                           values.schema.json refuses the keys the chart, Helm and
                                           Kubernetes own (a pod label can never pose as another
                                           component for the NetworkPolicies)

A workload's built-in placement ("builtin": {affinity, topologySpreadConstraints}: the prod spread of the
QMTL services and the coordinator, the ControlBus brokers' anti-affinity and zone spread) stays unless
the values replace that very part of it: an affinity kind (nodeAffinity, podAffinity, podAntiAffinity)
given in the values replaces the built-in one of the same kind; a spread constraint replaces the built-in
one over the same topologyKey, the others are kept. A spread constraint without a labelSelector counts the
workload's own pods (its selector labels).

  spec:
    {{- include "qmtl.pod.placement" (dict "ctx" $ "values" .Values "component" "gateway" "builtin" $b) | nindent 4 }}
  template:
    metadata:
      {{- include "qmtl.pod.metadata" (dict "ctx" $ "values" .Values "component" "gateway" "annotations" $a) | nindent 6 }}

"values" is the section's values (a subchart's .Values; the umbrella's helm test pods pass (dict)),
"annotations" the chart's own pod annotations (checksums, hook annotations).
*/}}

{{- define "qmtl.pod.placement" -}}
{{- $g := .ctx.Values.global | default dict -}}
{{- $own := .values | default dict -}}
{{- $builtin := .builtin | default dict -}}
{{- $pick := dict -}}
{{- range $key := list "nodeSelector" "tolerations" "affinity" "topologySpreadConstraints" "priorityClassName" -}}
{{- $v := get $own $key -}}
{{- if not $v -}}{{- $v = get $g $key -}}{{- end -}}
{{- if $v -}}{{- $_ := set $pick $key $v -}}{{- end -}}
{{- end -}}
{{- $out := dict -}}
{{- with $pick.nodeSelector -}}{{- $_ := set $out "nodeSelector" . -}}{{- end -}}
{{- with $pick.tolerations -}}{{- $_ := set $out "tolerations" . -}}{{- end -}}
{{- with $pick.priorityClassName -}}{{- $_ := set $out "priorityClassName" . -}}{{- end -}}
{{- /* affinity: the values' kinds over the built-in ones */ -}}
{{- $affinity := deepCopy ($builtin.affinity | default dict) -}}
{{- range $kind, $terms := $pick.affinity | default dict -}}
{{- if $terms -}}{{- $_ := set $affinity $kind $terms -}}{{- end -}}
{{- end -}}
{{- if $affinity -}}{{- $_ := set $out "affinity" $affinity -}}{{- end -}}
{{- /* topology spread: the values' constraints, completed with the workload's selector, over the built-in
ones with the same topologyKey */ -}}
{{- $selector := include "qmtl.selectorLabels" (dict "ctx" .ctx "component" .component) | fromYaml -}}
{{- $given := list -}}
{{- range $c := $pick.topologySpreadConstraints | default list -}}
{{- $c = deepCopy $c -}}
{{- if not $c.labelSelector -}}{{- $_ := set $c "labelSelector" (dict "matchLabels" $selector) -}}{{- end -}}
{{- $given = append $given $c -}}
{{- end -}}
{{- $spread := list -}}
{{- range $b := $builtin.topologySpreadConstraints | default list -}}
{{- $replaced := false -}}
{{- range $c := $given -}}
{{- if eq $c.topologyKey $b.topologyKey -}}
{{- $replaced = true -}}
{{- end -}}
{{- end -}}
{{- if not $replaced -}}{{- $spread = append $spread $b -}}{{- end -}}
{{- end -}}
{{- $spread = concat $spread $given -}}
{{- if $spread -}}{{- $_ := set $out "topologySpreadConstraints" $spread -}}{{- end -}}
{{- if $out -}}{{- toYaml $out -}}{{- end -}}
{{- end -}}

{{/* The pod template's metadata: labels (the chart's, plus podLabels) and annotations (podAnnotations plus
     the chart's own, which win). (dict "ctx" $ "values" .Values "component" "gateway" "annotations" (dict ...)) */}}
{{- define "qmtl.pod.metadata" -}}
{{- $g := .ctx.Values.global | default dict -}}
{{- $own := .values | default dict -}}
{{- $labels := merge (include "qmtl.labels" . | fromYaml) ($own.podLabels | default dict) ($g.podLabels | default dict) -}}
{{- $annotations := merge (deepCopy (.annotations | default dict)) ($own.podAnnotations | default dict) ($g.podAnnotations | default dict) -}}
labels:
  {{- toYaml $labels | nindent 2 }}
{{- with $annotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
