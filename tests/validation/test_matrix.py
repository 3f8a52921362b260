"""The bad-values matrix (tests/validation/matrix.py): every case is refused by `helm template`, by
`helm lint` (a representative subset: lint runs the same schema and templates), and by scripts/validate,
each naming the failing values key path; and python-jsonschema and Helm agree on the schema verdict.

Each case renders once per Helm (the harness caches `helm template`; validate renders its own copy)."""

from __future__ import annotations

import pytest
from qmtl_validate import chart, schema

from tests.harness import helm_lint, render_error
from tests.harness.objects import chart_values
from tests.validation.conftest import DEV_FILE, PROD_FILE, errors, lint_check_problems, run_validate
from tests.validation.matrix import CASE_IDS, CASES, CHECK, CLASSES, SCHEMA, Case, counts

LINT_CASES = [c for c in CASES if c.lint]


def test_the_matrix_is_big_enough_and_covers_both_layers() -> None:
    assert len(CASES) >= 40
    assert {c.layer for c in CASES} == {SCHEMA, CHECK}
    assert sum(c.layer == CHECK for c in CASES) >= 8
    assert {c.layer for c in LINT_CASES} == {SCHEMA, CHECK}
    assert {c.base for c in CASES} == {PROD_FILE, DEV_FILE}


def test_every_class_of_issue_16_has_at_least_five_cases() -> None:
    per_class = counts()
    assert set(per_class) == set(CLASSES)
    assert min(per_class.values()) >= 5, per_class


def test_the_matrix_covers_every_section(values_schema: dict) -> None:
    """An unknown key in every section of the values, and a refused value in every component section."""
    sections = set(values_schema["properties"])
    unknown = {c.path.rsplit(".", 1)[0] for c in CASES if c.id.startswith("unknown-")}
    assert sections - {"global"} <= unknown, sections - unknown
    refused_in = {c.path.split(".")[0] for c in CASES}
    assert sections <= refused_in, sections - refused_in


def _helm_error(case: Case) -> str:
    return str(render_error(case.values, values_files=case.files))


def _refused_paths(message: str) -> set[str]:
    """The key paths a Helm error names: parsed from the schema error lines, or from the aggregated check."""
    if schema.is_helm_schema_error(message):
        return schema.helm_key_paths(message)
    return {chart.problem_key_path(p) for p in chart.parse_problems(message) or []}


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_helm_template_refuses_naming_the_key(case: Case) -> None:
    message = _helm_error(case)
    if case.layer == SCHEMA:
        assert schema.is_helm_schema_error(message), f"expected the schema to refuse it:\n{message}"
    else:
        assert chart.parse_problems(message) is not None, f"expected the aggregated check to refuse it:\n{message}"
    assert case.path in _refused_paths(message), f"{case.path} not named in:\n{message}"


@pytest.mark.parametrize("case", LINT_CASES, ids=[c.id for c in LINT_CASES])
def test_helm_lint_refuses_naming_the_key(case: Case) -> None:
    result = helm_lint(values=[case.values], values_files=case.files)
    output = result.stdout + result.stderr
    assert not result.ok, f"helm lint accepted {case.id}:\n{output}"
    if case.layer == SCHEMA:
        assert case.path in schema.helm_key_paths(output), output
    else:
        # lint does not stop at `fail`; the check template then raises a render error carrying the message
        assert "[ERROR] templates/" in result.stdout, output
        assert "validate/renders/first/check.yaml" in result.stdout, output
        problems = lint_check_problems(result.stdout)
        assert problems, output
        assert case.path in {chart.problem_key_path(p) for p in problems}, problems


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_validate_refuses_naming_the_key(case: Case) -> None:
    code, report, stderr = run_validate(case.files, [case.values])
    assert report is not None, stderr
    assert code == 1, report
    paths = {c.get("path") for c in errors(report)}
    assert case.path in paths, f"{case.path} not among the errors: {errors(report)}"
    target = "schema" if case.layer == SCHEMA else "checks"
    assert any(c.get("path") == case.path for c in report["results"][target] if c["severity"] == "error")


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_python_jsonschema_and_helm_agree(case: Case, values_schema: dict) -> None:
    python_paths = schema.python_key_paths(values_schema, chart_values(*case.files, extra=case.values))
    message = _helm_error(case)
    helm_paths = schema.helm_key_paths(message) if schema.is_helm_schema_error(message) else set()
    assert python_paths == helm_paths, f"python {sorted(python_paths)} != helm {sorted(helm_paths)}\n{message}"
    if case.layer == SCHEMA:
        assert case.path in python_paths
    else:
        assert not python_paths
