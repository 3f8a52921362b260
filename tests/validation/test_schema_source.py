"""values.schema.json: generated from schemas/ (no drift), self-contained, every key typed and described,
defaults equal to values.yaml, and the builder refuses a values.yaml key the schema does not declare."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from schemas import build
from tests.harness.paths import REPO_ROOT

COMMITTED = REPO_ROOT / "values.schema.json"
VALUES = yaml.safe_load((REPO_ROOT / "values.yaml").read_text())


def test_committed_schema_is_generated_from_its_source() -> None:
    generated = build.render(build.generate())
    assert COMMITTED.read_text() == generated, f"values.schema.json is stale: run `{build.REGENERATE}` and commit it"


def test_schema_is_self_contained_2020_12(values_schema: dict) -> None:
    assert values_schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(values_schema)
    refs = [r for r in _walk_values(values_schema, "$ref")]
    assert refs, "expected local $refs to shared definitions"
    assert all(r.startswith("#/$defs/") for r in refs), [r for r in refs if not r.startswith("#/$defs/")]
    for ref in refs:
        assert ref.rsplit("/", 1)[-1] in values_schema["$defs"], f"dangling {ref}"


def _walk_values(node: Any, key: str):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            else:
                yield from _walk_values(v, key)
    elif isinstance(node, list):
        for item in node:
            yield from _walk_values(item, key)


def _declarations(node: Any, path: str = ""):
    """(path, property schema) of every declared property of a typed object, recursively."""
    if isinstance(node, list):
        for item in node:
            yield from _declarations(item, path)
        return
    if not isinstance(node, dict):
        return
    if node.get("type") == "object":
        for name, prop in (node.get("properties") or {}).items():
            yield f"{path}.{name}".lstrip("."), prop
    for key, sub in node.items():
        if key == "properties" and isinstance(sub, dict):
            for name, prop in sub.items():
                yield from _declarations(prop, f"{path}.{name}".lstrip("."))
        elif isinstance(sub, dict | list) and key not in ("enum", "const", "default", "required"):
            yield from _declarations(sub, path)


def test_every_declared_key_is_typed_and_described(values_schema: dict) -> None:
    declared = list(_declarations(values_schema))
    assert len(declared) > 150
    for path, prop in declared:
        if prop is True:
            continue
        assert prop.get("description"), f"{path}: no description"
        assert any(k in prop for k in ("type", "$ref", "enum", "const", "not", "$comment")), f"{path}: no type"


def _schema_at(schema: dict, parts: list[str]) -> dict | None:
    node: Any = schema
    for part in parts:
        props = (node or {}).get("properties") or {}  # a $ref'd declaration carries its default whole
        if part not in props:
            return None
        node = props[part]
    return node


def _leaves(values: Any, parts: list[str]):
    if isinstance(values, dict) and values:
        for key, value in values.items():
            yield from _leaves(value, [*parts, key])
    else:
        yield parts, values


def test_defaults_equal_values_yaml(values_schema: dict) -> None:
    """Every named key of values.yaml carries its default in the schema (maps keyed by container or topic
    name are data, not declarations: they have no per-key default)."""
    compared = 0
    for parts, value in _leaves(VALUES, []):
        prop = None
        for depth in range(len(parts), 0, -1):
            prop = _schema_at(values_schema, parts[:depth])
            if prop is not None:
                break
        assert prop is not None, f"{'.'.join(parts)} is not declared"
        if depth == len(parts):
            where = ".".join(parts)
            assert prop.get("default") == value, f"{where}: schema default {prop.get('default')!r} != {value!r}"
            compared += 1
        else:  # a whole map is the default of a $ref'd property (e.g. global.qmtlImage) or data in a map
            assert "default" not in prop or _get(prop["default"], parts[depth:]) == value
    assert compared > 40


def _get(node: Any, parts: list[str]) -> Any:
    for part in parts:
        node = node[part]
    return node


def test_the_chart_defaults_validate_as_dev(values_schema: dict) -> None:
    assert VALUES["global"]["profile"] == "dev"
    assert list(jsonschema.Draft202012Validator(values_schema).iter_errors(VALUES)) == []


def test_builder_refuses_an_undeclared_values_key(tmp_path: Path) -> None:
    chart = tmp_path / "chart"
    shutil.copytree(REPO_ROOT, chart, ignore=shutil.ignore_patterns(
        ".git", ".tools", ".venv", ".cache", "tests", "scripts", "__pycache__", ".pytest_cache"))
    broken = dict(VALUES, **{"global": dict(VALUES["global"], coordinatorUrl="http://x")})
    (chart / "values.yaml").write_text(yaml.safe_dump(broken))
    with pytest.raises(build.SchemaSourceError, match=r"global\.coordinatorUrl is not declared"):
        build.generate(chart)


def test_builder_refuses_a_subchart_without_a_section(tmp_path: Path) -> None:
    chart = tmp_path / "chart"
    shutil.copytree(REPO_ROOT, chart, ignore=shutil.ignore_patterns(
        ".git", ".tools", ".venv", ".cache", "tests", "scripts", "__pycache__", ".pytest_cache"))
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    meta["dependencies"].append({"name": "grafana", "version": "0.1.0", "repository": "", "condition":
                                 "grafana.enabled"})
    (chart / "Chart.yaml").write_text(yaml.safe_dump(meta))
    with pytest.raises(KeyError, match="grafana"):
        build.generate(chart)


def test_check_mode_reports_drift(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "values.schema.json"
    stale.write_text(json.dumps({"stale": True}))
    monkeypatch.setattr(build, "OUTPUT", stale)
    assert build.main(["--check"]) == 1
    assert build.REGENERATE in capsys.readouterr().err
    monkeypatch.setattr(build, "OUTPUT", COMMITTED)
    assert build.main(["--check"]) == 0


ENDPOINT_KEYS = {"redis": "host", "postgres": "host", "neo4j": "uri", "questdb": "host", "minio": "endpoint",
                 "controlbus": "brokers"}


@pytest.mark.parametrize("dependency", sorted(ENDPOINT_KEYS))
def test_prod_requires_every_dependency_bundled_or_external(values_schema: dict, dependency: str) -> None:
    """Each of the six, with python-jsonschema (the matrix shows Helm agreeing on several of them)."""
    from qmtl_validate import schema
    from qmtl_validate.values import helm_values, load_file

    prod = load_file(REPO_ROOT / "values" / "prod.yaml")
    off = {"global": {dependency: {"enabled": False}}}
    paths = schema.python_key_paths(values_schema, helm_values(REPO_ROOT, [prod, off]))
    assert f"global.{dependency}.external.{ENDPOINT_KEYS[dependency]}" in paths
    assert (f"global.{dependency}.external.existingSecret" in paths) == (dependency != "controlbus")
    dev = load_file(REPO_ROOT / "values" / "dev.yaml")
    assert schema.python_key_paths(values_schema, helm_values(REPO_ROOT, [dev, off])) == set()
