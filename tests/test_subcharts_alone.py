"""Every subchart stands on its own: it declares the library chart it uses (qmtl-lib), and with that dependency
built (`helm dependency build`, from ../qmtl-lib) it lints strictly and renders by itself. Given what the umbrella
hands it (its own section and `global`, as Helm computed them), it renders exactly the objects it renders inside
the umbrella. Runs under the Helm of the suite (QMTL_HELM), so once under Helm 3 and once under Helm 4."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from qmtl_stack.render import helm_values

from tests.harness import render_chart, run_helm
from tests.harness.paths import CHART_DIR, VALUES_DIR

LIBRARY = "qmtl-lib"
CHARTS = CHART_DIR / "charts"
SUBCHARTS = sorted(
    p.parent.name for p in CHARTS.glob("*/Chart.yaml") if yaml.safe_load(p.read_text()).get("type") != "library"
)
# prod with every component deployed (it runs the bundled coordinator), generated credentials off so that the
# two renders are comparable.
PROD = [VALUES_DIR / "prod.yaml"]
DETERMINISTIC = {"global": {"credentials": {"generate": False}}}


def test_every_subchart_declares_the_library_chart() -> None:
    for name in SUBCHARTS:
        chart = yaml.safe_load((CHARTS / name / "Chart.yaml").read_text())
        declared = {d["name"]: d for d in chart.get("dependencies") or []}
        assert LIBRARY in declared, f"charts/{name}/Chart.yaml does not declare {LIBRARY} (it calls qmtl.* templates)"
        lib_version = yaml.safe_load((CHARTS / LIBRARY / "Chart.yaml").read_text())["version"]
        assert declared[LIBRARY]["version"] == lib_version, f"charts/{name}: {LIBRARY} pinned to another version"
        assert declared[LIBRARY]["repository"] == f"file://../{LIBRARY}", f"charts/{name}: {LIBRARY} is local"


@pytest.fixture(scope="module")
def umbrella_values() -> dict:
    return helm_values([DETERMINISTIC], PROD)


@pytest.fixture(scope="module")
def umbrella_render():
    return render_chart([DETERMINISTIC], PROD)


def _standalone_copy(tmp_path: Path, name: str) -> Path:
    """charts/<name> and the library beside it, as in the repository, with the dependency built."""
    for chart in (name, LIBRARY):
        shutil.copytree(CHARTS / chart, tmp_path / "charts" / chart)
    copy = tmp_path / "charts" / name
    built = run_helm("dependency", "build", str(copy), "--skip-refresh", cwd=tmp_path)
    assert built.ok, built.stdout + built.stderr
    assert list((copy / "charts").glob(f"{LIBRARY}-*.tgz")), f"helm dependency build did not pack {LIBRARY}"
    return copy


@pytest.mark.parametrize("name", SUBCHARTS)
def test_subchart_lints_and_renders_alone_as_in_the_umbrella(
    name: str, tmp_path: Path, umbrella_values: dict, umbrella_render
) -> None:
    copy = _standalone_copy(tmp_path, name)
    own = {**umbrella_values[name], "global": umbrella_values["global"]}
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(own))

    lint = run_helm("lint", str(copy), "-f", str(values_file), "--strict", cwd=tmp_path)
    assert lint.ok, lint.stdout + lint.stderr

    alone = render_chart(values_files=[values_file], chart_dir=copy)
    inside = [i for i in umbrella_render.items if i.source.startswith(f"qmtl/charts/{name}/")]
    assert inside, f"the umbrella (prod) renders nothing from charts/{name}"

    def by_source(items, prefix: str) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        for item in items:
            out.setdefault(item.source.removeprefix(prefix), []).append(item.obj)
        return out

    assert by_source(alone.items, f"{name}/") == by_source(inside, f"qmtl/charts/{name}/")


def test_a_subchart_without_its_library_says_so(tmp_path: Path) -> None:
    """The declaration is what makes the library arrive: without `helm dependency build` Helm names it."""
    copy = tmp_path / "gateway"
    shutil.copytree(CHARTS / "gateway", copy)
    lint = run_helm("lint", str(copy), cwd=tmp_path)
    assert not lint.ok
    assert LIBRARY in lint.stdout + lint.stderr
