"""Independent scanners on the rendered manifests: checkov (PyPI, its own venv) and kube-score (built from
its Go module), both installed into .tools/ by scripts/scanners/install.sh and run offline.

A scanner that is not installed skips its tests with the reason, except under QMTL_REQUIRE_ENGINES=1
(CI), where it fails. Each scanner runs ONCE per distinct set of renders per test run (file lock in the
run's render cache dir, shared by xdist workers). Findings are matched against a skip file in this
folder in which every entry carries a written reason.
"""

from __future__ import annotations

import dataclasses
import fcntl
import fnmatch
import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml
from qmtl_stack.render import cache_dir

from tests.harness.paths import TOOLS_BIN, pinned

HERE = Path(__file__).parent
REQUIRE_ENV = "QMTL_REQUIRE_ENGINES"


def scanner(name: str) -> Path:
    """Path of an installed scanner, or skip (fail under QMTL_REQUIRE_ENGINES=1) with the reason."""
    path = TOOLS_BIN / name
    if path.exists():
        return path
    reason = f"{name} is not installed ({path} missing): run scripts/scanners/install.sh"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1 requires every scanner)")
    pytest.skip(reason)
    raise AssertionError("unreachable")


@dataclasses.dataclass(frozen=True)
class Finding:
    scanner: str
    check: str
    values_set: str
    resource: str  # Kind/name
    detail: str


@dataclasses.dataclass(frozen=True)
class Skip:
    check: str
    reason: str
    resources: tuple[str, ...]  # fnmatch patterns of Kind/name; empty: every resource
    values_sets: tuple[str, ...]  # fnmatch patterns of values set names; empty: every set

    def covers(self, finding: Finding) -> bool:
        return (
            finding.check == self.check
            and (not self.resources or any(fnmatch.fnmatchcase(finding.resource, p) for p in self.resources))
            and (not self.values_sets or any(fnmatch.fnmatchcase(finding.values_set, p) for p in self.values_sets))
        )


def load_skips(path: Path) -> list[Skip]:
    data = yaml.safe_load(path.read_text()) or {}
    skips = []
    for index, entry in enumerate(data.get("skips") or []):
        where = f"{path.name} entry {index + 1}"
        if not isinstance(entry, dict) or not entry.get("check"):
            raise AssertionError(f"{where}: needs `check`")
        reason = str(entry.get("reason") or "").strip()
        if len(reason) < 20:
            raise AssertionError(f"{where} ({entry['check']}): every skip needs a written reason")
        skips.append(
            Skip(entry["check"], reason, tuple(entry.get("resources") or ()), tuple(entry.get("values_sets") or ()))
        )
    return skips


