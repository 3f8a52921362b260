"""Load values files and merge them the way Helm does, so the schema sees what Helm validates.

Helm (3.18+ and 4): the user's files are merged in order (maps recursively, anything else replaced;
a null is kept), then coalesced with the chart's values.yaml (a user null deletes the default; a null
for a key the chart does not have stays null; below global.<key>.<key> the default comes back, see
_restore_shared_defaults). Each enabled subchart (Chart.yaml `condition`) gets its own values.yaml under
its name and a copy of `global`; a disabled subchart's section is left as given.
tests/validation compares this merge with the values Helm itself hands to the templates.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

# libyaml's loader when PyYAML has it (a rendered chart is a lot of YAML); same results, much faster.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class LoadError(Exception):
    """The values or the chart cannot be read (exit 2)."""


def load_file(path: Path) -> dict:
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise LoadError(f"{path}: cannot read: {error.strerror or error}") from error
    try:
        data = yaml.load(text, Loader=YAML_LOADER)
    except yaml.YAMLError as error:
        raise LoadError(f"{path}: not valid YAML: {error}") from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise LoadError(f"{path}: a values file must be a mapping at the top, got {type(data).__name__}")
    return data


def merge_user(layers: Sequence[dict]) -> dict:
    """Helm's merge of -f files: later files win; maps merge key by key."""
    out: dict = {}
    for layer in layers:
        out = _merge_maps(out, layer)
    return out


def _merge_maps(base: dict, top: dict) -> dict:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge_maps(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def coalesce(defaults: dict, user: dict) -> dict:
    """Helm's coalescing of user values with chart defaults: the user wins, a user null deletes."""
    out = dict(user)
    for key, default in defaults.items():
        if key in out:
            value = out[key]
            if value is None:
                del out[key]
            elif isinstance(value, dict) and isinstance(default, dict):
                out[key] = coalesce(default, value)
        elif default is not None:
            out[key] = copy.deepcopy(default)
    return out


def _lookup(values: dict, dotted: str) -> tuple[bool, Any]:
    node: Any = values
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def subchart_enabled(values: dict, condition: str | None) -> bool:
    """Helm: the first condition path that resolves to a bool decides; none: enabled."""
    for path in (condition or "").split(","):
        path = path.strip()
        if not path:
            continue
        found, value = _lookup(values, path)
        if found and isinstance(value, bool):
            return value
    return True


def chart_dependencies(chart_dir: Path) -> list[dict]:
    chart = load_file(chart_dir / "Chart.yaml")
    return list(chart.get("dependencies") or [])


def helm_values(chart_dir: Path, layers: Sequence[dict]) -> dict:
    """The values Helm validates and renders with: chart defaults, the layers in order, subcharts."""
    defaults_file = chart_dir / "values.yaml"
    defaults = load_file(defaults_file) if defaults_file.exists() else {}
    values = coalesce(defaults, merge_user(layers))
    parent_global = values.get("global") if isinstance(values.get("global"), dict) else {}
    default_global = defaults.get("global") if isinstance(defaults.get("global"), dict) else {}
    for dep in chart_dependencies(chart_dir):
        name = dep["name"]
        if not subchart_enabled(values, dep.get("condition")):
            continue
        _restore_shared_defaults(parent_global, default_global)
        sub_file = chart_dir / "charts" / name / "values.yaml"
        sub_defaults = load_file(sub_file) if sub_file.exists() else {}
        section = values.get(name)
        section = coalesce(sub_defaults, section if isinstance(section, dict) else {})
        # Helm first bakes the chart's DEFAULT globals into each enabled subchart's defaults (import-values
        # processing), then merges the final globals over them: a default the user nulled at the top level
        # survives in the subcharts' copies.
        own_global = section.get("global") if isinstance(section.get("global"), dict) else {}
        section["global"] = _merge_maps(_merge_maps(own_global, default_global), parent_global)
        values[name] = section
    return values


def _restore_shared_defaults(parent_global: dict, default_global: dict) -> None:
    """Helm copies each `global.<key>` table into an enabled subchart only one level deep: the tables below
    `global.<key>.<key>` stay shared with the umbrella, and Helm fills them from the subchart's (default)
    globals. So a user null that deletes a default deeper than global.<key>.<key> comes back, in what the
    umbrella's templates and its schema see too (e.g. global.resources.prod.minio.limits: null keeps the
    default limits); one at global.<key>.<key> stays deleted."""
    for key, default in default_global.items():
        table = parent_global.get(key)
        if not (isinstance(table, dict) and isinstance(default, dict)):
            continue
        for sub, sub_default in default.items():
            if isinstance(table.get(sub), dict) and isinstance(sub_default, dict):
                _fill_missing(table[sub], sub_default)


def _fill_missing(dest: dict, src: dict) -> None:
    for key, value in src.items():
        if key not in dest:
            dest[key] = copy.deepcopy(value)
        elif isinstance(dest[key], dict) and isinstance(value, dict):
            _fill_missing(dest[key], value)
