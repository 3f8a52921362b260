"""Shared helpers for the profile and validation tests: run scripts/validate in-process (same Helm as the
rest of the suite), write values to files, and name the shipped base profiles."""

from __future__ import annotations

import io
import json
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml
from qmtl_stack.render import Layers, layers
from qmtl_validate import chart, cli

from tests.harness import helm_binary
from tests.harness.paths import REPO_ROOT, VALUES_DIR

DEV_FILE = VALUES_DIR / "dev.yaml"
PROD_FILE = VALUES_DIR / "prod.yaml"


def run_validate(
    files: Sequence[Path] = (), values: Layers = (), args: Sequence[str] = ()
) -> tuple[int, dict | None, str]:
    """scripts/validate with the Helm under test. Returns (exit code, the JSON report or None, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with tempfile.TemporaryDirectory(prefix="qmtl-validate-test-") as tmp:
        paths = [str(Path(f)) for f in files]
        for index, layer in enumerate(layers(values)):
            path = Path(tmp) / f"layer-{index}.yaml"
            path.write_text(yaml.safe_dump(layer))
            paths.append(str(path))
        argv = [*(a for p in paths for a in ("-f", p)), "--helm", str(helm_binary().path), "--json", *args]
        code = cli.run(argv, out=out, err=err)
    text = out.getvalue()
    return code, (json.loads(text) if text.strip() else None), err.getvalue()


_LINT_CHECK_ERROR = re.compile(r'no template "((?:[^"\\]|\\.)*)" associated')


def lint_check_problems(output: str) -> list[str] | None:
    """The aggregated check's problems as `helm lint` reports them: the render error that
    templates/validate/renders/first/check.yaml raises in lint mode quotes the message (Go's %q)."""
    match = _LINT_CHECK_ERROR.search(output)
    return chart.parse_problems(json.loads(f'"{match.group(1)}"')) if match else None


def checks(report: dict, target: str | None = None) -> list[dict]:
    return [c for name, items in report["results"].items() if target in (None, name) for c in items]


def errors(report: dict) -> list[dict]:
    return [c for c in checks(report) if c["severity"] == "error"]


def check_named(report: dict, target: str, name: str) -> dict:
    found = [c for c in checks(report, target) if c["check"] == name]
    assert found, f"no check {name!r} in target {target!r}: {checks(report, target)}"
    return found[0]


@pytest.fixture(scope="session")
def values_schema() -> dict:
    return json.loads((REPO_ROOT / "values.schema.json").read_text())
