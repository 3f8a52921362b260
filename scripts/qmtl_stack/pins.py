#!/usr/bin/env python3
"""The one reader of pyproject.toml, the file where every version this project depends on is pinned.

Python: `from qmtl_stack import pins`; pins.table("helm") is [tool.qmtl-stack.helm], and
pins.value("tool.qmtl-stack.helm.helm3") one value. Shell (standard library only, so it runs before .venv exists):
  python3 scripts/qmtl_stack/pins.py get tool.qmtl-stack.helm.helm3     # one value
  python3 scripts/qmtl_stack/pins.py extra test                         # one requirement a line
  python3 scripts/qmtl_stack/pins.py hash tool.qmtl-stack.helm          # short hash of a table (stamp keys)
  python3 scripts/qmtl_stack/pins.py env tool.qmtl-stack [PREFIX]       # every value below, as shell assignments
The `env` names are PREFIX + the dotted key with every other character an underscore (default prefix
QMTL_PIN_: QMTL_PIN_tool_qmtl_stack_helm_helm3, what scripts/lib/common.sh's `pin` reads); with a prefix,
the key below the table, upper-cased (PIN_: PIN_KAFKA for tool.qmtl-stack.engines.kafka).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import shlex
import sys
import tomllib
from pathlib import Path
from typing import Any

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


class PinError(KeyError):
    pass


@functools.cache
def pyproject() -> dict:
    with PYPROJECT.open("rb") as handle:
        return tomllib.load(handle)


def value(dotted: str) -> Any:
    """The value (or table) at a dotted key of pyproject.toml."""
    node: Any = pyproject()
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise PinError(f"pyproject.toml has no key {dotted!r} (missing {part!r})")
        node = node[part]
    return node


def table(name: str) -> dict:
    """A [tool.qmtl-stack.<name>] table."""
    return dict(value(f"tool.qmtl-stack.{name}"))


def _flatten(prefix: str, node: Any):
    if isinstance(node, dict):
        for key, item in node.items():
            yield from _flatten(f"{prefix}.{key}", item)
    elif not isinstance(node, list):
        yield prefix, node


def shell_assignments(dotted: str, prefix: str | None = None) -> list[str]:
    out = []
    for key, item in _flatten(dotted, value(dotted)):
        if prefix is None:
            name = "QMTL_PIN_" + re.sub(r"[^A-Za-z0-9]", "_", key)
        else:
            name = prefix + re.sub(r"[^A-Za-z0-9]", "_", key[len(dotted) + 1 :]).upper()
        out.append(f"{name}={shlex.quote(str(item))}")
    return out


def main(argv: list[str]) -> int:
    verbs = {"get": 2, "extra": 2, "hash": 2, "env": 3}
    if not argv or argv[0] not in verbs or not 2 <= len(argv) <= verbs[argv[0]]:
        print(__doc__, file=sys.stderr)
        return 2
    verb, arg = argv[0], argv[1]
    try:
        if verb == "get":
            found = value(arg)
            if isinstance(found, dict | list):
                raise PinError(f"{arg!r} is a table or list, not a value")
            print(found)
        elif verb == "extra":
            print("\n".join(value(f"project.optional-dependencies.{arg}")))
        elif verb == "env":
            print("\n".join(shell_assignments(arg, argv[2] if len(argv) > 2 else None)))
        else:
            print(hashlib.sha256(json.dumps(value(arg), sort_keys=True).encode()).hexdigest()[:12])
    except PinError as error:
        print(f"pins: {error.args[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
