"""Generate values.schema.json from the values files and schemas/rules.py.

  python -m schemas.build           write values.schema.json
  python -m schemas.build --check   exit 1 (with a diff summary) when the committed file is stale

Every key comes from the values files: values.yaml and each subchart's values.yaml (its section), each key
with its `# --` description and optional `(type)` (schemas/annotations.py reads them; CONTRIBUTING.md has
the grammar), keys without a default as `#? key:` lines. Its type is what its default is, narrowed by the
type it names (schemas/rules.py DEFS and TYPES, `lo..hi`, `a|b|c`). A section's description is its
subchart's Chart.yaml `description`; the keys every section takes and the rules between keys are
schemas/rules.py's. Defaults are copied in from the values files (Helm merges a subchart's values.yaml under
its section; the umbrella's values win).

The build fails, naming the file, line and key, when a key has no description or no type, names an unknown
type, documents a key under a typed one, when a dependency's external block marks no `endpoint` key, or when
a chart's sizing table (resources.dev and resources.prod in its values.yaml) names different containers per
profile.
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

from schemas import annotations, rules

CHART_DIR = Path(__file__).resolve().parents[1]
OUTPUT = CHART_DIR / "values.schema.json"
REGENERATE = "python -m schemas.build"
# Words of a key's `(type)` that mark it rather than type it.
MARKS = ("required", "endpoint")


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


def check_sizing_tables(umbrella: dict, sections: dict[str, dict]) -> None:
    """Each chart sizes its containers per profile (resources.<profile>.<container> in its values.yaml): both
    profiles name the same containers."""
    files = {"values.yaml": umbrella, **{f"charts/{name}/values.yaml": v for name, v in sections.items()}}
    for where, values in files.items():
        table = values.get("resources") or {}
        dev, prod = set(table.get("dev") or {}), set(table.get("prod") or {})
        if dev != prod:
            raise SchemaSourceError(
                f"{where}: resources.dev and resources.prod must name the same containers (only in one: "
                f"{sorted(dev ^ prod)})"
            )


def endpoints(umbrella: annotations.ValuesFile, kinds: dict[str, str]) -> dict[str, tuple[str, bool]]:
    """Each dependency's endpoint key in global.<dep>.external (the one marked `endpoint`) and whether that
    block takes credentials (existingSecret)."""
    out: dict[str, tuple[str, bool]] = {}
    deps = umbrella.keys["global"].children if "global" in umbrella.keys else {}
    for dep, kind in kinds.items():
        if kind != "dependency":
            continue
        external = deps[dep].children.get("external") if dep in deps else None
        marked = [k.name for k in (external.children.values() if external else ()) if "endpoint" in _words(k)]
        if len(marked) != 1:
            raise SchemaSourceError(
                f"values.yaml: global.{dep}.external needs exactly one key marked `endpoint` (the one that "
                f"says where the managed {dep} is, e.g. `# -- (host, endpoint)`), found {marked or 'none'}"
            )
        out[dep] = (marked[0], "existingSecret" in external.children)
    return out


def chart_facts(chart_dir: Path = CHART_DIR, umbrella: annotations.ValuesFile | None = None) -> rules.Chart:
    """The chart's facts; `umbrella`: values.yaml as annotations.read gives it, when the caller has it."""
    umbrella = umbrella or annotations.read(chart_dir / "values.yaml")
    values = umbrella.values
    g = values.get("global") or {}
    replicas = g.get("replicas") or {}
    workloads = {profile: list(replicas.get(profile) or {}) for profile in ("dev", "prod")}
    if set(workloads["dev"]) != set(workloads["prod"]):
        raise SchemaSourceError(
            "values.yaml: global.replicas.dev and global.replicas.prod must name the same entries (only in one: "
            f"{sorted(set(workloads['dev']) ^ set(workloads['prod']))})"
        )
    check_sizing_tables(values, subchart_values(chart_dir))
    topics = tuple((g.get("controlbus") or {}).get("topics") or {})
    kinds = subcharts(chart_dir)
    return rules.Chart(
        subcharts=kinds,
        workloads=tuple(workloads["dev"]),
        topics=topics,
        endpoints=endpoints(umbrella, kinds),
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
                f"{source}: {where} is not declared in schemas/rules.py: "
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
    for key, sub in (schema.get(rules.DEFINITIONS) or {}).items():
        _check_documented(sub, f"{rules.DEFINITIONS}.{key}")


def _is_declaration(schema: dict) -> bool:
    """Property maps of declarations (typed objects), not of rule fragments (if/then constraints)."""
    return schema.get("type") == "object"


_RANGE = re.compile(r"^(-?[0-9]+)\.\.(-?[0-9]+)$")


def _kind(word: str, types: dict[str, dict], where: str) -> dict:
    """The schema a `(type)` word names."""
    if word in rules.DEFS:
        return {"$ref": f"#/{rules.DEFINITIONS}/{word}"}
    if word in types:
        return copy.deepcopy(types[word])
    bounds = _RANGE.match(word)
    if bounds:
        return {"type": "integer", "minimum": int(bounds[1]), "maximum": int(bounds[2])}
    if "|" in word:
        return {"type": "string", "enum": word.split("|")}
    raise SchemaSourceError(
        f"{where}: unknown type ({word}): name a type of schemas/rules.py (DEFS or TYPES), lo..hi or a|b|c"
    )


def _words(key: annotations.Key) -> list[str]:
    return [word.strip() for word in (key.type or "").split(",") if word.strip()]


# Keywords by which a type states the keys or items below it itself.
_SHAPED = ("$ref", "properties", "patternProperties", "additionalProperties", "items", "anyOf")


def _infer(default: Any) -> dict:
    if isinstance(default, bool):
        return {"type": "boolean"}
    if isinstance(default, int):
        return {"type": "integer"}
    if isinstance(default, str):
        return {"type": "string"}
    if isinstance(default, list):
        return {"type": "array"}
    if isinstance(default, dict):
        return {"type": "object", "additionalProperties": False}
    return {}


def _declare(key: annotations.Key, default: Any, types: dict, where: str, source: str) -> tuple[dict, bool]:
    """The schema of one documented key, and whether its mapping requires it."""
    at = f"{source}:{key.line}: {where}"
    words = _words(key)
    required = "required" in words
    words = [word for word in words if word not in MARKS]
    if len(words) > 1:
        raise SchemaSourceError(f"{at}: one type per key, got ({key.type})")
    if not key.description:
        raise SchemaSourceError(f"{at} has no description: write a `# --` comment above it")
    kind = _kind(words[0], types, at) if words else {}
    shaped = any(word in kind for word in _SHAPED)
    if shaped:
        # the type says what the keys below are: the values file holds values there, no documentation
        documented = [child for child in key.children.values() if child.description or child.optional]
        if documented:
            raise SchemaSourceError(
                f"{at}.{documented[0].name}: ({words[0]}) types the keys below {where}: no `# --` or `#?` there"
            )
        if "$ref" in kind:
            ref = {"$ref": kind["$ref"], "description": key.description}
            return ref | ({"examples": [key.example]} if key.example is not None else {}), required
    schema: dict = {} if key.optional else _infer(default)
    if key.children and not shaped:
        schema = {"type": "object", "additionalProperties": False}
        properties, needed = {}, []
        for name, child in key.children.items():
            value = default.get(name) if isinstance(default, dict) else None
            properties[name], child_required = _declare(child, value, types, f"{where}.{name}", source)
            if child_required:
                needed.append(name)
        schema["properties"] = properties
        if needed:
            schema["required"] = needed
    schema = dict(kind) if "anyOf" in kind else {**schema, **kind}
    if not any(word in schema for word in ("type", "anyOf", "enum", "not")):
        raise SchemaSourceError(f"{at} has no type: give it a default or a (type)")
    schema.pop("description", None)  # a type's own words: the key's description replaces them
    if key.example is not None:
        schema["examples"] = [key.example]
    return {"description": key.description, **schema}, required


def _section_description(chart_dir: Path, name: str) -> str:
    description = (_load(chart_dir / "charts" / name / "Chart.yaml") or {}).get("description")
    if not description:
        raise SchemaSourceError(f"charts/{name}/Chart.yaml has no description (the values reference shows it)")
    return description.rstrip(".") + "."


def generate(chart_dir: Path = CHART_DIR) -> dict:
    umbrella = annotations.read(chart_dir / "values.yaml")
    chart = chart_facts(chart_dir, umbrella)
    types = {**rules.TYPES, **rules.chart_types(chart)}
    properties: dict[str, dict] = {}
    required: list[str] = []
    for name, key in umbrella.keys.items():
        if name in chart.subcharts:
            continue
        properties[name], needed = _declare(key, umbrella.values.get(name), types, name, "values.yaml")
        if needed:
            required.append(name)
    for name, kind in chart.subcharts.items():
        common = rules.section_keys(chart, name, kind)
        own: dict[str, dict] = {}
        sources = [(umbrella.keys.get(name), umbrella.values.get(name), "values.yaml")]
        path = chart_dir / "charts" / name / "values.yaml"
        if path.exists():
            sub = annotations.read(path)
            sources.append(
                (annotations.Key(name, None, None, False, 0, sub.keys), sub.values, f"charts/{name}/values.yaml")
            )
        for section, values, source in sources:
            if section is None:
                continue
            if section.description or section.type:
                raise SchemaSourceError(
                    f"{source}:{section.line}: {name} is described by charts/{name}/Chart.yaml: no `# --` here"
                )
            for key_name, key in section.children.items():
                where = f"{name}.{key_name}"
                if key_name in common:
                    if key.description or key.type:
                        raise SchemaSourceError(
                            f"{source}:{key.line}: {where} is a key of every section, described in "
                            "schemas/rules.py section_keys: no `# --` here"
                        )
                    continue
                if key_name in own:
                    raise SchemaSourceError(f"{source}:{key.line}: {where} is documented in two values files")
                value = values.get(key_name) if isinstance(values, dict) else None
                own[key_name], _ = _declare(key, value, types, where, source)
        properties[name] = {
            "type": "object",
            "description": _section_description(chart_dir, name),
            "properties": {**own, **common},
            "additionalProperties": False,
        }
    # A JSON round trip: every node its own object, so that each gets its own default.
    schema = json.loads(json.dumps(rules.build(chart, properties, required)))
    defs = schema[rules.DEFINITIONS]
    _check_declared(schema, umbrella.values, defs, "", "values.yaml")
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
