#!/usr/bin/env python3
"""Generate docs/values.md, the values reference, from values.schema.json.

  .venv/bin/python scripts/gen-values-reference.py          write docs/values.md
  .venv/bin/python scripts/gen-values-reference.py --check  exit 1 (and say how to fix it) when stale

Every key the schema declares gets a row: its description, its type (with the bounds the schema sets),
its default and the prod rules that apply to it. What comes from where:
  - keys, descriptions, types, bounds, shared types (definitions): values.schema.json (itself generated from
    schemas/values_schema.py by `python -m schemas.build`, which also copies values.yaml's defaults in);
  - defaults: the schema's `default`; where it has none, the effective default Helm computes (a
    subchart's own values.yaml under its section, overridden by the umbrella's values.yaml);
  - prod rules and the other conditional rules: read off the schema's `if`/`then` branches, so a rule
    added to the schema appears here on the next run.
Rules that compare values or need the chart's derived facts are not in the schema (they are in the
aggregated check, templates/_validate.tpl) and so are not listed here.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "values.schema.json"
OUTPUT = ROOT / "docs" / "values.md"
REGENERATE = ".venv/bin/python scripts/gen-values-reference.py"
LONG_DEFAULT = 64  # characters: longer defaults go to the appendix as YAML

Schema = dict[str, Any]


# --- reading the schema ------------------------------------------------------------------------------


def definitions_key(schema: Schema) -> str:
    """Where the schema's dialect keeps shared types: `definitions` up to draft-07, `$defs` after it."""
    dialect = str(schema.get("$schema", ""))
    return "$defs" if ("2019-09" in dialect or "2020-12" in dialect) else "definitions"


def ref_name(node: Schema) -> str | None:
    ref = node.get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) and re.match(r"#/(\$defs|definitions)/", ref) else None


def resolve(node: Schema, defs: dict[str, Schema]) -> Schema:
    """The node with its local $ref merged in (the node's own keywords, e.g. description, win)."""
    name = ref_name(node)
    if name is None:
        return node
    merged = dict(resolve(defs[name], defs))
    merged.update({k: v for k, v in node.items() if k != "$ref"})
    return merged


def is_object_def(name: str, defs: dict[str, Schema]) -> bool:
    """A shared type documented once in its own section (an object with keys of its own)."""
    d = defs[name]
    return d.get("type") == "object" and bool(d.get("properties") or d.get("patternProperties"))


def scalar_type(node: Schema) -> str:
    t = node.get("type")
    if isinstance(t, list):
        return " or ".join(t)
    return t or ""


def bounds(node: Schema) -> list[str]:
    out: list[str] = []
    if "enum" in node:
        out.append("one of " + ", ".join(f"`{json.dumps(v)}`" for v in node["enum"]))
    if "const" in node:
        out.append(f"always `{json.dumps(node['const'])}`")
    lo, hi = node.get("minimum"), node.get("maximum")
    if lo is not None and hi is not None:
        out.append(f"{lo} to {hi}")
    elif lo is not None:
        out.append(f">= {lo}")
    elif hi is not None:
        out.append(f"<= {hi}")
    if "exclusiveMinimum" in node:
        out.append(f"> {node['exclusiveMinimum']}")
    if node.get("minLength", 0) >= 1:
        out.append("non-empty")
    if "maxLength" in node:
        out.append(f"at most {node['maxLength']} characters")
    if node.get("minItems", 0) >= 1:
        out.append(f"at least {node['minItems']} item{'s' if node['minItems'] > 1 else ''}")
    if node.get("minProperties", 0) >= 1:
        out.append(f"at least {node['minProperties']} entr{'ies' if node['minProperties'] > 1 else 'y'}")
    if "pattern" in node:
        out.append("format checked")
    return out


