"""The umbrella chart as a package: lint, template, Chart.lock, package contents, Kubernetes range,
and every shipped values set rendered and validated strictly against the oldest and newest
supported Kubernetes schemas."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
import yaml

from tests.harness import (
    helm_lint,
    render_chart,
    render_error,
    run_helm,
    supported_kube_versions,
    validate_k8s,
)
from tests.harness.paths import CHART_DIR, copy_chart

CHART = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
SUBCHART_DIRS = sorted(p.parent for p in (CHART_DIR / "charts").glob("*/Chart.yaml"))


def test_helm_lint_strict_passes_with_defaults() -> None:
    result = helm_lint()
    assert result.ok, result.stdout + result.stderr


def test_helm_template_passes_with_defaults() -> None:
    assert render_chart().objects


def test_every_shipped_values_set_lints_strictly(value_set) -> None:
    result = helm_lint(values_files=value_set.files)
    assert result.ok, result.stdout + result.stderr


@pytest.mark.parametrize("kube_version", supported_kube_versions())
def test_every_shipped_values_set_renders_valid_kubernetes_objects(value_set, kube_version: str) -> None:
    rendered = render_chart(values_files=value_set.files, kube_version=kube_version)
    assert rendered.objects, f"{value_set.name} rendered nothing"
    for obj in rendered.objects:
        validate_k8s(obj, kube_version)


def test_default_values_render_valid_kubernetes_objects() -> None:
    for version in supported_kube_versions():
        for obj in render_chart(kube_version=version).objects:
            validate_k8s(obj, version)


def test_kube_version_below_the_supported_range_is_refused() -> None:
    oldest = supported_kube_versions()[0]
    major, minor, _ = oldest.split(".")
    too_old = f"{major}.{int(minor) - 1}.0"
    error = render_error(kube_version=too_old)
    assert "kubeVersion" in str(error) or "Kubernetes version" in str(error)
    assert CHART["kubeVersion"] == f">={oldest}-0", "Chart.yaml kubeVersion must start at the oldest tested version"


def test_every_subchart_is_declared_with_pinned_version_and_condition() -> None:
    declared = {d["name"]: d for d in CHART["dependencies"]}
    for path in SUBCHART_DIRS:
        sub = yaml.safe_load((path / "Chart.yaml").read_text())
        assert sub["name"] == path.name, f"charts/{path.name}: Chart.yaml name is {sub['name']}"
        assert path.name in declared, f"charts/{path.name} is not declared in Chart.yaml dependencies"
        dep = declared[path.name]
        assert dep["version"] == sub["version"], f"{path.name}: pinned {dep['version']}, chart is {sub['version']}"
        assert dep.get("repository", "") == "", f"{path.name}: local subcharts load from charts/ (repository: '')"
        if sub.get("type") == "library":
            assert "condition" not in dep, "the library chart is always present"
        else:
            assert dep.get("condition", "").endswith(".enabled"), f"{path.name} needs a condition"
    assert set(declared) == {p.name for p in SUBCHART_DIRS}, "Chart.yaml declares a chart that charts/ lacks"


def test_chart_lock_is_in_sync(tmp_path: Path) -> None:
    copy = copy_chart(tmp_path / "chart")
    committed = yaml.safe_load((CHART_DIR / "Chart.lock").read_text())
    result = run_helm("dependency", "update", str(copy), "--skip-refresh")
    assert result.ok, result.stderr
    updated = yaml.safe_load((copy / "Chart.lock").read_text())
    assert updated["dependencies"] == committed["dependencies"], "run `helm dependency update .` and commit Chart.lock"
    assert updated["digest"] == committed["digest"], "run `helm dependency update .` and commit Chart.lock"
    build = run_helm("dependency", "build", str(CHART_DIR), "--skip-refresh", cwd=copy)
    assert build.ok, build.stderr


def test_helm_package_contains_chart_files_only(tmp_path: Path) -> None:
    result = run_helm("package", str(CHART_DIR), "--destination", str(tmp_path))
    assert result.ok, result.stderr
    (archive,) = tmp_path.glob("qmtl-*.tgz")
    with tarfile.open(archive) as tar:
        names = [n.split("/", 1)[1] for n in tar.getnames() if "/" in n]
    top = {n.split("/")[0] for n in names}
    allowed = {
        "Chart.yaml",
        "Chart.lock",
        "values.yaml",
        "values.schema.json",
        "templates",
        "charts",
        "values",
        "files",
        "README.md",
        ".helmignore",
        "LICENSE",
    }
    assert top <= allowed, f"unexpected files in the package: {sorted(top - allowed)}"
    for forbidden in ("tests", "scripts", "images", ".tools", ".venv", ".git", "schemas", "pyproject.toml"):
        assert forbidden not in top
    assert "Chart.yaml" in top
    assert "templates" in top


def test_the_package_renders_what_the_source_renders(tmp_path: Path) -> None:
    """The packaged chart is the chart: rendered from the .tgz (prod, no generated credentials, so that the
    render is deterministic) it gives byte for byte what the source directory gives."""
    result = run_helm("package", str(CHART_DIR), "--destination", str(tmp_path))
    assert result.ok, result.stderr
    (archive,) = tmp_path.glob("qmtl-*.tgz")
    args = ["-f", str(CHART_DIR / "values/prod.yaml"), "--set", "global.credentials.generate=false", "-n", "qmtl"]
    packaged = run_helm("template", "qmtl", str(archive), *args)
    source = run_helm("template", "qmtl", str(CHART_DIR), *args)
    assert packaged.ok, packaged.stderr
    assert source.ok, source.stderr
    assert packaged.stdout.count("\nkind: ") > 50
    assert packaged.stdout == source.stdout
