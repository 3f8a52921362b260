"""The review's adversarial values sets (tests/security/adversarial.py), on top of values/prod.yaml: each is
refused by helm template (schema on), installs with the warning it deserves, or, rendered without the
schema, reaches no script, ACL file or plan as code. `python -m tests.security.adversarial CHART` prints
the same verdicts (and scripts/validate's) for any checkout, for before/after comparisons."""

from __future__ import annotations

import pytest

from tests.harness import render_chart, render_error
from tests.harness.paths import VALUES_DIR
from tests.security.adversarial import INERT, REFUSED, SETS, WARNED, Adversarial
from tests.validation.conftest import run_validate

PROD = [VALUES_DIR / "prod.yaml"]


@pytest.mark.parametrize("case", SETS, ids=[c.id for c in SETS])
def test_adversarial_values_set(case: Adversarial) -> None:
    if case.expect == REFUSED:
        render_error([case.values], values_files=PROD)
    elif case.expect == WARNED:
        render_chart([case.values], values_files=PROD)
        code, report, stderr = run_validate(PROD, [case.values])
        assert code == 0, stderr
        warned = [c for c in report["results"]["seamless"] if c["severity"] == "warning"]
        assert [c["check"] for c in warned] == ["coordinator_network"], warned
    else:
        assert case.expect == INERT
        rendered = render_chart([case.values], values_files=PROD, extra_args=("--skip-schema-validation",))
        assert case.injected is not None
        assert not case.injected(rendered.text), f"{case.id}: the value reached the render as code"


def test_the_list_covers_every_class_with_several_sets() -> None:
    per_class: dict[str, int] = {}
    for case in SETS:
        per_class[case.cls] = per_class.get(case.cls, 0) + 1
    assert len(SETS) >= 50
    assert min(per_class.values()) >= 2, per_class
