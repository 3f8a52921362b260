"""Generate values.schema.json from schemas/values_schema.py, with the chart's defaults.

  python -m schemas.build           write values.schema.json
  python -m schemas.build --check   exit 1 (with a diff summary) when the committed file is stale

The chart facts the schema builds on are read here, from the chart (values_schema.Chart): the subcharts
(Chart.yaml), the containers of the sizing table, the workloads of the replica table and the ControlBus
topics (values.yaml). Defaults come from values.yaml and from each subchart's values.yaml (Helm merges a
subchart's own values.yaml under its section, the umbrella's values win).

The build fails, naming the key and the file, when a values file holds a key the schema does not declare,
when a declared key has no description or no type, or when the sizing table and the schema's per-component
container lists disagree.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from schemas import values_schema

CHART_DIR = Path(__file__).resolve().parents[1]
OUTPUT = CHART_DIR / "values.schema.json"
REGENERATE = "python -m schemas.build"


class SchemaSourceError(Exception):
    pass


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text()) if path.exists() else None


def subcharts(chart_dir: Path = CHART_DIR) -> dict[str, str]:
    """name -> core | dependency | library, from Chart.yaml's dependencies and each subchart's type."""
    chart = _load(chart_dir / "Chart.yaml") or {}
    kinds: dict[str, str] = {}
    for dep in chart.get("dependencies") or []:
        name = dep["name"]
        sub = _load(chart_dir / "charts" / name / "Chart.yaml") or {}
        condition = dep.get("condition", "")
        if sub.get("type") == "library":
            kinds[name] = "library"
        elif condition.startswith("global."):
            kinds[name] = "dependency"
        else:
            kinds[name] = "core"
    return kinds


def subchart_values(chart_dir: Path = CHART_DIR) -> dict[str, dict]:
    """Each subchart's own values.yaml (its section's defaults)."""
    out: dict[str, dict] = {}
    for name in subcharts(chart_dir):
        values = _load(chart_dir / "charts" / name / "values.yaml")
        out[name] = values if isinstance(values, dict) else {}
    return out


def effective_defaults(chart_dir: Path = CHART_DIR) -> dict:
    """Every default of the chart (every section as if enabled): values.yaml, and each subchart's values.yaml
    under its name. A default is written in one of them only (the build fails otherwise), so this is their
    union, not a merge."""
    out = copy.deepcopy(_load(chart_dir / "values.yaml") or {})
    for name, values in subchart_values(chart_dir).items():
        if not values:
            continue
        section = out.setdefault(name, {})
        twice = sorted(set(section) & set(values))
        if twice:
            raise SchemaSourceError(
                f"{name}.{twice[0]} has a default both in values.yaml and in charts/{name}/values.yaml: "
                "keep it in one of them (a component's own settings: its subchart's values.yaml)"
            )
        section.update(copy.deepcopy(values))
    return out


def chart_facts(chart_dir: Path = CHART_DIR) -> values_schema.Chart:
    values = _load(chart_dir / "values.yaml") or {}
    g = values.get("global") or {}
    tables: dict[str, dict[str, list[str]]] = {}
    for table in ("resources", "replicas"):
        per_profile = g.get(table) or {}
        keys = {profile: list(per_profile.get(profile) or {}) for profile in ("dev", "prod")}
        if set(keys["dev"]) != set(keys["prod"]):
            raise SchemaSourceError(
                f"values.yaml: global.{table}.dev and global.{table}.prod must name the same "
                f"entries (only in one: {sorted(set(keys['dev']) ^ set(keys['prod']))})"
            )
        tables[table] = keys
    containers = tuple(tables["resources"]["dev"])
    owned = {c for cs in values_schema.SECTION_CONTAINERS.values() for c in cs}
    umbrella = {c for c in containers if c.startswith(values_schema.UMBRELLA_CONTAINER_PREFIX)}
    if owned | umbrella != set(containers):
        raise SchemaSourceError(
            "the sizing table (values.yaml global.resources) and schemas/values_schema.py SECTION_CONTAINERS "
            f"disagree: only in the table {sorted(set(containers) - owned - umbrella)}, only in the schema "
            f"{sorted(owned - set(containers))}"
        )
    topics = tuple((g.get("controlbus") or {}).get("topics") or {})
    return values_schema.Chart(
        subcharts=subcharts(chart_dir), containers=containers, workloads=tuple(tables["replicas"]["dev"]), topics=topics
    )


def _resolve(schema: dict, defs: dict) -> dict:
    while "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _declares(schema: dict, key: str, defs: dict) -> list[dict]:
    """The schemas `key` falls under in `schema` (properties, patternProperties, additionalProperties, and the
    same in anyOf branches); [] when it is refused as unknown; [{}] when anything goes."""
    schema = _resolve(schema, defs)
    branches = [_resolve(b, defs) for b in schema.get("anyOf") or []]
    if branches:
        found = [s for b in branches for s in _declares(b, key, defs)]
        return found if found or not all(b.get("type") == "object" for b in branches) else []
    if key in (schema.get("properties") or {}):
        return [schema["properties"][key]]
    matching = [sub for pattern, sub in (schema.get("patternProperties") or {}).items() if re.search(pattern, key)]
    if matching:
        return matching[:1]
    additional = schema.get("additionalProperties", True)
    if additional is False:
        return []
    return [additional] if isinstance(additional, dict) else [{}]


def _check_declared(schema: dict, value: Any, defs: dict, path: str, source: str) -> None:
    """Every key of `value` is declared by `schema` (or falls into an open map)."""
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        where = f"{path}.{key}" if path else str(key)
        found = _declares(schema, str(key), defs)
        if not found:
            raise SchemaSourceError(
                f"{source}: {where} is not declared in schemas/values_schema.py: "
                "declare it (type and description), then run " + REGENERATE
            )
        if isinstance(item, dict):
            _check_declared(found[0], item, defs, where, source)


def _attach_defaults(schema: dict, values: dict, path: str) -> None:
    """`default` of every named property below `schema` (not inside the shared definitions) = the chart's value.
    Objects with keys of their own get defaults on those keys; anything else (a map, a $ref'd type, a
    choice of shapes) carries its whole default."""
    props = schema.get("properties", {})
    for key, value in values.items():
        if key not in props or value is None or not isinstance(props[key], dict):
            continue
        prop = props[key]
        if isinstance(value, dict) and value and "$ref" not in prop and prop.get("properties"):
            _attach_defaults(prop, value, f"{path}.{key}" if path else str(key))
        else:
            prop["default"] = copy.deepcopy(value)


def _check_documented(schema: Any, path: str) -> None:
    """Every declared property has a description and says what it is."""
    if isinstance(schema, list):
        for index, item in enumerate(schema):
            _check_documented(item, f"{path}[{index}]")
        return
    if not isinstance(schema, dict):
        return
    for key, prop in (schema.get("properties") or {}).items():
        where = f"{path}.{key}" if path else key
        if isinstance(prop, dict) and _is_declaration(schema):
            if "description" not in prop:
                raise SchemaSourceError(f"schema property {where} has no description")
            if not any(k in prop for k in ("type", "$ref", "enum", "const", "not", "anyOf")):
                raise SchemaSourceError(f"schema property {where} has no type")
        _check_documented(prop, where)
    for key in ("additionalProperties", "items", "then", "if", "not"):
        if isinstance(schema.get(key), dict):
            _check_documented(schema[key], path)
    for sub in (schema.get("patternProperties") or {}).values():
        _check_documented(sub, f"{path}.<name>")
    for key in ("allOf", "anyOf", "oneOf"):
        if key in schema:
            _check_documented(schema[key], path)
    for key, sub in (schema.get(values_schema.DEFINITIONS) or {}).items():
        _check_documented(sub, f"{values_schema.DEFINITIONS}.{key}")


def _is_declaration(schema: dict) -> bool:
    """Property maps of declarations (typed objects), not of rule fragments (if/then constraints)."""
    return schema.get("type") == "object"


def generate(chart_dir: Path = CHART_DIR) -> dict:
    # A JSON round trip: every node its own object (the source shares some, e.g. one table for dev and prod),
    # so that each gets its own default.
    schema = json.loads(json.dumps(values_schema.build(chart_facts(chart_dir))))
    defs = schema[values_schema.DEFINITIONS]
    umbrella = _load(chart_dir / "values.yaml") or {}
    _check_declared(schema, umbrella, defs, "", "values.yaml")
    for name, values in subchart_values(chart_dir).items():
        _check_declared(schema, {name: values}, defs, "", f"charts/{name}/values.yaml")
    _attach_defaults(schema, effective_defaults(chart_dir), "")
    _check_documented(schema, "")
    return schema


def render(schema: dict) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m schemas.build", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when values.schema.json is not up to date")
    args = parser.parse_args(argv)
    try:
        text = render(generate())
    except SchemaSourceError as error:
        print(f"schemas.build: {error}", file=sys.stderr)
        return 1
    if args.check:
        current = OUTPUT.read_text() if OUTPUT.exists() else ""
        if current != text:
            diff = list(
                difflib.unified_diff(
                    current.splitlines(), text.splitlines(), "committed", "generated", lineterm="", n=1
                )
            )
            print(
                "values.schema.json is stale: run `" + REGENERATE + "` and commit it\n" + "\n".join(diff[:60]),
                file=sys.stderr,
            )
            return 1
        return 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
