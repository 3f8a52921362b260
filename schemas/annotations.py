"""Read a values file's key documentation: the `# --` comment above each key (helm-docs' convention), its
optional `(type)`, and the keys a file documents without a default (`#? key:` lines).

    # -- (port) The gateway's HTTP port.        description, typed by the rules file's `port`
    gateway: 8080
    # -- Managed Redis (used when enabled is false).
    external: {}
      # -- (host) Its host name or address.      a key without a default: documented, typed,
      #? host: redis.example.internal           never set by the chart (the value is an example)

A description starts with `# --` and runs over the comment lines that follow it up to its key; a blank
line or any other line ends it unattached. Only keys of mappings are documented (not list items, not
text inside block scalars): a line counts as a key when the loaded YAML has that key at that place.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import yaml

_KEY = re.compile(r"^(?P<indent> *)(?P<optional>#\? )?(?P<key>[A-Za-z0-9_./-]+|\"[^\"]+\"|'[^']+'):(?: (?P<rest>.*))?$")
_START = re.compile(r"^ *# --(?: (?P<text>.*))?$")
_MORE = re.compile(r"^ *#(?: (?P<text>.*))?$")
_TYPE = re.compile(r"^\((?P<type>[^)]+)\) ?")


class AnnotationError(Exception):
    pass


@dataclasses.dataclass
class Key:
    name: str
    description: str | None
    type: str | None
    optional: bool
    line: int
    children: dict[str, Key] = dataclasses.field(default_factory=dict)
    example: Any = None  # a `#? key: value` line's value


@dataclasses.dataclass
class ValuesFile:
    path: Path
    values: dict
    keys: dict[str, Key]


def _has_path(values: Any, path: list[str]) -> bool:
    for part in path:
        if not isinstance(values, dict) or part not in values:
            return False
        values = values[part]
    return True


def read(path: Path) -> ValuesFile:
    text = path.read_text()
    values = yaml.safe_load(text) or {}
    root: dict[str, Key] = {}
    # (indent, key path, Key) of the keys enclosing the current line
    stack: list[tuple[int, list[str], Key]] = []
    pending: list[str] | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            pending = None
            continue
        match = _KEY.match(line)
        if match:
            indent = len(match["indent"])
            while stack and stack[-1][0] >= indent:
                stack.pop()
            name = match["key"].strip("\"'")
            parent_path = stack[-1][1] if stack else []
            parent = stack[-1][2] if stack else None
            optional = bool(match["optional"])
            path_ = [*parent_path, name]
            if not optional and ((parent is not None and parent.optional) or not _has_path(values, path_)):
                # not a mapping key of the loaded document: a list item's key, text in a block scalar
                pending = None
                continue
            if optional and _has_path(values, path_):
                raise AnnotationError(
                    f"{path}:{number}: {'.'.join(path_)} is documented as a key without a default (#?) but has one"
                )
            description = type_ = None
            if pending is not None:
                joined = " ".join(part for part in pending if part).strip()
                typed = _TYPE.match(joined)
                if typed:
                    type_, joined = typed["type"].strip(), joined[typed.end() :]
                description = joined or None
            pending = None
            key = Key(name, description, type_, optional, number)
            if optional and (match["rest"] or "").strip():
                try:
                    key.example = yaml.safe_load(match["rest"])
                except yaml.YAMLError as error:
                    where = ".".join(path_)
                    raise AnnotationError(f"{path}:{number}: the example of {where} is not YAML: {error}") from error
            siblings = parent.children if parent is not None else root
            if name in siblings:
                raise AnnotationError(f"{path}:{number}: {'.'.join(path_)} is documented twice")
            siblings[name] = key
            stack.append((indent, path_, key))
            continue
        start = _START.match(line)
        if start:
            pending = [start["text"] or ""]
            continue
        more = _MORE.match(line)
        if more:
            if pending is not None:
                pending.append(more["text"] or "")
            continue
        pending = None
    return ValuesFile(path, values if isinstance(values, dict) else {}, root)
