"""Results: per target, checks with a severity (ok / warning / error), a hint and, where there is one,
the values key path. Printed as a table (like `qmtl config validate`) or as JSON."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

OK, WARN, ERROR = "ok", "warning", "error"
LABELS = {OK: "OK", WARN: "WARN", ERROR: "ERROR"}
EXIT = {OK: 0, WARN: 0, ERROR: 1}
EXIT_CANNOT_LOAD = 2


@dataclasses.dataclass
class Check:
    name: str
    severity: str
    hint: str
    path: str = ""  # the values key path the check is about, when there is one

    def as_dict(self) -> dict[str, Any]:
        out = {"check": self.name, "severity": self.severity, "hint": self.hint}
        if self.path:
            out["path"] = self.path
        return out


@dataclasses.dataclass
class Report:
    profile: str
    helm: str = ""
    results: dict[str, list[Check]] = dataclasses.field(default_factory=dict)

    def add(self, target: str, check: Check) -> Check:
        self.results.setdefault(target, []).append(check)
        return check

    def section(self, target: str) -> list[Check]:
        return self.results.setdefault(target, [])

    @property
    def status(self) -> str:
        severities = {c.severity for checks in self.results.values() for c in checks}
        return ERROR if ERROR in severities else WARN if WARN in severities else OK

    @property
    def exit_code(self) -> int:
        return EXIT[self.status]

    def errors(self) -> list[Check]:
        return [c for checks in self.results.values() for c in checks if c.severity == ERROR]

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "profile": self.profile,
            "helm": self.helm,
            "results": {target: [c.as_dict() for c in checks] for target, checks in self.results.items()},
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, sort_keys=False)

    def to_table(self) -> str:
        lines: list[str] = []
        for target, checks in self.results.items():
            lines.append(f"{target}:")
            if not checks:
                lines.append("  (no checks)")
            width = max((len(c.name) for c in checks), default=0)
            for check in checks:
                label = LABELS[check.severity]
                hint = check.hint.replace("\n", "\n" + " " * (width + 11))
                lines.append(f"  {check.name.ljust(width)}  {label:<5}  {hint}")
            lines.append("")
        n_err = sum(1 for checks in self.results.values() for c in checks if c.severity == ERROR)
        n_warn = sum(1 for checks in self.results.values() for c in checks if c.severity == WARN)
        lines.append(f"{LABELS[self.status]}: profile {self.profile}, {n_err} error(s), {n_warn} warning(s)")
        return "\n".join(lines)
