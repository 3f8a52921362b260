"""Generate values.schema.json from schemas/values_schema.py, with the defaults of values.yaml.

  python -m schemas.build           write values.schema.json
  python -m schemas.build --check   exit 1 (with a diff summary) when the committed file is stale

The build fails, naming the key, when values.yaml holds a key the schema does not declare, or when a
declared key has no description or no type. Chart.yaml's subcharts decide which component sections exist.
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


def subcharts(chart_dir: Path = CHART_DIR) -> dict[str, str]:
    """name -> core | dependency | library, from Chart.yaml's dependencies and each subchart's type."""
    chart = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    kinds: dict[str, str] = {}
    for dep in chart.get("dependencies") or []:
        name = dep["name"]
        sub = chart_dir / "charts" / name / "Chart.yaml"
        sub_type = yaml.safe_load(sub.read_text()).get("type") if sub.exists() else None
        condition = dep.get("condition", "")
        if sub_type == "library":
            kinds[name] = "library"
        elif condition.startswith("global."):
            kinds[name] = "dependency"
        else:
            kinds[name] = "core"
    return kinds


def _resolve(schema: dict, defs: dict) -> dict:
    while "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _check_declared(schema: dict, value: Any, defs: dict, path: str) -> None:
    """Every key of `value` is declared by `schema` (or falls into an open map)."""
    schema = _resolve(schema, defs)
    if not isinstance(value, dict):
        return
    props = schema.get("properties", {})
    patterns = schema.get("patternProperties", {})
    additional = schema.get("additionalProperties", True)
    for key, item in value.items():
        where = f"{path}.{key}" if path else str(key)
        matching = [sub for pattern, sub in patterns.items() if re.search(pattern, str(key))]
        if key in props:
            _check_declared(props[key], item, defs, where)
        elif matching:
            _check_declared(matching[0], item, defs, where)
        elif isinstance(additional, dict):
            _check_declared(additional, item, defs, where)
        elif additional is False:
            raise SchemaSourceError(f"values.yaml: {where} is not declared in schemas/values_schema.py: "
                                    "declare it (type and description), then run " + REGENERATE)


def _attach_defaults(schema: dict, values: dict, defs: dict, path: str) -> None:
    """`default` of every named property below `schema` (not inside shared $defs) = values.yaml's value."""
    props = schema.get("properties", {})
    for key, value in values.items():
        if key not in props or value is None:
            continue
        where = f"{path}.{key}" if path else str(key)
        prop = props[key]
        if isinstance(value, dict) and "$ref" not in prop and value:
            _attach_defaults(prop, value, defs, where)
        else:
            prop["default"] = copy.deepcopy(value)


def _check_documented(schema: Any, path: str, defs_path: str = "") -> None:
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
            if not any(k in prop for k in ("type", "$ref", "enum", "const", "not", "$comment")):
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
    for key, sub in (schema.get("$defs") or {}).items():
        _check_documented(sub, f"$defs.{key}")


def _is_declaration(schema: dict) -> bool:
    """Property maps of declarations (typed objects), not of rule fragments (if/then constraints)."""
    return schema.get("type") == "object"


def generate(chart_dir: Path = CHART_DIR) -> dict:
    schema = values_schema.build(subcharts(chart_dir))
    values = yaml.safe_load((chart_dir / "values.yaml").read_text()) or {}
    defs = schema["$defs"]
    _check_declared(schema, values, defs, "")
    _attach_defaults(schema, values, defs, "")
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
            diff = list(difflib.unified_diff(current.splitlines(), text.splitlines(), "committed", "generated",
                                             lineterm="", n=1))
            print("values.schema.json is stale: run `" + REGENERATE + "` and commit it\n"
                  + "\n".join(diff[:60]), file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(chart_dir_display())}")
    return 0


def chart_dir_display() -> Path:
    return CHART_DIR


if __name__ == "__main__":
    sys.exit(main())
