"""Reading rendered objects, and the values they were rendered from: the helpers every test folder needs.

Values (what helm is given, and what it makes of it):
  layered(*layers)               values layers in order, for render_chart (Helm merges them)
  chart_values(*files, extra=()) the values Helm hands to the chart for these files and layers
  subchart_values(name)          charts/<name>/values.yaml as written

Rendered objects (a Rendered from render_chart, or the dicts in it):
  pod_template(obj)              the pod template of a workload kind ({metadata, spec}), None for others
  pod_specs(rendered)            (object, pod spec) of every pod template: workloads, hooks, test pods
  component(obj)                 its app.kubernetes.io/component label
  containers(spec)               the init containers, then the containers, of a pod spec
  only_container(rendered, kind, name)  the one container of a workload (fails when it has more)
  env(container)                 env var name -> its entry ({name, value} or {name, valueFrom})
  secret_refs(spec)              the (Secret, key) pairs a pod spec reads
  secret_data(rendered, name)    a rendered Secret's data, decoded, with its stringData
  qmtl_config(rendered)          the unified QMTL config template (ConfigMap qmtl-config, key qmtl.json)
  redis_acl(rendered, instance)  a bundled Redis instance's ACL file as its init container writes it
  dsn(text)                      a DSN/URL parsed: scheme, user, password, host, port, path, query (one each)
  quantity(value)                a Kubernetes resource quantity as a number (cores, bytes)
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import yaml
from qmtl_stack.render import Layers, Rendered, helm_values, layers

from tests.harness.paths import CHART_DIR


# ------------------------------------------------------------------------------------------------ values
def layered(*parts: Layers) -> tuple[dict, ...]:
    """Values layers in order (later wins), for render_chart and helm_values: Helm merges them, as helm -f."""
    return tuple(layers(list(parts)))


def chart_values(*files: Path | str, extra: Layers = ()) -> dict:
    """The values Helm hands to the chart for these values files and layers (qmtl_stack.render.helm_values):
    its merge of every values.yaml of the chart with them. A fresh copy on every call: callers may change it."""
    return helm_values(extra, values_files=files)


def subchart_values(name: str) -> dict:
    """A subchart's own values.yaml (charts/<name>/values.yaml), as written."""
    return yaml.safe_load((CHART_DIR / "charts" / name / "values.yaml").read_text()) or {}


# ---------------------------------------------------------------------------------------------- objects
# kind -> path from the object to its pod template
POD_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
    "Pod": (),
}


def _objects(rendered: Rendered | Iterable[Mapping]) -> list:
    return rendered.objects if isinstance(rendered, Rendered) else list(rendered)


def pod_template(obj: Mapping) -> Mapping | None:
    """The pod template ({metadata, spec}) of a workload; for a Pod, the Pod itself; None for other kinds."""
    path = POD_TEMPLATE_PATHS.get(obj.get("kind", ""))
    if path is None:
        return None
    template: Mapping = obj
    for key in path:
        template = (template or {}).get(key) or {}
    return template


def pod_specs(rendered: Rendered | Iterable[Mapping]) -> list[tuple[dict, dict]]:
    """(object, pod spec) for every pod template of a render (a Rendered, or its list of objects)."""
    found = []
    for obj in _objects(rendered):
        template = pod_template(obj)
        if template is not None:
            found.append((obj, template.get("spec") or {}))
    return found


def component(obj: Mapping) -> str:
    return obj["metadata"].get("labels", {}).get("app.kubernetes.io/component", "")


def containers(spec: Mapping) -> list[dict]:
    """The init containers (native sidecars included), then the containers, of a pod spec."""
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]


def only_container(rendered: Rendered, kind: str, name: str) -> dict:
    """The one container (init containers aside) of the workload kind/name; fails when it has more or none."""
    template = pod_template(rendered.get(kind, name)) or {}
    found = (template.get("spec") or {}).get("containers") or []
    if len(found) != 1:
        names = [c.get("name") for c in found]
        raise AssertionError(f"{kind}/{name} has {len(found)} containers, expected one: {names}")
    return found[0]


def env(container: Mapping) -> dict[str, dict]:
    """A container's env vars by name (each its whole entry: value or valueFrom)."""
    return {e["name"]: e for e in container.get("env") or []}


