"""Read pins from pyproject.toml, the one file where this project's versions live.

Usage:
  python3 scripts/lib/pyproject.py get tool.qmtl-stack.helm.helm3   # prints one value
  python3 scripts/lib/pyproject.py extra test                        # prints one requirement a line
  python3 scripts/lib/pyproject.py hash tool.qmtl-stack.helm          # short hash of a table (stamp keys)
  python3 scripts/lib/pyproject.py env tool.qmtl-stack                # every value below, as shell assignments
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _lookup(data: dict, dotted: str):
    node = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise SystemExit(f"pyproject.toml has no key {dotted!r} (missing {part!r})")
        node = node[part]
    return node


def env_name(dotted: str) -> str:
    """The shell variable scripts/lib/common.sh's `pin` reads for a dotted key."""
    return "QMTL_PIN_" + re.sub(r"[^A-Za-z0-9]", "_", dotted)


def _flatten(prefix: str, node):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _flatten(f"{prefix}.{key}", value)
    elif not isinstance(node, list):
        yield prefix, node


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in {"get", "extra", "hash", "env"}:
        print(__doc__, file=sys.stderr)
        return 2
    data = tomllib.loads(PYPROJECT.read_text())
    verb, arg = argv
    if verb == "get":
        value = _lookup(data, arg)
        if isinstance(value, dict | list):
            raise SystemExit(f"{arg!r} is a table or list, not a value")
        print(value)
    elif verb == "extra":
        for req in _lookup(data, f"project.optional-dependencies.{arg}"):
            print(req)
    elif verb == "env":
        for key, value in _flatten(arg, _lookup(data, arg)):
            print(f"{env_name(key)}={shlex.quote(str(value))}")
    else:
        blob = json.dumps(_lookup(data, arg), sort_keys=True).encode()
        print(hashlib.sha256(blob).hexdigest()[:12])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