def _locked_run(tag: str, renders: dict[str, str], run) -> dict:
    """run(dir with <set>.yaml files) -> JSON-able result, computed once per distinct input per test run."""
    key = hashlib.sha256(json.dumps([tag, sorted(renders.items())]).encode()).hexdigest()[:24]
    directory = cache_dir()
    entry = directory / f"scan-{tag}-{key}.json"
    with (directory / f"scan-{tag}-{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if entry.exists():
            return json.loads(entry.read_text())
        with tempfile.TemporaryDirectory(prefix=f"qmtl-{tag}-") as tmp:
            for name, text in renders.items():
                (Path(tmp) / f"{name}.yaml").write_text(text)
            result = run(Path(tmp))
        entry.write_text(json.dumps(result))
        return result


# --- checkov ------------------------------------------------------------------------------------------
def run_checkov(renders: dict[str, str]) -> dict:
    """{"summary": {...}, "failed": [Finding...]} over a set of renders (name -> manifest text)."""
    binary = scanner("checkov")

    def run(directory: Path) -> dict:
        proc = subprocess.run(
            [
                str(binary),
                "--directory",
                str(directory),
                "--framework",
                "kubernetes",
                "--output",
                "json",
                "--quiet",
                "--compact",
            ],
            capture_output=True,
            text=True,
            cwd=directory,
            timeout=600,
        )
        if proc.returncode not in (0, 1):
            raise AssertionError(f"checkov failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        report = json.loads(proc.stdout)
        reports = report if isinstance(report, list) else [report]
        failed, summary = [], {"passed": 0, "failed": 0, "parsing_errors": 0, "resource_count": 0}
        for rep in reports:
            for key in summary:
                summary[key] += int((rep.get("summary") or {}).get(key) or 0)
            for check in (rep.get("results") or {}).get("failed_checks") or []:
                kind, _, name = check["resource"].partition(".")
                name = name.split(".", 1)[1] if "." in name else name  # Kind.namespace.name
                failed.append(
                    dataclasses.asdict(
                        Finding(
                            "checkov",
                            check["check_id"],
                            Path(check["file_path"]).stem,
                            f"{kind}/{name}",
                            check.get("check_name", ""),
                        )
                    )
                )
        return {"summary": summary, "failed": failed, "version": pinned("scanners")["checkov"]}

    return _locked_run("checkov", renders, run)


# --- kube-score ------------------------------------------------------------------------------------------
KUBE_SCORE_OK = 10  # grades: 1 critical, 5 warning, 7 almost ok, 10 all ok


def run_kube_score(
    renders: dict[str, str], kubernetes_version: str, optional: Sequence[str] = ("container-seccomp-profile",)
) -> dict:
    binary = scanner("kube-score")

    def run(directory: Path) -> dict:
        findings, objects = [], 0
        for path in sorted(directory.glob("*.yaml")):
            minor = ".".join(kubernetes_version.lstrip("v").split(".")[:2])  # kube-score wants vN.NN
            args = [
                str(binary),
                "score",
                "--output-format",
                "json",
                "--color",
                "never",
                "--kubernetes-version",
                f"v{minor}",
                str(path),
            ]
            for name in optional:
                args += ["--enable-optional-test", name]
            proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
            # exit 1 also means "critical findings"; a run that scored nothing printed no JSON
            if proc.returncode not in (0, 1) or not proc.stdout.strip().startswith("["):
                raise AssertionError(f"kube-score failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
            for obj in json.loads(proc.stdout):
                objects += 1
                ref = f"{obj['type_meta']['kind']}/{obj['object_meta']['name']}"
                for check in obj.get("checks") or []:
                    if check.get("skipped") or check.get("grade", KUBE_SCORE_OK) >= KUBE_SCORE_OK:
                        continue
                    comments = "; ".join(
                        f"{c.get('path', '')} {c.get('summary', '')}".strip() for c in check.get("comments") or []
                    )
                    findings.append(
                        dataclasses.asdict(
                            Finding(
                                "kube-score",
                                check["check"]["id"],
                                path.stem,
                                ref,
                                f"grade {check['grade']}: {comments}",
                            )
                        )
                    )
        return {"objects": objects, "failed": findings}

    return _locked_run(f"kube-score-{kubernetes_version}", renders, run)


def unskipped(findings: list[dict], skips: list[Skip]) -> list[Finding]:
    return [f for f in (Finding(**d) for d in findings) if not any(s.covers(f) for s in skips)]


def unused(findings: list[dict], skips: list[Skip]) -> list[Skip]:
    found = [Finding(**d) for d in findings]
    return [s for s in skips if not any(s.covers(f) for f in found)]


# --- pss-check (Kubernetes' own Pod Security Standards code) ------------------------------------------
def run_pss_check(renders: dict[str, str], policy_version: str, level: str = "restricted") -> dict:
    """{"verdicts": [{values_set, kind, name, allowed, reasons}]} for every pod template of the renders."""
    binary = scanner("pss-check")

    def run(directory: Path) -> dict:
        files = sorted(directory.glob("*.yaml"))
        proc = subprocess.run(
            [str(binary), "-level", level, "-version", policy_version, *map(str, files)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if proc.returncode != 0:
            raise AssertionError(f"pss-check failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        verdicts = json.loads(proc.stdout)
        for verdict in verdicts:
            verdict["values_set"] = Path(verdict.pop("file")).stem
        return {"verdicts": verdicts}

    return _locked_run(f"pss-{level}-{policy_version}", renders, run)
