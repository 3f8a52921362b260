"""Tests of the render harness itself."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from qmtl_stack.render import CACHE_ENV, RENDER_COUNT_FILE, clear_memo

from tests.harness import K8sSchemaError, RenderError, render_chart, validate_k8s
from tests.harness.k8s_schema import supported_kube_versions
from tests.harness.paths import REPO_ROOT, copy_chart


@pytest.fixture
def chart_copy(tmp_path: Path) -> Path:
    """A private copy of the chart that a test may break."""
    return copy_chart(tmp_path / "chart")


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "render-cache"
    monkeypatch.setenv(CACHE_ENV, str(directory))
    clear_memo()
    yield directory
    clear_memo()  # what this process remembers came from the test's cache; content-keyed, but let it go


def _render_count(cache: Path) -> int:
    log = cache / RENDER_COUNT_FILE
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_broken_template_raises_with_helms_message(chart_copy: Path) -> None:
    (chart_copy / "templates" / "zz-broken.yaml").write_text("{{ .Values.global.noSuchKey.deeper }}\n")
    with pytest.raises(RenderError) as caught:
        render_chart(chart_dir=chart_copy)
    message = str(caught.value)
    assert "zz-broken.yaml" in message
    assert "nil pointer evaluating" in message


def test_show_only_never_hides_a_render_error(chart_copy: Path) -> None:
    (chart_copy / "templates" / "zz-broken.yaml").write_text('{{ fail "harness-marker-1234" }}\n')
    with pytest.raises(RenderError, match="harness-marker-1234"):
        render_chart(chart_dir=chart_copy, show_only="templates/qmtl-config.yaml")


def test_show_only_filters_by_template_path() -> None:
    rendered = render_chart(show_only="templates/qmtl-config.yaml")
    assert [o["kind"] for o in rendered.objects] == ["ConfigMap"]
    with pytest.raises(KeyError, match="matched no rendered template"):
        render_chart(show_only="templates/does-not-exist.yaml")


@pytest.mark.parametrize("version", supported_kube_versions())
def test_unknown_field_fails_the_kubernetes_schema_check(version: str) -> None:
    config_map = render_chart().get("ConfigMap", "qmtl-config")
    validate_k8s(config_map, version)  # the real object passes
    broken = copy.deepcopy(config_map)
    broken["metadata"]["labelz"] = {"typo": "x"}
    with pytest.raises(K8sSchemaError, match="labelz"):
        validate_k8s(broken, version)
    wrong_type = copy.deepcopy(config_map)
    wrong_type["data"] = ["not", "a", "map"]
    with pytest.raises(K8sSchemaError, match="data"):
        validate_k8s(wrong_type, version)


def test_custom_resources_are_checked_strictly_against_their_crd() -> None:
    monitor = render_chart({"global": {"serviceMonitor": {"enabled": True}}}).get("ServiceMonitor", "gateway")
    validate_k8s(monitor, supported_kube_versions()[1])  # the real object passes
    for where, field in ((("spec", "endpoints", 0), "portName"), (("metadata",), "labelz"), ((), "extra")):
        broken = copy.deepcopy(monitor)
        node = broken
        for key in where:
            node = node[key]
        node[field] = "x"
        with pytest.raises(K8sSchemaError, match=field):
            validate_k8s(broken, supported_kube_versions()[1])
    unknown = {**monitor, "apiVersion": "example.com/v1", "kind": "Widget"}
    with pytest.raises(K8sSchemaError, match=r"no CRD for it in \.tools/crds"):
        validate_k8s(unknown, supported_kube_versions()[1])


def test_cache_renders_each_values_set_once(fresh_cache: Path) -> None:
    values = {"global": {"seamless": {"artifact_bucket": "bucket-a", "artifact_prefix": "artifacts/"}}}
    first = render_chart(values)
    # Same values with keys in another order and a deep copy: same cache entry.
    second = render_chart(json.loads(json.dumps(values, sort_keys=False)))
    assert first.key == second.key
    assert _render_count(fresh_cache) == 1
    # Another process (an xdist worker) finds the entry on disk instead of rendering again.
    clear_memo()
    third = render_chart(copy.deepcopy(values))
    assert third.text == first.text
    assert _render_count(fresh_cache) == 1
    # Different values are a different render.
    render_chart({"global": {"seamless": {"artifact_bucket": "bucket-b"}}})
    assert _render_count(fresh_cache) == 2


def test_cache_is_safe_under_concurrent_workers(fresh_cache: Path) -> None:
    code = textwrap.dedent("""
        from tests.harness import render_chart
        render_chart({"global": {"seamless": {"artifact_bucket": "concurrent"}}})
    """)
    env = {**os.environ, CACHE_ENV: str(fresh_cache)}
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT, env=env) for _ in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    assert _render_count(fresh_cache) == 1


def test_render_errors_are_cached_too(fresh_cache: Path) -> None:
    bad = {"global": {"profile": "staging"}}
    for _ in range(2):
        with pytest.raises(RenderError):
            render_chart(bad)
    assert _render_count(fresh_cache) == 1