def secret_refs(spec: Mapping) -> set[tuple[str, str | None]]:
    """(Secret name, key) of every secretKeyRef in a pod spec; (name, None) for envFrom and secret volumes."""
    refs: set[tuple[str, str | None]] = set()
    for c in containers(spec):
        for e in c.get("env") or []:
            ref = (e.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                refs.add((ref["name"], ref["key"]))
        for src in c.get("envFrom") or []:
            if "secretRef" in src:
                refs.add((src["secretRef"]["name"], None))
    for vol in spec.get("volumes") or []:
        if "secret" in vol:
            refs.add((vol["secret"]["secretName"], None))
        for source in (vol.get("projected") or {}).get("sources", []):
            if "secret" in source:
                refs.add((source["secret"]["name"], None))
    return refs


def secret_data(rendered: Rendered, name: str) -> dict[str, str]:
    """A rendered Secret's content: `data` base64-decoded, with `stringData` on top (as the API server merges)."""
    obj = rendered.get("Secret", name)
    data = {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
    data.update(obj.get("stringData") or {})
    return data


def resolved_env(rendered: Rendered, container: Mapping) -> dict[str, str]:
    """A container's env as the kubelet would give it: each value, and each secretKeyRef read from the
    release's rendered Secret. Other valueFrom sources are not in these renders and are refused."""
    out = {}
    for name, entry in env(container).items():
        source = entry.get("valueFrom")
        if source is None:
            out[name] = entry.get("value", "")
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            out[name] = secret_data(rendered, ref["name"])[ref["key"]]
        else:
            raise ValueError(f"env {name}: cannot resolve {sorted(source)} from a render")
    return out


def qmtl_config(rendered: Rendered) -> dict:
    """The unified QMTL config as rendered: ConfigMap qmtl-config, key qmtl.json (placeholders, no secrets)."""
    return json.loads(rendered.get("ConfigMap", "qmtl-config")["data"]["qmtl.json"])


def redis_acl(rendered: Rendered, instance: str = "redis", passwords: Mapping[str, str] | None = None) -> str:
    """The ACL file a bundled Redis instance serves: its init container's rendered command (the script and
    password-less file of ConfigMap redis-acl) run for real with `sh`, with the container's env resolved from
    the rendered Secrets, or with `passwords` (env var name -> value) when the chart renders none
    (global.credentials.generate: false)."""
    spec = (pod_template(rendered.get("StatefulSet", instance)) or {}).get("spec") or {}
    (init,) = [c for c in spec.get("initContainers") or [] if c["name"] == "redis-acl"]
    data = rendered.get("ConfigMap", "redis-acl")["data"]
    mounts = {m["name"]: m["mountPath"] for m in init["volumeMounts"]}
    variables = dict(passwords) if passwords is not None else resolved_env(rendered, init)
    with tempfile.TemporaryDirectory(prefix="qmtl-redis-acl-") as tmp:
        command, output = [], None
        for arg in init["command"]:
            if arg.startswith(mounts["acl-template"] + "/"):  # a file of ConfigMap redis-acl
                local = Path(tmp) / arg.rsplit("/", 1)[1]
                local.write_text(data[local.name])
                arg = str(local)
            elif arg.startswith(mounts["acl"] + "/"):  # the file the server reads (aclfile)
                output = Path(tmp) / "served.acl"
                arg = str(output)
            command.append(arg)
        assert output is not None, f"the redis-acl init container writes nothing to its acl volume: {command}"
        subprocess.run(command, env={"PATH": os.environ["PATH"], **variables}, check=True, capture_output=True)
        return output.read_text()


@dataclasses.dataclass(frozen=True)
class Dsn:
    scheme: str
    username: str | None  # percent-decoded
    password: str | None
    host: str | None
    port: int | None
    path: str  # percent-decoded, without the leading "/"
    query: dict[str, str]  # each parameter exactly once (a repeated one is an error)


def dsn(text: str) -> Dsn:
    """A DSN or URL as a client parses it (urllib's RFC 3986 split). A parameter given twice, or text after
    a fragment mark, is refused: either would let one part of the DSN override another."""
    from urllib.parse import parse_qsl, unquote, urlsplit

    parts = urlsplit(text)
    assert not parts.fragment, f"{text!r} has a fragment"
    pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    query = dict(pairs)
    assert len(query) == len(pairs), f"{text!r} repeats a parameter"
    return Dsn(
        scheme=parts.scheme,
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
        host=parts.hostname,
        port=parts.port,
        path=unquote(parts.path.lstrip("/")),
        query=query,
    )


# -------------------------------------------------------------------------------------------- quantities
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")


def quantity(value: object) -> float:
    """A Kubernetes resource.Quantity as a number (cores for cpu, bytes for memory)."""
    match = _QUANTITY.match(str(value).strip())
    if not match:
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    number, suffix = float(match.group(1)), match.group(2) or ""
    return number * (_BINARY[suffix] if suffix in _BINARY else _DECIMAL[suffix])
