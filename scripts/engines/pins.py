#!/usr/bin/env python3
"""Print the engine pins of pyproject.toml [tool.qmtl-stack.engines] as shell assignments.

    eval "$(python3 scripts/engines/pins.py)"   # -> PIN_KAFKA=4.4.0, PIN_REDIS_SERIES=7.0, ...

The versions live only in pyproject.toml; this is how scripts/engines/install.sh reads them.
"""

from __future__ import annotations

import pathlib
import shlex
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[2]


def main() -> int:
    with (ROOT / "pyproject.toml").open("rb") as fh:
        pins = tomllib.load(fh)["tool"]["qmtl-stack"]["engines"]
    for key, value in pins.items():
        print(f"PIN_{key.upper()}={shlex.quote(str(value))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
