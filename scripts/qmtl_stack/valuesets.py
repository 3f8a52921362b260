"""Every values set the project ships.

Each file in values/ is either a base profile (dev.yaml, prod.yaml) or an overlay that names its base
in a header line of its own, e.g.  `# overlay-of: prod.yaml`. That line is the one place the
relationship is written; the sets below are derived from it.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from pathlib import Path

from qmtl_stack.paths import VALUES_DIR

_OVERLAY = re.compile(r"^#\s*overlay-of:\s*(\S+)\s*$", re.M)


@dataclasses.dataclass(frozen=True)
class ValueSet:
    name: str  # e.g. "prod" or "prod+managed-questdb"
    files: tuple[Path, ...]  # base first, overlay last

    @property
    def profile(self) -> str:
        return "prod" if self.name.split("+")[0] == "prod" else "dev"


def _base_of(path: Path) -> Path | None:
    match = _OVERLAY.search(path.read_text())
    return (VALUES_DIR / match.group(1)) if match else None


@functools.cache
def value_sets() -> tuple[ValueSet, ...]:
    sets = []
    for path in sorted(VALUES_DIR.glob("*.yaml")):
        chain = [path]
        while (base := _base_of(chain[0])) is not None:
            if not base.exists():
                raise FileNotFoundError(f"{path.name}: its overlay-of base {base.name} does not exist")
            if base in chain:
                raise ValueError(f"{path.name}: overlay-of cycle through {base.name}")
            chain.insert(0, base)
        sets.append(ValueSet(name="+".join(p.stem for p in chain), files=tuple(chain)))
    return tuple(sets)