def type_text(node: Schema, defs: dict[str, Schema]) -> str:
    """What a value must be, in words, with a link where it is a shared object type."""
    name = ref_name(node)
    if name and is_object_def(name, defs):
        return f"[{name}](#type-{name})"
    n = resolve(node, defs)
    if n.get("not") == {}:
        return "not allowed"
    for key in ("anyOf", "oneOf"):
        if key in n and "type" not in n:
            return " or ".join(type_text(branch, defs) for branch in n[key])
    if "$comment" in n and "type" not in n:
        return f"any ({n['$comment']})"
    t = scalar_type(n)
    if t == "array":
        items = n.get("items") or {}
        inner = type_text(items, defs) if items else "any"
        t = f"list of ({inner})" if "," in inner else f"list of {inner}"
    elif t == "object":
        if n.get("patternProperties"):
            t = "map"
        elif not n.get("properties"):
            extra = n.get("additionalProperties", True)
            t = f"map of {type_text(extra, defs)}" if isinstance(extra, dict) else "map"
        elif n.get("additionalProperties", True) is not False:
            t = "object (further keys allowed)"
    parts = [t or "any", *bounds(n)]
    return ", ".join(parts)


def placeholder(pattern: str) -> str:
    return "<name>"


# --- defaults ----------------------------------------------------------------------------------------


def deep_merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = deep_merge(base.get(k), v) if k in base else v
        return out
    return over


def effective_values(root: Path = ROOT) -> dict:
    """Defaults as Helm computes them: each subchart's values.yaml under its section, then the umbrella's."""
    umbrella = yaml.safe_load((root / "values.yaml").read_text()) or {}
    chart = yaml.safe_load((root / "Chart.yaml").read_text()) or {}
    merged: dict = {}
    for dep in chart.get("dependencies") or []:
        path = root / "charts" / dep["name"] / "values.yaml"
        sub = yaml.safe_load(path.read_text()) if path.exists() else None
        if isinstance(sub, dict) and sub:
            merged[dep["name"]] = sub
    return deep_merge(merged, umbrella)


_MISSING = object()


