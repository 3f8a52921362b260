"""The aggregated values check (templates/_validate.tpl + templates/validate/renders/first/check.yaml):
one `fail` listing every problem, before any component's own `fail`; it also fails `helm lint`, which
ignores `fail` itself (proved here); it still guards the design's prod dependency rules when the schema is skipped;
and its rules are written there only."""

from __future__ import annotations

from pathlib import Path

import pytest
from qmtl_validate import chart

from tests.harness import helm_lint, render_chart, render_error, run_helm
from tests.harness.objects import layered
from tests.harness.paths import REPO_ROOT, copy_chart
from tests.validation.conftest import DEV_FILE, PROD_FILE, lint_check_problems

CHECK_TEMPLATE = Path("templates/validate/renders/first/check.yaml")
SKIP_SCHEMA = ("--skip-schema-validation",)
# A problem only the aggregated check reports (the scrape rule), whatever else the values say.
SCRAPE_TOO_LONG = {"enabled": True, "interval": "10s", "scrapeTimeout": "30s"}

# Four independent problems, one per rule (all of them values the schema accepts).
FOUR_PROBLEMS = {
    "global": {
        "seamless": {"coordinator_url": "https://coordinator.example.internal"},
        "redis": {"databases": {"gateway": 3}},
        "ports": {"questdbHealth": 8812},
    },
    "redis": {
        "resources": {
            "prod": {"redis": {"requests": {"cpu": "2", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}}
        }
    },
}
FOUR_PATHS = {
    "global.seamless.coordinator_url",
    "global.redis.databases.seamless",
    "global.ports.questdbHealth",
    "redis.resources.prod.redis.limits.cpu",
}


def test_every_problem_is_reported_in_one_fail() -> None:
    message = str(render_error(FOUR_PROBLEMS, values_files=[PROD_FILE]))
    problems = chart.parse_problems(message)
    assert problems is not None, message
    assert {chart.problem_key_path(p) for p in problems} == FOUR_PATHS
    assert f"{len(FOUR_PATHS)} problem(s)" in message
    assert message.count("qmtl values check failed") == 1


def test_each_problem_says_what_to_do() -> None:
    problems = chart.parse_problems(str(render_error(FOUR_PROBLEMS, values_files=[PROD_FILE]))) or []
    for problem in problems:
        path, _, rest = problem.partition(": ")
        assert path in FOUR_PATHS, problem
        assert ": " in rest, problem  # "<path>: <what is wrong>: <what to do>"


def _template_paths(root: Path) -> list[str]:
    """Template paths as Helm names them (qmtl/templates/..., qmtl/charts/<sub>/templates/...)."""
    paths = [f"qmtl/{p.relative_to(root).as_posix()}" for p in (root / "templates").rglob("*") if p.is_file()]
    for sub in (root / "charts").glob("*/templates"):
        paths += [f"qmtl/{p.relative_to(root).as_posix()}" for p in sub.rglob("*") if p.is_file()]
    return paths


def test_the_check_renders_before_every_other_template() -> None:
    """Helm renders the deepest paths first (ties: reverse lexical order) and stops at the first error."""
    ours = f"qmtl/{CHECK_TEMPLATE.as_posix()}"
    depth = ours.count("/")
    for path in _template_paths(REPO_ROOT):
        if path == ours or Path(path).name.startswith("_"):
            continue
        assert path.count("/") < depth or (path.count("/") == depth and path < ours), (
            f"{path} renders before the aggregated check: keep every template at most {depth - 1} folders deep"
        )


def test_a_components_own_fail_does_not_hide_the_aggregated_list() -> None:
    # qmtl.image refuses it in gateway's template (the schema too, first: skipped here to reach the templates)
    own_fail = {"gateway": {"image": {"digest": "sha256:not-hex"}}}
    message = str(render_error([own_fail, FOUR_PROBLEMS], values_files=[PROD_FILE], extra_args=SKIP_SCHEMA))
    assert chart.parse_problems(message) is not None, message
    assert "check.yaml" in message, message
    # ... and that component fail is real: alone, it is what Helm reports.
    alone = str(render_error(own_fail, values_files=[PROD_FILE], extra_args=SKIP_SCHEMA))
    assert "gateway.image" in alone, alone
    assert chart.parse_problems(alone) is None, alone


def test_helm_lint_ignores_fail_and_the_check_turns_it_into_an_error(tmp_path: Path) -> None:
    """The premise (lint logs `fail` and passes) proved on a copy without the check's lint-only include; then
    the real template: lint reports the problems as an ERROR of the check template."""
    copy = copy_chart(tmp_path / "qmtl")
    text = (copy / CHECK_TEMPLATE).read_text()
    (copy / CHECK_TEMPLATE).write_text(text.replace("{{- include $message . -}}\n", ""))
    bad = {"global": {"redis": {"databases": {"gateway": 3}}}}
    values = tmp_path / "bad.yaml"
    values.write_text("global:\n  redis:\n    databases:\n      gateway: 3\n")
    without = run_helm("lint", str(copy), "-f", str(PROD_FILE), "-f", str(values), "--strict")
    assert without.ok, without.stdout + without.stderr
    assert "Fail: qmtl values check failed" in without.stderr or "qmtl values check failed" in without.stderr
    real = helm_lint(values=[bad], values_files=[PROD_FILE])
    assert not real.ok
    assert "[ERROR] templates/" in real.stdout
    assert CHECK_TEMPLATE.as_posix() in real.stdout
    problems = lint_check_problems(real.stdout)
    assert problems, real.stdout
    assert chart.problem_key_path(problems[0]) == "global.redis.databases.seamless", problems


@pytest.mark.parametrize("dependency", ["redis", "questdb", "minio"])
def test_prod_rules_hold_even_when_the_schema_is_skipped(dependency: str) -> None:
    values = {"global": {dependency: {"enabled": False}}}
    message = str(render_error(values, values_files=[PROD_FILE], extra_args=SKIP_SCHEMA))
    paths = {chart.problem_key_path(p) for p in chart.parse_problems(message) or []}
    assert f"global.{dependency}" in paths, message


def test_prod_without_coordinator_url_is_the_schemas_rule_alone() -> None:
    """One layer per rule: the schema refuses prod without a coordinator URL; the aggregated check does not
    restate it (skipping the schema leaves it to the runtime guard, tests/core/test_scripts.py)."""
    values = {"global": {"seamless": {"coordinator_url": ""}}}
    refused = str(render_error(values, values_files=[PROD_FILE]))
    assert "global/seamless/coordinator_url" in refused or "global.seamless.coordinator_url" in refused, refused
    rendered = render_chart(values, values_files=[PROD_FILE], extra_args=SKIP_SCHEMA)
    assert not [i for i in rendered.items if i.source.endswith(CHECK_TEMPLATE.as_posix())]


@pytest.mark.parametrize(
    "odd",
    [
        {
            "global": {
                "ports": "none",
                "redis": "none",
                "replicas": "many",
                "seamless": {"coordinator_url": 5},
            },
            "gateway": {"forwarder": "x", "resources": "lots"},
            "redis": {"resources": {"prod": {"redis": "big"}}},
            "seamless-coordinator": {"enabled": "maybe"},
        },
        {
            "global": {"redis": {"databases": "none"}, "seamless": {"coordinator_url": None}},
            "postgres": {"resources": {"prod": {"postgres": {"requests": "1", "limits": {"cpu": []}}}}},
            "minio": {"resources": "none"},
        },
    ],
    ids=["top-level", "nested"],
)
def test_wrong_types_do_not_crash_the_check(odd: dict) -> None:
    """With the schema skipped, odd types are skipped by the check (the schema names them); the other rules
    still report (here: a scrape timeout longer than its interval)."""
    message = str(
        render_error(
            layered(odd, {"global": {"serviceMonitor": SCRAPE_TOO_LONG}}),
            values_files=[PROD_FILE],
            extra_args=SKIP_SCHEMA,
        )
    )
    problems = chart.parse_problems(message)
    assert problems is not None, message
    assert "global.serviceMonitor.scrapeTimeout" in {chart.problem_key_path(p) for p in problems}
    assert "_validate.tpl" not in message


def test_a_profile_typo_is_refused_when_the_schema_is_skipped() -> None:
    """qmtl.profile (qmtl-lib), which every template asks for the profile, refuses it: nothing renders with a
    profile that selects no sizing table."""
    message = str(render_error({"global": {"profile": "prd"}}, values_files=[PROD_FILE], extra_args=SKIP_SCHEMA))
    assert "global.profile" in message, message
    assert '"prd"' in message, message


# Fragments of the check's messages, one per rule: written in templates/_validate.tpl and in no other template.
RULE_TEXTS = (
    "is the bundled coordinator, but",
    "is an external coordinator (host",
    "the bundled coordinator is reached at its root",
    "is the chart's own Secret for",
    "is a Helm release record",
    "is more than the chart sizes anything with",
    "serves plain http",
    "listens on global.ports.coordinator",
    "prod has no in-memory fallback",
    "is already used by",
    "both listen in the",
    "is below requests",
)


def test_the_checks_rules_are_written_there_only() -> None:
    templates = [
        p
        for root in (REPO_ROOT / "templates", REPO_ROOT / "charts")
        for p in root.rglob("*")
        if p.is_file() and p.suffix in (".tpl", ".yaml", ".txt")
    ]
    for text in RULE_TEXTS:
        holders = [p.relative_to(REPO_ROOT).as_posix() for p in templates if text in p.read_text()]
        assert holders == ["templates/_validate.tpl"], (text, holders)
    defined = [p for p in templates if 'define "qmtl.config.errors"' in p.read_text()]
    assert not defined, "the core services' rules live in the aggregated check only"


def test_valid_values_render_nothing_from_the_check() -> None:
    for files in ([DEV_FILE], [PROD_FILE]):
        rendered = render_chart(values_files=files)
        assert not [i for i in rendered.items if i.source.endswith(CHECK_TEMPLATE.as_posix())]


def test_a_partial_size_override_of_a_managed_dependency_is_inert_and_of_a_bundled_one_complete() -> None:
    """values/small-node.yaml lowers requests only. Where a dependency is managed (its subchart off), Helm leaves
    the subchart's defaults out, so its section holds requests alone: nothing of it is deployed, nothing is
    asked of it (the smoke's prod on the real node manages three). A bundled one gets its defaults merged, and a
    limit removed there is refused naming the key."""
    managed = REPO_ROOT / "values" / "managed-questdb.yaml"
    small = REPO_ROOT / "values" / "small-node.yaml"
    rendered = render_chart({}, values_files=[PROD_FILE, managed, small])
    assert not [i for i in rendered.items if "/charts/questdb/" in i.source]
    message = str(
        render_error({"questdb": {"resources": {"prod": {"questdb": {"limits": None}}}}}, values_files=[PROD_FILE])
    )
    assert "questdb.resources.prod.questdb.limits: missing" in message, message
