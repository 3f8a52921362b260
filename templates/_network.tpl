{{/*
Network policy model: files/service-graph.yaml (the ONE declaration of who reaches whom) resolved
against the values. templates/networkpolicies.yaml renders it; nothing else restates an edge.

  {{- $model := dict }}{{- include "qmtl.network.model" (dict "ctx" . "into" $model) }}
    fills $model with
       {on: {<component>: true|false},
        ingress: {<component>: [<NetworkPolicy ingress rule>, ...]},
        egress:  {<component>: [<NetworkPolicy egress rule>, ...]}}
*/}}

{{/* The declared graph, parsed. Call with the root context. */}}
{{- define "qmtl.network.graph" -}}
{{- $raw := .Files.Get "files/service-graph.yaml" -}}
{{- if not $raw -}}
{{- fail "files/service-graph.yaml is missing from the chart: it declares the service graph the NetworkPolicies are generated from" -}}
{{- end -}}
{{- $raw -}}
{{- end -}}

{{/* A value at a dotted path of .Values, as YAML ({value: ...}). (dict "values" .Values "path" "a.b") */}}
{{- define "qmtl.network.valueAt" -}}
{{- $node := .values -}}
{{- $found := true -}}
{{- range $key := splitList "." .path -}}
{{- if and $found (kindIs "map" $node) (hasKey $node $key) -}}
{{- $node = get $node $key -}}
{{- else -}}
{{- $found = false -}}
{{- end -}}
{{- end -}}
{{- toYaml (dict "value" (ternary $node nil $found)) -}}
{{- end -}}

{{/* "true" when every values path in .paths (a path or a list; none: true) holds a truthy value. */}}
{{- define "qmtl.network.allTrue" -}}
{{- $paths := .paths | default list -}}
{{- if kindIs "string" $paths -}}{{- $paths = list $paths -}}{{- end -}}
{{- $all := true -}}
{{- range $path := $paths -}}
{{- $node := $.values -}}
{{- range $key := splitList "." $path -}}
{{- if and (kindIs "map" $node) (hasKey $node $key) -}}
{{- $node = get $node $key -}}
{{- else -}}
{{- $node = false -}}
{{- end -}}
{{- end -}}
{{- if not $node -}}{{- $all = false -}}{{- end -}}
{{- end -}}
{{- ternary "true" "false" $all -}}
{{- end -}}

{{/* Pod peer (or pod selector) of one component of this release. (dict "ctx" $ "component" "redis") */}}
{{- define "qmtl.network.podSelector" -}}
matchLabels:
  app.kubernetes.io/instance: {{ .ctx.Release.Name }}
  app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Selector of every pod of this release (default deny, DNS). Call with the root context. */}}
{{- define "qmtl.network.releaseSelector" -}}
matchLabels:
  app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
Port(s) of an external endpoint, from the qmtl.endpoints model: (dict "ep" <model> "key" "redis")
-> {ports: [6379]}
*/}}
{{- define "qmtl.network.externalPorts" -}}
{{- $e := get .ep .key -}}
{{- $ports := list -}}
{{- if has .key (list "redis" "postgres" "questdb") -}}
{{- $ports = list (int $e.port) -}}
{{- else if eq .key "controlbus" -}}
{{- range $b := $e.brokers -}}
{{- /* host:port: values.schema.json */ -}}
{{- $p := regexFind "[0-9]+$" (regexFind ":[0-9]+$" (toString $b)) -}}
{{- $ports = append $ports (int $p) -}}
{{- end -}}
{{- else -}}
{{- /* neo4j (uri), s3 (endpoint), coordinator (url): scheme://host[:port][/...] */ -}}
{{- $url := "" -}}
{{- if eq .key "neo4j" -}}{{- $url = $e.uri -}}{{- else if eq .key "s3" -}}{{- $url = $e.endpoint -}}{{- else -}}{{- $url = $e.url -}}{{- end -}}
{{- $u := urlParse $url -}}
{{- $p := regexFind "[0-9]+$" (regexFind ":[0-9]+$" $u.host) -}}
{{- if $p -}}
{{- $ports = list (int $p) -}}
{{- else -}}
{{- $defaults := dict "bolt" 7687 "neo4j" 7687 "bolt+s" 7687 "neo4j+s" 7687 "bolt+ssc" 7687 "neo4j+ssc" 7687 "http" 80 "https" 443 -}}
{{- if not (hasKey $defaults $u.scheme) -}}
{{- fail (printf "cannot tell the port of %q (scheme %q): write the port in the URL" $url $u.scheme) -}}
{{- end -}}
{{- $ports = list (int (get $defaults $u.scheme)) -}}
{{- end -}}
{{- end -}}
{{- toYaml (dict "ports" ($ports | uniq)) -}}
{{- end -}}

