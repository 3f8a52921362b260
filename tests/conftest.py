"""Suite-wide set-up: which Helm is under test, the per-run render cache, shipped values sets."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path

import pytest
from qmtl_stack.helm import ENV_VAR as HELM_ENV
from qmtl_stack.render import CACHE_ENV

from tests.harness import helm_binary, value_sets
from tests.harness.paths import CACHE_ROOT

# Real dependency servers (tests/engines) as session fixtures for every test folder; the images' build
# output in the run's summary (tests/images).
pytest_plugins = ["tests.engines.fixtures", "tests.images.summary"]

_CREATED_CACHE: list[Path] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--helm", default=None, help=f"Helm under test: helm3, helm4 or a path (default: ${HELM_ENV} or helm3)"
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--helm"):
        os.environ[HELM_ENV] = config.getoption("--helm")
    # One render cache per run, created by the controller and inherited by xdist workers (env).
    if not hasattr(config, "workerinput") and CACHE_ENV not in os.environ:
        CACHE_ROOT.mkdir(parents=True, exist_ok=True)
        run_dir = Path(tempfile.mkdtemp(prefix="renders-", dir=CACHE_ROOT))
        os.environ[CACHE_ENV] = str(run_dir)
        _CREATED_CACHE.append(run_dir)


def pytest_unconfigure(config: pytest.Config) -> None:
    for run_dir in _CREATED_CACHE:
        shutil.rmtree(run_dir, ignore_errors=True)


def pytest_report_header(config: pytest.Config) -> str:
    helm = helm_binary()
    return f"helm under test: {helm.path} ({helm.version})"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "value_set" in metafunc.fixturenames:
        sets = value_sets()
        metafunc.parametrize("value_set", sets, ids=[s.name for s in sets])


# --- the bad-input matrix of issue 16: refusals per class, printed at the end of the run -------------------
# (tests/validation/matrix.py CLASSES; each test of tests/validation/test_matrix.py runs once per case)
_MATRIX_TESTS = {
    "test_helm_template_refuses_naming_the_key": "helm template",
    "test_helm_lint_refuses_naming_the_key": "helm lint",
    "test_validate_refuses_naming_the_key": "scripts/validate",
    "test_python_jsonschema_and_helm_agree": "python-jsonschema = helm",
}
_MATRIX_ID = re.compile(r"test_matrix\.py::(?P<test>\w+)\[(?P<case>[^\]]+)\]$")
_matrix_results: dict[tuple[str, str], list[bool]] = defaultdict(list)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    match = _MATRIX_ID.search(report.nodeid)
    if match and match.group("test") in _MATRIX_TESTS and (report.when == "call" or report.failed):
        _matrix_results[(match.group("test"), match.group("case"))].append(report.passed)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if not _matrix_results:
        return
    from tests.validation.matrix import CASES, CLASSES

    by_id = {case.id: case.cls for case in CASES}
    rows = []
    for cls in CLASSES:
        cells = []
        for test, label in _MATRIX_TESTS.items():
            ran = [all(v) for (t, case), v in _matrix_results.items() if t == test and by_id.get(case) == cls]
            if ran:
                cells.append(f"{label} {sum(ran)}/{len(ran)}")
        if cells:
            rows.append(f"  {cls:16} " + ", ".join(cells))
    if rows:
        terminalreporter.section(f"bad-input matrix of issue 16, refused naming the key ({helm_binary().version})")
        for row in rows:
            terminalreporter.write_line(row)