def lookup(values: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(values, dict) or key not in values:
            return _MISSING
        values = values[key]
    return values


def inline(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10_000).strip()


# --- rules (if/then) -----------------------------------------------------------------------------------


LITERAL_ANY_CASE = re.compile(r"^\^((\[[A-Za-z][A-Za-z]\])+)\$$")


def describe_not(node: Schema) -> str:
    pattern = node.get("pattern", "")
    m = LITERAL_ANY_CASE.match(pattern)
    if m:
        word = "".join(pair[1] for pair in re.findall(r"\[(..)\]", m.group(1))).lower()
        return f"not `{word}` (any case)"
    if "const" in node:
        return f"not `{json.dumps(node['const'])}`"
    if node.get("description"):  # a refused shape that says what it is
        return f"not {node['description']}"
    props = node.get("properties") or {}
    if (
        props
        and set(node) <= {"properties"}
        and all(isinstance(p, dict) and (p.get("maxLength") == 0 or p.get("maxItems") == 0) for p in props.values())
    ):
        names = ", ".join(f"`{k}`" for k in props)
        return f"at least one of {names} set and not empty" if len(props) > 1 else f"{names} set and not empty"
    return f"must not match `{json.dumps(node)}`"


@dataclasses.dataclass(frozen=True)
class Rule:
    path: str
    conditions: tuple[str, ...]
    text: str


def key_path(path: tuple[str, ...]) -> str:
    return ".".join(path)


def collapse(path: tuple[str, ...]) -> tuple[str, ...]:
    out: list[str] = []
    for part in path:
        if part == "**" and out and out[-1] == "**":
            continue
        out.append(part)
    return tuple(out)


def conditions_of(node: Schema, path: tuple[str, ...]) -> list[str]:
    """An `if` schema in words: `a.b` is X and ..."""
    out: list[str] = []
    if path and node.get("type") == "object" and not node.get("properties") and not node.get("minProperties"):
        out.append(f"`{key_path(path)}` is a map")
    for sub in node.get("allOf") or []:
        out += conditions_of(sub, path)
    for key, sub in (node.get("properties") or {}).items():
        if not isinstance(sub, dict):
            continue
        here = (*path, key)
        if "const" in sub:
            out.append(f"`{key_path(here)}` is `{json.dumps(sub['const']).strip(chr(34))}`")
        if sub.get("minProperties", 0) >= 1:
            out.append(f"`{key_path(here)}` is not empty")
        if sub.get("minLength", 0) >= 1 or sub.get("minItems", 0) >= 1:
            out.append(f"`{key_path(here)}` is set")
        out += conditions_of(sub, here)
    return out


def collect_rules(
    node: Any, path: tuple[str, ...], conds: tuple[str, ...], out: list[Rule], defs: dict[str, Schema]
) -> None:
    if not isinstance(node, dict):
        return
    props = node.get("properties") or {}
    for key in node.get("required") or []:
        sub = props.get(key) or {}
        text = "required" + (", non-empty" if sub.get("minLength", 0) >= 1 or sub.get("minItems", 0) >= 1 else "")
        out.append(Rule(key_path((*path, key)), conds, text))
    for key, sub in props.items():
        here = (*path, key)
        if not isinstance(sub, dict):
            continue
        if conds:  # constraints on a key inside a conditional branch
            if "const" in sub:
                out.append(Rule(key_path(here), conds, f"must be `{json.dumps(sub['const'])}`"))
            if "minimum" in sub:
                out.append(Rule(key_path(here), conds, f"at least {sub['minimum']}"))
            if isinstance(sub.get("not"), dict):
                out.append(Rule(key_path(here), conds, describe_not(sub["not"])))
        collect_rules(sub, here, conds, out, defs)
    extra = node.get("additionalProperties")
    if conds and isinstance(extra, dict):
        collect_rules(extra, collapse((*path, "**")), conds, out, defs)
    for sub in node.get("allOf") or []:
        collect_rules(sub, path, conds, out, defs)
    if isinstance(node.get("if"), dict) and isinstance(node.get("then"), dict):
        cond = " and ".join(conditions_of(node["if"], path)) or "a condition holds"
        collect_rules(node["then"], path, (*conds, cond), out, defs)


def all_rules(schema: Schema) -> list[Rule]:
    out: list[Rule] = []
    for sub in schema.get("allOf") or []:
        collect_rules(sub, (), (), out, schema.get(definitions_key(schema), {}))
    seen: set[Rule] = set()
    unique = []
    for rule in out:
        if rule not in seen and rule.conditions:
            seen.add(rule)
            unique.append(rule)
    # A rule at any depth below a key (a.**.tag) makes the same rule at a.tag redundant.
    deep = {(r.path.replace(".**", ""), r.conditions, r.text) for r in unique if ".**." in r.path}
    return [r for r in unique if ".**." in r.path or (r.path, r.conditions, r.text) not in deep]


PROD = "`global.profile` is `prod`"


def rule_lines(rules: list[Rule]) -> list[str]:
    """Rules grouped by their first condition; the same rule at any depth under several keys in one line."""
    groups: dict[str, list[Rule]] = {}
    for r in rules:
        groups.setdefault(r.conditions[0], []).append(r)
    out: list[str] = []
    for first, members in groups.items():
        out += [f"When {first}:", ""]
        deep: dict[tuple, list[str]] = {}
        for r in members:
            if ".**." in r.path:
                head, tail = r.path.split(".**.", 1)
                deep.setdefault((r.conditions[1:], tail, r.text), []).append(head)
        done: set[tuple] = set()
        for r in members:
            rest = r.conditions[1:]
            when = f" (when {' and '.join(rest)})" if rest else ""
            if ".**." in r.path:
                head, tail = r.path.split(".**.", 1)
                key = (rest, tail, r.text)
                if key in done:
                    continue
                done.add(key)
                heads = ", ".join(f"`{h}`" for h in deep[key])
                out.append(f"- `{tail}` at any depth under {heads}: {r.text}{when}")
            else:
                out.append(f"- `{r.path}`: {r.text}{when}")
        out.append("")
    return out


# --- rows --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Row:
    path: str
    type: str
    default: str
    description: str
    prod: str


class Builder:
    def __init__(self, schema: Schema, values: dict):
        self.schema = schema
        self.defs: dict[str, Schema] = schema.get(definitions_key(schema), {})
        self.values = values
        self.rules = all_rules(schema)
        self.long_defaults: list[tuple[str, Any]] = []

    def prod_text(self, path: str) -> str:
        by_text: dict[str, list[str]] = {}
        for rule in self.rules:
            if rule.path != path or PROD not in rule.conditions:
                continue
            others = [c for c in rule.conditions if c != PROD]
            by_text.setdefault(rule.text, []).append(" and ".join(others))
        texts = []
        for text, whens in by_text.items():
            whens = [w for w in whens if w]
            texts.append(text + (" when " + ", or when ".join(whens) if whens else ""))
        return "; ".join(texts)

    def default_text(self, node: Schema, path: tuple[str, ...]) -> str:
        resolved = resolve(node, self.defs)
        value = resolved["default"] if "default" in node else lookup(self.values, path)
        if "default" not in node and "default" in resolved and value is _MISSING:
            value = resolved["default"]
        if value is _MISSING:
            return ""
        has_rows = (
            resolved.get("type") == "object"
            and resolved.get("properties")
            and ref_name(node) is None
            and not resolved.get("patternProperties")
        )
        if has_rows and value not in ({}, None):
            return ""  # its keys have rows of their own
        text = inline(value)
        if len(text) > LONG_DEFAULT:
            anchor = "default-" + re.sub(r"[^a-z0-9]+", "-", key_path(path).lower()).strip("-")
            self.long_defaults.append((key_path(path), value))
            return f"[see below](#{anchor})"
        return f"`{text}`"

    def rows(self, node: Schema, path: tuple[str, ...], out: list[Row], *, stop: set[str] | None = None) -> None:
        """Rows for the properties below `node` (not for `node` itself)."""
        resolved = resolve(node, self.defs)
        if ref_name(node) and is_object_def(ref_name(node), self.defs):
            return  # documented once, under Shared types
        for key, sub in (resolved.get("properties") or {}).items():
            here = (*path, key)
            if stop and key_path(here) in stop:
                continue
            if not isinstance(sub, dict):
                continue
            out.append(self.row(sub, here))
            self.rows(sub, here, out, stop=stop)
        for pattern, sub in (resolved.get("patternProperties") or {}).items():
            here = (*path, placeholder(pattern))
            out.append(self.row(sub, here, pattern_default=False))
            self.rows(sub, here, out, stop=stop)
        for key in ("anyOf", "oneOf"):  # the keys of an object alternative (e.g. a size per profile)
            for branch in resolved.get(key) or []:
                if isinstance(branch, dict) and ref_name(branch) is None:
                    self.rows(branch, path, out, stop=stop)
        extra = resolved.get("additionalProperties")
        if (
            isinstance(extra, dict)
            and resolve(extra, self.defs).get("type") == "object"
            and (resolve(extra, self.defs).get("properties"))
        ):
            here = (*path, "<name>")
            out.append(self.row(extra, here, pattern_default=False))
            self.rows(extra, here, out, stop=stop)

    def row(self, node: Schema, path: tuple[str, ...], *, pattern_default: bool = True) -> Row:
        resolved = resolve(node, self.defs)
        description = (node.get("description") or resolved.get("description") or "").strip()
        default = self.default_text(node, path) if pattern_default and "<name>" not in path else ""
        return Row(key_path(path), type_text(node, self.defs), default, description, self.prod_text(key_path(path)))


# --- markdown ------------------------------------------------------------------------------------------


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(rows: list[Row]) -> list[str]:
    if not rows:
        return ["No settings of its own."]
    lines = ["| key | type | default | prod | description |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| `{cell(r.path)}` | {cell(r.type)} | {cell(r.default)} | {cell(r.prod)} | {cell(r.description)} |"
        )
    return lines


def type_table(rows: list[Row]) -> list[str]:
    lines = ["| key | type | description |", "|---|---|---|"]
    for r in rows:
        lines.append(f"| `{cell(r.path)}` | {cell(r.type)} | {cell(r.description)} |")
    return lines


def render(schema: Schema, values: dict) -> str:
    b = Builder(schema, values)
    props: dict[str, Schema] = schema.get("properties") or {}
    out: list[str] = [
        "# Values reference",
        "",
        "<!-- GENERATED from values.schema.json by scripts/gen-values-reference.py: do not edit by hand. -->",
        "",
        f"Generated from `values.schema.json` by `{REGENERATE}` (`--check` tells whether this file is current;",
        "`tests/docs` fails when it is not). Every key the schema declares is listed with its type, its default",
        "and the prod rules that apply to it. Columns:",
        "",
        "- **type**: what the schema accepts, with its bounds; a link names a shared type (see the end).",
        '  "format checked": the schema checks the value\'s form (URL, host, CIDR, Kubernetes name...).',
        "- **default**: the chart's default (values.yaml, or the subchart's own values.yaml for keys of a",
        "  component section). Empty: no default (the key is unset).",
        "- **prod**: what `global.profile: prod` requires of the key beyond its type (the schema refuses to",
        "  install otherwise, naming the key). All conditional rules are listed again under",
        "  [Profile and switch rules](#profile-and-switch-rules).",
        "",
        "The shipped profiles are `values/dev.yaml` and `values/prod.yaml`; overlays for managed dependencies",
        "are in `values/`. Rules that compare several values (for example `global.seamless.coordinator_url`",
        "against `seamless-coordinator.enabled`) are enforced by the chart's aggregated check",
        "(`templates/_validate.tpl`) and explained by `scripts/validate`; see the README.",
        "",
        "Sections: " + ", ".join(f"[`{k}`](#{anchor(k)})" for k in props),
        "",
    ]
    for key, node in props.items():
        resolved = resolve(node, b.defs)
        out += [f'<a id="{anchor(key)}"></a>', "", f"## `{key}`", "", resolved.get("description", ""), ""]
        if key == "global":
            sub_sections = [
                k
                for k, s in (resolved.get("properties") or {}).items()
                if resolve(s, b.defs).get("type") == "object" and ref_name(s) is None
            ]
            top: list[Row] = []
            for k, s in (resolved.get("properties") or {}).items():
                if k in sub_sections:
                    continue
                top.append(b.row(s, (key, k)))
                b.rows(s, (key, k), top)
            if top:
                out += [*table(top), ""]
            for k in sub_sections:
                s = resolved["properties"][k]
                out += [
                    f'<a id="{anchor(key + "." + k)}"></a>',
                    "",
                    f"### `{key}.{k}`",
                    "",
                    resolve(s, b.defs).get("description", ""),
                    "",
                ]
                rows: list[Row] = []
                b.rows(s, (key, k), rows)
                out += [*table(rows), ""]
        else:
            rows = []
            b.rows(node, (key,), rows)
            out += [*table(rows), ""]

    out += ["## Shared types", "", f"Types used by several keys (the schema's `{definitions_key(b.schema)}`).", ""]
    for name, d in b.defs.items():
        if not is_object_def(name, b.defs):
            continue
        out += [f'<a id="type-{name}"></a>', "", f"### `{name}`", "", d.get("description", ""), ""]
        rows = []
        b.rows(d, (), rows)
        out += [*type_table(rows), ""]  # no defaults: each use of the type has its own

    out += [
        "## Profile and switch rules",
        "",
        "Read off the schema's conditional branches. `helm install/upgrade/template/lint` refuse values that",
        "break one of them, naming the key.",
        "",
    ]
    out += rule_lines(b.rules)

    if b.long_defaults:
        out += ["## Long defaults", ""]
        seen: set[str] = set()
        for path, value in b.long_defaults:
            if path in seen:
                continue
            seen.add(path)
            a = "default-" + re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")
            out += [
                f'<a id="{a}"></a>',
                "",
                f"`{path}`:",
                "",
                "```yaml",
                yaml.safe_dump(value, sort_keys=False, width=120).rstrip(),
                "```",
                "",
            ]
    return "\n".join(line.rstrip() for line in out).rstrip() + "\n"


def anchor(key: str) -> str:
    return "values-" + re.sub(r"[^a-z0-9]+", "-", key.lower()).strip("-")


def generate(root: Path = ROOT) -> str:
    schema = json.loads((root / "values.schema.json").read_text())
    return render(schema, effective_values(root))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/values.md is not up to date")
    args = parser.parse_args(argv)
    text = generate()
    if args.check:
        current = OUTPUT.read_text() if OUTPUT.exists() else ""
        if current != text:
            diff = list(
                difflib.unified_diff(
                    current.splitlines(),
                    text.splitlines(),
                    "docs/values.md (committed)",
                    "docs/values.md (generated)",
                    lineterm="",
                    n=0,
                )
            )
            print(
                f"docs/values.md is stale: run `{REGENERATE}` and commit it\n" + "\n".join(diff[:40]), file=sys.stderr
            )
            return 1
        print("docs/values.md is up to date")
        return 0
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