{{- define "qmtl.network.model" -}}
{{- $ctx := .ctx -}}
{{- $graph := include "qmtl.network.graph" $ctx | fromYaml -}}
{{- $np := $ctx.Values.global.networkPolicy -}}
{{- $gports := $ctx.Values.global.ports -}}
{{- $ep := dict -}}{{- include "qmtl.endpoints.into" (dict "ctx" $ctx "into" $ep) -}}
{{- /* Where each endpoint's external CIDRs are set, for error messages. */ -}}
{{- $cidrKeys := dict "coordinator" "global.networkPolicy.coordinatorCidrs" -}}
{{- range $dep := include "qmtl.dependencies" $ctx | splitList " " -}}
{{- $_ := set $cidrKeys (include "qmtl.dependencyEndpoint" $dep) (printf "global.%s.external.cidrs" $dep) -}}
{{- end -}}
{{- $on := dict -}}
{{- $ingress := dict -}}
{{- $egress := dict -}}
{{- $selector := dict -}}
{{- range $name, $c := $graph.components -}}
{{- $c = $c | default dict -}}
{{- $_ := set $selector $name (include "qmtl.network.podSelector" (dict "ctx" $ctx "component" $name) | fromYaml) -}}
{{- $_ := set $on $name (eq (include "qmtl.network.allTrue" (dict "values" $ctx.Values "paths" $c.when)) "true") -}}
{{- $_ := set $ingress $name list -}}
{{- $_ := set $egress $name list -}}
{{- end -}}

