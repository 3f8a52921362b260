"""scripts/validate as a command: exit codes (0 ok/warnings, 1 errors, 2 cannot load), the report's shape,
targets, the profile flag, the table output, and the wrapper script itself."""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path

import pytest
from qmtl_validate import cli

from tests.core.common import PROD_EXTERNAL_COORDINATOR
from tests.harness import helm_binary
from tests.harness.objects import layered
from tests.harness.paths import REPO_ROOT
from tests.validation.conftest import DEV_FILE, PROD_FILE, check_named, errors, run_validate


def test_prod_values_are_ok_with_a_check_per_target() -> None:
    code, report, _ = run_validate([PROD_FILE], args=["--profile", "prod"])
    assert code == 0
    assert report["status"] == "ok"
    assert report["profile"] == "prod"
    assert report["helm"] == helm_binary().version
    assert set(report["results"]) == {"schema", "checks", "render", "seamless", "gateway", "dagmanager", "worldservice"}
    for target, items in report["results"].items():
        assert items, f"{target}: no checks"
        for item in items:
            assert item["severity"] in ("ok", "warning", "error"), item
            assert item["hint"], item
    guard = check_named(report, "seamless", "runtime_guard")
    assert "3 attempts, 10 s apart, 5 s timeout" in guard["hint"]


def test_a_single_target_runs_the_schema_checks_and_that_target() -> None:
    _, report, _ = run_validate([PROD_FILE], args=["--target", "dagmanager"])
    assert set(report["results"]) == {"schema", "checks", "render", "dagmanager"}
    _, report, _ = run_validate([PROD_FILE], args=["--target", "schema"])
    assert set(report["results"]) == {"schema", "checks", "render"}


def test_profile_flag_that_contradicts_the_values_is_an_error_and_checks_as_asked() -> None:
    code, report, _ = run_validate([DEV_FILE], args=["--profile", "prod", "--target", "seamless"])
    assert code == 1
    paths = {c.get("path") for c in errors(report)}
    assert "global.profile" in paths
    assert "global.seamless.coordinator_url" in paths  # checked as prod: the URL is required


def test_dev_without_coordinator_exits_0_with_a_warning() -> None:
    code, report, _ = run_validate([DEV_FILE], args=["--target", "seamless"])
    assert code == 0
    assert report["status"] == "warning"


@pytest.mark.parametrize(("cidrs", "severity"), [([], "warning"), (["10.20.0.0/28"], None)], ids=["no-cidrs", "cidrs"])
def test_an_external_coordinator_without_address_ranges_is_a_warning(cidrs: list, severity: str | None) -> None:
    """The policies cannot confine the gateway's egress to an external coordinator they know no address of."""
    layer = layered(PROD_EXTERNAL_COORDINATOR, {"global": {"networkPolicy": {"coordinatorCidrs": cidrs}}})
    code, report, _ = run_validate([PROD_FILE], values=[layer], args=["--target", "seamless"])
    assert code == 0, report
    found = [c for c in report["results"]["seamless"] if c["check"] == "coordinator_network"]
    if severity is None:
        assert found == []
    else:
        assert [(c["severity"], c["path"]) for c in found] == [(severity, "global.networkPolicy.coordinatorCidrs")]
        assert "any address" in found[0]["hint"]


def test_schema_and_check_problems_are_both_reported() -> None:
    """A values set with a schema problem AND a cross-key problem: validate lists both (Helm stops at the
    schema), because it checks the schema itself and renders the aggregated check with the schema skipped.
    The rest of the chart is not rendered: Helm would render nothing of these values."""
    both = {"global": {"guard": {"attempts": 0}, "redis": {"databases": {"gateway": 3}}}}
    code, report, _ = run_validate([PROD_FILE], [both])
    assert code == 1
    assert any(c.get("path") == "global.guard.attempts" for c in report["results"]["schema"])
    assert any(c.get("path") == "global.redis.databases.seamless" for c in report["results"]["checks"])
    (render,) = report["results"]["render"]
    assert render["severity"] == "warning", render
    assert render["hint"].startswith("not attempted"), render
    assert not set(report["results"]) & {"seamless", "gateway", "dagmanager", "worldservice"}


