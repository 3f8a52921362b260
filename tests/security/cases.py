"""Test cases enumerated from what the chart RENDERS: every pod and every container of every workload
(hooks and helm test pods included) in every shipped values set, plus the chart's defaults (the plain
`helm install qmtl .`). Rendering happens once per values set (the harness caches across xdist workers).

Case ids read `<values set>-<Kind>-<workload>[-<container>]`, e.g. `prod-StatefulSet-redis-redis`.
A values set that fails to render yields one case that fails with helm's error.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import pytest

from tests.harness import RenderError, render_chart, value_sets
from tests.security.workloads import Container, Workload, containers, workloads


@dataclasses.dataclass(frozen=True)
class ValuesSetRender:
    name: str
    files: tuple[Path, ...]
    profile: str

    def render(self):
        return render_chart(values_files=self.files)


@functools.cache
def rendered_sets() -> tuple[ValuesSetRender, ...]:
    sets = [ValuesSetRender("default", (), "dev")]
    sets += [ValuesSetRender(s.name, s.files, s.profile) for s in value_sets()]
    return tuple(sets)


@dataclasses.dataclass(frozen=True)
class RenderFailure:
    values_set: str
    error: str


def _params(kind: str) -> list:
    params = []
    for vs in rendered_sets():
        try:
            rendered = vs.render()
        except RenderError as error:
            params.append(pytest.param(RenderFailure(vs.name, str(error)), id=f"{vs.name}-render-error"))
            continue
        for workload in workloads(rendered):
            if kind == "pod":
                params.append(pytest.param((vs, workload), id=f"{vs.name}-{workload.kind}-{workload.name}"))
                continue
            for container in containers(workload):
                params.append(
                    pytest.param((vs, container), id=f"{vs.name}-{workload.kind}-{workload.name}-{container.name}")
                )
    return params


@functools.cache
def pod_cases() -> list:
    return _params("pod")


@functools.cache
def expected_components() -> list:
    """(values set, component) for every component files/service-graph.yaml switches on for that values set:
    what MUST render, whatever the render holds (so that a workload that vanishes fails, not disappears
    from the cases above)."""
    from tests.security.graph import component_on, load_graph, merged_values

    graph = load_graph()
    params = []
    for vs in rendered_sets():
        values = merged_values(files=vs.files)
        for name in graph["components"]:
            if component_on(values, name, graph):
                params.append(pytest.param((vs, name), id=f"{vs.name}-{name}"))
    return params


@functools.cache
def container_cases() -> list:
    return _params("container")


def unpack(case) -> tuple[ValuesSetRender, Workload | Container]:
    if isinstance(case, RenderFailure):
        pytest.fail(f"values set {case.values_set} does not render:\n{case.error}")
    return case
