"""Strict, offline Kubernetes schema validation (kubernetes-validate's bundled schemas).

Strict means unknown fields fail. Validators are built once per (Kubernetes version, kind) and each
distinct object is validated once per version per process.

Custom resources (the optional ServiceMonitors) are validated against their CRD's openAPIV3Schema, as
scripts/setup.sh copies it from the project's Go module into .tools/crds/, made strict the way the API
server prunes: an object schema that lists its properties and does not preserve unknown fields refuses
others. Their metadata is checked as Kubernetes' ObjectMeta.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml
from referencing import Registry, Resource

from tests.harness.paths import REPO_ROOT, pinned

_SCHEMA_ROOT = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
CRD_DIR = REPO_ROOT / ".tools" / "crds"
_OBJECT_META = {"$ref": "/api/_definitions.json#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}


class K8sSchemaError(AssertionError):
    pass


def supported_kube_versions() -> tuple[str, str]:
    """(oldest, newest) Kubernetes versions the chart supports, from pyproject.toml."""
    table = pinned("kubernetes")
    return table["oldest"], table["newest"]


def _minor(version: str) -> str:
    return ".".join(version.lstrip("v").split(".")[:2])


@functools.cache
def _definitions(version: str) -> Registry:
    directory = _SCHEMA_ROOT / f"v{_minor(version)}.0-local-strict"
    if not directory.is_dir():
        raise K8sSchemaError(f"kubernetes-validate has no strict schemas for Kubernetes {version}")
    definitions = json.loads((directory / "_definitions.json").read_text())
    return Resource.from_contents(definitions) @ Registry()


def _strict(node: object) -> object:
    """A CRD schema as the API server applies it: unknown fields of a listed-properties object refused."""
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _strict(value) for key, value in node.items()}
    if (
        "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@functools.cache
def _crd_schemas() -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) -> the strict schema of every served version of the CRDs in .tools/crds/."""
    schemas: dict[tuple[str, str], dict] = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            spec = crd["spec"]
            for served in (v for v in spec["versions"] if v.get("served")):
                schema = _strict(served["schema"]["openAPIV3Schema"])
                schema["$id"] = f"https://kubernetes.io/api/{spec['names']['plural']}-{spec['group']}.json"
                schema["properties"]["metadata"] = _OBJECT_META  # (resolved next to the Kubernetes schemas)
                schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
                schemas[(f"{spec['group']}/{served['name']}", spec["names"]["kind"])] = schema
    return schemas


@functools.cache
def _validator(version: str, api_version: str, kind: str) -> jsonschema.protocols.Validator:
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = _SCHEMA_ROOT / f"v{_minor(version)}.0-local-strict" / f"{kind.lower()}-{group}.json"
    if not path.exists():
        crd_schema = _crd_schemas().get((api_version, kind))
        if crd_schema is None:
            raise K8sSchemaError(
                f"no Kubernetes {version} schema for {kind} {api_version} ({path.name}), and no CRD for it in "
                f"{CRD_DIR.relative_to(REPO_ROOT)}/ (scripts/setup.sh puts the pinned ones there)"
            )
        return jsonschema.Draft202012Validator(crd_schema, registry=_definitions(version))
    schema = json.loads(path.read_text())
    registry = Resource.from_contents(schema) @ _definitions(version)
    return jsonschema.Draft202012Validator(schema, registry=registry)


_validated: set[tuple[str, str]] = set()


def validate_k8s(obj: dict, version: str) -> None:
    """Raise K8sSchemaError naming the object, the field path and the problem."""
    digest = hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()
    if (digest, version) in _validated:
        return
    kind, api_version = obj.get("kind", "?"), obj.get("apiVersion", "?")
    name = obj.get("metadata", {}).get("name", "?")
    errors = sorted(_validator(version, api_version, kind).iter_errors(obj), key=lambda e: list(e.path))
    if errors:
        lines = [f"{kind}/{name} is invalid for Kubernetes {version}:"]
        lines += [f"  at {'.'.join(str(p) for p in e.path) or '<root>'}: {e.message}" for e in errors[:10]]
        raise K8sSchemaError("\n".join(lines))
    _validated.add((digest, version))