@pytest.mark.parametrize(
    "bad",
    [
        {"global": {"ports": {"redis": "abc"}}},
        {"global": {"redis": "off"}},
        {"global": {"seamless": {"artifact_bucket": "X"}}},
        {"global": {"controlbus": {"topics": {"policy": "x"}}}},
        {
            "global": {
                "questdb": {
                    "enabled": False,
                    "external": {"host": "q.example.internal", "existingSecret": "q", "sslmode": "on"},
                }
            }
        },
    ],
    ids=["port", "redis-block", "bucket", "topic", "sslmode"],
)
def test_a_schema_refusal_is_reported_alone_not_with_a_cascade(bad: dict) -> None:
    """What the schema refuses is the one error: no per-service findings about a config Helm would never
    render, and no template's own refusal of the same value a second time."""
    code, report, _ = run_validate([PROD_FILE], [bad])
    assert code == 1
    errors_by_section = {
        name: [c for c in items if c["severity"] == "error"] for name, items in report["results"].items()
    }
    assert errors_by_section["schema"], report
    assert [name for name, found in errors_by_section.items() if found] == ["schema"], errors_by_section
    warnings = [c for items in report["results"].values() for c in items if c["severity"] == "warning"]
    assert [w["check"] for w in warnings] == ["helm template"], warnings


def test_a_prod_rule_the_check_also_guards_is_reported_once() -> None:
    """The aggregated check repeats the design's prod dependency rules for installs that skip the schema;
    validate reports such a problem once, where the schema found it. "prod needs a coordinator URL" is the
    schema's alone."""
    code, report, _ = run_validate(
        [PROD_FILE],
        [{"global": {"seamless": {"coordinator_url": ""}, "redis": {"enabled": False}}}],
        ["--target", "schema"],
    )
    assert code == 1
    schema_paths = [c.get("path") for c in report["results"]["schema"]]
    assert "global.seamless.coordinator_url" in schema_paths
    assert "global.redis.external.host" in schema_paths
    check_paths = [c.get("path") for c in report["results"]["checks"] if c["severity"] == "error"]
    assert not check_paths, report["results"]["checks"]
    # ... while the check does report them (Helm with the schema skipped):
    from tests.harness import render_error

    message = str(
        render_error(
            [{"global": {"seamless": {"coordinator_url": ""}, "redis": {"enabled": False}}}],
            values_files=[PROD_FILE],
            extra_args=("--skip-schema-validation",),
        )
    )
    assert "- global.redis:" in message, message
    assert "- global.seamless.coordinator_url:" not in message, message


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "cannot read"),
        ("global: [unclosed", "not valid YAML"),
        ("- a list\n- at the top\n", "must be a mapping"),
    ],
)
def test_unloadable_values_exit_2(tmp_path: Path, content: str | None, reason: str) -> None:
    path = tmp_path / "values.yaml"
    if content is not None:
        path.write_text(content)
    code, report, stderr = run_validate([path])
    assert code == 2
    assert report is None
    assert reason in stderr
    assert str(path) in stderr


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--secret", "/nonexistent/secret.yaml"], "cannot read"),
        (["--resolve", "redis"], "HOST[:PORT]=ADDR[:PORT]"),
        (["--chart", "/nonexistent"], "no Chart.yaml"),
    ],
)
def test_bad_options_exit_2(args: list[str], reason: str) -> None:
    code, _, stderr = run_validate([DEV_FILE], args=args)
    assert code == 2
    assert reason in stderr


def test_no_helm_exits_2() -> None:
    out, err = io.StringIO(), io.StringIO()
    code = cli.run(["-f", str(DEV_FILE), "--helm", "/nonexistent/helm"], out=out, err=err)
    assert code == 2
    assert "no usable helm" in err.getvalue()


def test_not_a_secret_manifest_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "secret.yaml"
    bad.write_text("kind: ConfigMap\nmetadata: {name: x}\n")
    code, _, stderr = run_validate([DEV_FILE], args=["--secret", str(bad)])
    assert code == 2
    assert "expected Secret manifests" in stderr


def test_the_script_runs_and_prints_a_table() -> None:
    env = {**os.environ, "QMTL_PYTHON": os.environ.get("QMTL_PYTHON", _python()), "QMTL_HELM": str(helm_binary().path)}
    proc = subprocess.run(
        [str(REPO_ROOT / "scripts" / "validate"), "--profile", "dev", "-f", str(DEV_FILE), "--target", "seamless"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "seamless:" in proc.stdout
    assert "WARN" in proc.stdout
    assert "coordinator_url" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1].startswith("WARN: profile dev")
    refused = subprocess.run(
        [
            str(REPO_ROOT / "scripts" / "validate"),
            "--profile",
            "prod",
            "-f",
            str(DEV_FILE),
            "--target",
            "schema",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert json.loads(refused.stdout)["status"] == "error"


def _python() -> str:
    import sys

    return sys.executable
