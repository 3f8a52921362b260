"""The chart's values.schema.json, applied with python-jsonschema, and Helm's schema errors parsed.

Both sides are reduced to the same thing: the dotted key paths that fail (`global.seamless.coordinator_url`;
for a missing or unknown key, the key itself). tests/validation checks that Python and Helm agree on them.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import jsonschema

from qmtl_validate.values import LoadError


@dataclasses.dataclass(frozen=True)
class SchemaProblem:
    path: str  # dotted key path
    message: str  # what is wrong
    hint: str  # what the key is / what to do
    prod: bool  # raised by a prod-only rule


def load_schema(chart_dir: Path) -> dict:
    path = chart_dir / "values.schema.json"
    try:
        schema = json.loads(path.read_text())
    except OSError as error:
        raise LoadError(f"{path}: cannot read: {error.strerror or error}") from error
    except json.JSONDecodeError as error:
        raise LoadError(f"{path}: not valid JSON: {error}") from error
    if not isinstance(schema, dict):
        raise LoadError(f"{path}: not a JSON Schema object")
    # Not meta-validated here (that costs seconds on a schema this size): tests/validation does it.
    return schema


def dotted(parts: list[Any]) -> str:
    return ".".join(str(p) for p in parts)


def _resolve(schema: dict, root: dict) -> dict:
    """Follow local `$ref`s (JSON pointers into the schema itself, e.g. #/definitions/port)."""
    while isinstance(schema, dict) and str(schema.get("$ref", "")).startswith("#/"):
        node: Any = root
        for part in schema["$ref"][2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        schema = node
    return schema


def describe(root: dict, parts: list[Any]) -> str:
    """The declared description of the key at `parts` (following properties / patternProperties /
    additionalProperties, and the object branch of a choice of shapes)."""
    node: Any = root
    description = ""
    for part in parts:
        node = _resolve(node, root)
        if not isinstance(node, dict):
            return ""
        branches = [_resolve(b, root) for b in node.get("anyOf") or []]
        node = next((b for b in branches if b.get("type") == "object"), node)
        props = node.get("properties") or {}
        patterns = [
            sub for pattern, sub in (node.get("patternProperties") or {}).items() if re.search(pattern, str(part))
        ]
        if isinstance(part, int) and isinstance(node.get("items"), dict):
            prop = node["items"]
        elif part in props:
            prop = props[part]
        elif patterns:
            prop = patterns[0]
        elif isinstance(node.get("additionalProperties"), dict):
            prop = node["additionalProperties"]
        else:
            return ""
        description = prop.get("description", "") if isinstance(prop, dict) else ""
        node = prop
        if not description:
            resolved = _resolve(node, root)
            description = resolved.get("description", "") if isinstance(resolved, dict) else ""
    return description


def _under_prod_rule(root: dict, schema_path: list[Any]) -> bool:
    node: Any = root
    for part in schema_path:
        if isinstance(node, dict) and node.get("$comment", "").startswith("prod"):
            return True
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return False
    return isinstance(node, dict) and node.get("$comment", "").startswith("prod")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _problems_of(error: jsonschema.ValidationError, root: dict) -> list[SchemaProblem]:
    parts = list(error.absolute_path)
    kind = error.validator
    prod = _under_prod_rule(root, list(error.absolute_schema_path))
    where = " (prod)" if prod else ""
    instance = error.instance
    if kind == "required":
        # python-jsonschema raises one error per missing property ("'x' is a required property").
        missing = [n for n in error.validator_value if error.message.startswith(repr(n) + " ")]
        missing = missing or [n for n in error.validator_value if not isinstance(instance, dict) or n not in instance]
        return [
            SchemaProblem(dotted([*parts, n]), f"missing: required{where}", describe(root, [*parts, n]), prod)
            for n in missing
        ]
    if kind == "additionalProperties":
        known = set((error.schema.get("properties") or {}).keys())
        patterns = list((error.schema.get("patternProperties") or {}).keys())
        extra = [k for k in instance if k not in known and not any(re.search(p, k) for p in patterns)]
        parent = dotted(parts) or "the top level"
        out = []
        for k in extra:
            if patterns:  # an allowlist of names (settings passed through to a server): say what it allows
                out.append(
                    SchemaProblem(
                        dotted([*parts, k]), f"not allowed: {parent} accepts no {k!r}", describe(root, parts), prod
                    )
                )
            else:
                out.append(
                    SchemaProblem(
                        dotted([*parts, k]),
                        f"unknown key: {parent} has no key {k!r}",
                        "remove it or fix its spelling (values.schema.json lists every key)",
                        prod,
                    )
                )
        return out
    if kind == "propertyNames":
        return [
            SchemaProblem(
                dotted([*parts, instance]), f"{instance!r} is not a valid name here", describe(root, parts), prod
            )
        ]
    path = dotted(parts)
    hint = describe(root, parts)
    if kind == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        message = f"is {_json_type(instance)}, want {expected}"
    elif kind == "enum":
        message = f"{instance!r} is not one of {', '.join(map(str, error.validator_value))}"
    elif kind == "const":
        message = f"must be {json.dumps(error.validator_value)}{where}"
    elif kind in ("minLength", "minItems", "minProperties") and instance not in ("", [], {}, None):
        message = f"is too short: at least {error.validator_value}{where}"
    elif kind in ("minLength", "minItems", "minProperties"):
        message = f"is empty; a value is required{where}"
    elif kind == "pattern":
        message = f"{instance!r} does not have the expected form{where}"
    elif kind in ("minimum", "exclusiveMinimum"):
        message = f"{instance} is too small (minimum {error.validator_value}{', exclusive' if kind[0] == 'e' else ''})"
        message += where
    elif kind in ("maximum", "exclusiveMaximum"):
        message = f"{instance} is too large (maximum {error.validator_value})"
    elif kind == "not" and parts and parts[-1] == "tag":
        message = f"{instance!r}: a `latest` tag is not allowed in prod; pin a version (or a digest)"
    elif kind == "not" and isinstance(error.validator_value, dict) and error.validator_value.get("description"):
        # a refused shape that says what it is
        message = f"refused: {error.validator_value['description']}{where}"
    elif kind == "not" and isinstance(error.schema, dict) and error.schema.get("description"):
        # a rule written as "not ..." carries its meaning in its description
        message = f"refused: {error.schema['description']}{where}"
    elif kind == "not":
        message = "is not allowed here"
    elif kind == "maxProperties" and parts and parts[-1] == "external":
        message = (
            f"must be empty while {dotted(parts[:-1])}.enabled is true (the bundled one is used): remove "
            f"it, or set {dotted(parts[:-1])}.enabled: false to use the managed one"
        )
    elif kind is None:  # a `false` schema: the key may not be there (e.g. a selector next to an ipBlock)
        message = "is not allowed here"
    else:
        message = error.message
    return [SchemaProblem(path, message, hint, prod)]


def check(schema: dict, values: dict) -> list[SchemaProblem]:
    validator = jsonschema.validators.validator_for(schema)(schema)  # the dialect its $schema names
    problems: list[SchemaProblem] = []
    for error in validator.iter_errors(values):
        problems.extend(_leaves(error, schema))
    problems.sort(key=lambda p: p.path)
    return problems


def _leaves(error: jsonschema.ValidationError, root: dict) -> list[SchemaProblem]:
    if error.context:  # anyOf/oneOf: report what failed inside
        out: list[SchemaProblem] = []
        for sub in error.context:
            out.extend(_leaves(sub, root))
        return out
    return _problems_of(error, root)


def python_key_paths(schema: dict, values: dict) -> set[str]:
    return {p.path for p in check(schema, values)}


# --- Helm's side -----------------------------------------------------------------------------------------

# "- at '/global/x': message", indented by depth; helm lint prefixes the first line with "[ERROR] values.yaml: ".
_HELM_LINE = re.compile(r"^(?:\[ERROR\] [^:]+: )?(?P<indent>\s*)- at '(?P<pointer>[^']*)': (?P<message>.*)$")
_NAMES = re.compile(r"'((?:[^'\\]|\\.)*)'")


def _pointer_parts(pointer: str) -> list[str]:
    if not pointer:
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer.lstrip("/").split("/")]


def helm_schema_errors(stderr: str) -> list[tuple[str, str]]:
    """(dotted key path, message) of every leaf error in Helm's "values don't meet the specifications
    of the schema(s)" output. Leaves are the lines no more-indented line follows."""
    lines = [
        (m.group("indent"), m.group("pointer"), m.group("message"))
        for m in map(_HELM_LINE.match, stderr.splitlines())
        if m
    ]
    out: list[tuple[str, str]] = []
    for index, (indent, pointer, message) in enumerate(lines):
        following = lines[index + 1][0] if index + 1 < len(lines) else ""
        if len(following) > len(indent):
            continue
        parts = _pointer_parts(pointer)
        if message.startswith(
            ("missing property", "missing properties", "additional properties", "additional property")
        ):
            names = _NAMES.findall(message.split(" not allowed")[0])
            out.extend((dotted([*parts, _unescape(n)]), message) for n in names)
        elif message.startswith("invalid propertyName"):
            names = _NAMES.findall(message)
            out.append((dotted([*parts, names[0]]) if names else dotted(parts), message))
        else:
            out.append((dotted(parts), message))
    return out


def _unescape(name: str) -> str:
    """A key as Helm quotes it in a message (Go escapes: a TAB is written \\t) back to the key itself."""
    if "\\" not in name:
        return name
    return name.encode("latin-1", "backslashreplace").decode("unicode_escape")


def helm_key_paths(stderr: str) -> set[str]:
    return {path for path, _ in helm_schema_errors(stderr)}


def is_helm_schema_error(stderr: str) -> bool:
    return "values don't meet the specifications of the schema" in stderr