{{- range $edge := $graph.edges -}}
{{- $where := printf "files/service-graph.yaml: edge %s -> %s" $edge.from $edge.to -}}
{{- if or (not (hasKey $on $edge.from)) (not (hasKey $on $edge.to)) -}}
{{- fail (printf "%s names a component that `components` does not declare" $where) -}}
{{- end -}}
{{- $ports := list -}}
{{- range $key := $edge.ports -}}
{{- if not (hasKey $gports $key) -}}
{{- fail (printf "%s: port key %q is not in global.ports" $where $key) -}}
{{- end -}}
{{- $ports = append $ports (dict "protocol" "TCP" "port" (int (get $gports $key))) -}}
{{- end -}}
{{- if not $ports -}}{{- fail (printf "%s lists no ports" $where) -}}{{- end -}}
{{- $wanted := eq (include "qmtl.network.allTrue" (dict "values" $ctx.Values "paths" $edge.when)) "true" -}}
{{- if $edge.unless -}}
{{- if not (hasKey $on $edge.unless) -}}
{{- fail (printf "%s: unless names %q, which `components` does not declare" $where $edge.unless) -}}
{{- end -}}
{{- if get $on $edge.unless -}}{{- $wanted = false -}}{{- end -}}
{{- end -}}
{{- if and $wanted (get $on $edge.from) -}}
{{- if get $on $edge.to -}}
{{- $src := dict "podSelector" (get $selector $edge.from) -}}
{{- $dst := dict "podSelector" (get $selector $edge.to) -}}
{{- $_ := set $egress $edge.from (append (get $egress $edge.from) (dict "to" (list $dst) "ports" $ports)) -}}
{{- $_ := set $ingress $edge.to (append (get $ingress $edge.to) (dict "from" (list $src) "ports" $ports)) -}}
{{- else -}}
{{- $key := (get $graph.components $edge.to | default dict).endpoint -}}
{{- if $key -}}
{{- $e := get $ep $key -}}
{{- $external := false -}}
{{- $cidrs := list -}}
{{- if eq $key "coordinator" -}}
{{- $external = ne ($e.url | default "") "" -}}
{{- $cidrs = $np.coordinatorCidrs | default list -}}
{{- else -}}
{{- $external = and $e.available (not $e.bundled) -}}
{{- $cidrs = $e.cidrs | default list -}}
{{- end -}}
{{- if $external -}}
{{- /* A coordinator outside the release may well be a Service of another namespace, where address
ranges mean little: without coordinatorCidrs its port is open towards any destination. A managed
dependency must say where it is. */ -}}
{{- if and (not $cidrs) (ne $key "coordinator") -}}
{{- fail (printf "%s is empty: %s must reach the managed %s, and the network policies allow that only to its address range(s). Set %s (e.g. [10.20.0.0/16]) or turn policies off with global.networkPolicy.enabled=false" (get $cidrKeys $key) $edge.from $edge.to (get $cidrKeys $key)) -}}
{{- end -}}
{{- $peers := list -}}
{{- range $cidr := $cidrs -}}
{{- if not (regexMatch "^([0-9]{1,3}\\.){3}[0-9]{1,3}/[0-9]{1,2}$|^[0-9a-fA-F:]+/[0-9]{1,3}$" (toString $cidr)) -}}
{{- fail (printf "%s: %q is not a CIDR (e.g. 10.20.0.0/16)" (get $cidrKeys $key) $cidr) -}}
{{- end -}}
{{- $peers = append $peers (dict "ipBlock" (dict "cidr" $cidr)) -}}
{{- end -}}
{{- $extPorts := list -}}
{{- range $p := (include "qmtl.network.externalPorts" (dict "ep" $ep "key" $key) | fromYaml).ports -}}
{{- $extPorts = append $extPorts (dict "protocol" "TCP" "port" (int $p)) -}}
{{- end -}}
{{- $rule := dict "ports" $extPorts -}}
{{- if $peers -}}{{- $_ := set $rule "to" $peers -}}{{- end -}}
{{- $_ := set $egress $edge.from (append (get $egress $edge.from) $rule) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- range $in := $graph.ingress -}}
{{- if not (hasKey $on $in.to) -}}
{{- fail (printf "files/service-graph.yaml: ingress to %s names a component that `components` does not declare" $in.to) -}}
{{- end -}}
{{- if and (get $on $in.to) (eq (include "qmtl.network.allTrue" (dict "values" $ctx.Values "paths" $in.when)) "true") -}}
{{- $peers := (include "qmtl.network.valueAt" (dict "values" $ctx.Values "path" $in.from) | fromYaml).value | default list -}}
{{- if not (kindIs "slice" $peers) -}}
{{- fail (printf "%s must be a list of NetworkPolicy peers (podSelector/namespaceSelector/ipBlock), got %s" $in.from (kindOf $peers)) -}}
{{- end -}}
{{- /* An empty `from` would admit everyone: an empty list of peers admits nobody instead. */ -}}
{{- if $peers -}}
{{- range $peer := $peers -}}
{{- if or (not (kindIs "map" $peer)) (not $peer) -}}
{{- fail (printf "%s: every peer needs podSelector, namespaceSelector or ipBlock (got %v)" $in.from $peer) -}}
{{- end -}}
{{- end -}}
{{- $ports := list -}}
{{- range $key := $in.ports -}}
{{- if not (hasKey $gports $key) -}}
{{- fail (printf "files/service-graph.yaml: ingress to %s: port key %q is not in global.ports" $in.to $key) -}}
{{- end -}}
{{- $ports = append $ports (dict "protocol" "TCP" "port" (int (get $gports $key))) -}}
{{- end -}}
{{- $_ := set $ingress $in.to (append (get $ingress $in.to) (dict "from" $peers "ports" $ports)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $_ := set .into "on" $on -}}
{{- $_ := set .into "ingress" $ingress -}}
{{- $_ := set .into "egress" $egress -}}
{{- end -}}

{{/*
The NetworkPolicy egress rules that open a port towards ANY address, because the address ranges they are
built from are empty (only allowed for an external coordinator) or hold a range of everything (a /0, e.g.
0.0.0.0/0 or ::/0). NOTES.txt and scripts/validate warn about each. Call with the root context:
  include "qmtl.network.openRanges" . | fromYaml  ->  {open: [{path, what, empty}]}
*/}}
{{- define "qmtl.network.openRanges" -}}
{{- $g := .Values.global -}}
{{- $np := $g.networkPolicy | default dict -}}
{{- $out := list -}}
{{- if $np.enabled -}}
{{- $ep := dict -}}{{- include "qmtl.endpoints.into" (dict "ctx" $ "into" $ep) -}}
{{- $coordinator := index .Values "seamless-coordinator" | default dict -}}
{{- if and $ep.coordinator.url (not $coordinator.enabled) -}}
{{- $cidrs := $np.coordinatorCidrs | default list -}}
{{- if or (not $cidrs) (include "qmtl.network.anyAddress" $cidrs) -}}
{{- $out = append $out (dict "path" "global.networkPolicy.coordinatorCidrs" "what" "the external coordinator" "empty" (not $cidrs)) -}}
{{- end -}}
{{- end -}}
{{- $byEndpoint := dict -}}
{{- range $dep := include "qmtl.dependencies" . | splitList " " -}}
{{- $_ := set $byEndpoint (include "qmtl.dependencyEndpoint" $dep) $dep -}}
{{- end -}}
{{- range $key, $dep := $byEndpoint -}}
{{- $e := get $ep $key -}}
{{- if and $e.available (not $e.bundled) (include "qmtl.network.anyAddress" ($e.cidrs | default list)) -}}
{{- $out = append $out (dict "path" (printf "global.%s.external.cidrs" $dep) "what" (printf "the managed %s" $dep) "empty" false) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toYaml (dict "open" $out) -}}
{{- end -}}

{{/* "true" when a list of CIDRs holds a range of every address (prefix length 0). */}}
{{- define "qmtl.network.anyAddress" -}}
{{- range $cidr := . -}}{{- if hasSuffix "/0" (toString $cidr) -}}true{{- end -}}{{- end -}}
{{- end -}}
