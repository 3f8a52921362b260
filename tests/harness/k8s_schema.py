"""Strict, offline Kubernetes schema validation (kubernetes-validate's bundled schemas).

Strict means unknown fields fail. Validators are built once per (Kubernetes version, kind) and each
distinct object is validated once per version per process.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from pathlib import Path

import jsonschema
import kubernetes_validate
from referencing import Registry, Resource

from tests.harness.paths import pinned

_SCHEMA_ROOT = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"


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


@functools.cache
def _validator(version: str, api_version: str, kind: str) -> jsonschema.protocols.Validator:
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = _SCHEMA_ROOT / f"v{_minor(version)}.0-local-strict" / f"{kind.lower()}-{group}.json"
    if not path.exists():
        raise K8sSchemaError(f"no Kubernetes {version} schema for {kind} {api_version} ({path.name})")
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
