"""GitOps: with global.credentials.generate: false the chart renders no Secret of its own and only
references them, so `helm template` is deterministic (two runs byte-identical, what Argo CD and Flux
compare), and scripts/credentials creates exactly the Secrets and keys those references need, once.
The end-to-end proof on a real Redis is in tests/dependencies/test_redis_engine.py."""

from __future__ import annotations

import base64
import io

import pytest
import yaml
from qmtl_validate import credentials

from tests.harness import helm_binary, render_chart, run_helm
from tests.harness.objects import pod_specs, secret_data
from tests.harness.paths import CHART_DIR, VALUES_DIR

GITOPS = {"global": {"credentials": {"generate": False}}}
PROD = VALUES_DIR / "prod.yaml"


def _chart_secret_names() -> set[str]:
    """The chart's own Secret names: qmtl.bundledSecretNames (charts/qmtl-lib/templates/_endpoints.tpl)."""
    text = (CHART_DIR / "charts/qmtl-lib/templates/_endpoints.tpl").read_text()
    block = text.split('{{- define "qmtl.bundledSecretNames" -}}', 1)[1].split("{{- end -}}", 1)[0]
    return set(yaml.safe_load(block).values())


def _references(rendered) -> set[tuple[str, str]]:
    """(Secret, key) of every secretKeyRef of every pod of a render that names one of the chart's Secrets."""
    owned = _chart_secret_names()
    refs = set()
    for _, spec in pod_specs(rendered):
        for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
            for e in c.get("env") or []:
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref and ref["name"] in owned:
                    refs.add((ref["name"], ref["key"]))
    return refs


def test_without_generation_two_renders_are_byte_identical(value_set) -> None:
    """Uncached: helm itself runs twice."""
    args = ["template", "qmtl", str(CHART_DIR), "--namespace", "qmtl"]
    for path in value_set.files:
        args += ["-f", str(path)]
    args += ["--set", "global.credentials.generate=false"]
    first, second = run_helm(*args), run_helm(*args)
    assert first.ok, first.stderr
    assert first.stdout == second.stdout
    rendered = render_chart(GITOPS, values_files=value_set.files)
    assert not rendered.by_kind("Secret"), "the chart renders no Secret of its own"
    if value_set.profile == "prod":
        assert _references(rendered), "prod pods reference the chart's Secrets"


def test_with_generation_renders_differ_which_is_why_gitops_needs_the_switch() -> None:
    args = ["template", "qmtl", str(CHART_DIR), "--namespace", "qmtl", "-f", str(PROD)]
    assert run_helm(*args).stdout != run_helm(*args).stdout


def _created(files=(PROD,), extra: dict | None = None) -> list[dict]:
    out, err = io.StringIO(), io.StringIO()
    argv = [a for f in files for a in ("-f", str(f))] + ["--namespace", "qmtl", "--helm", str(_helm())]
    code = credentials.run(argv, out=out, err=err)
    assert code == 0, err.getvalue()
    return [d for d in yaml.safe_load_all(out.getvalue()) if d]


def _helm():
    return helm_binary().path


def _contents(secret: dict) -> dict[str, str]:
    data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    data.update(secret.get("stringData") or {})
    return data


@pytest.mark.parametrize("files", [(PROD,), (VALUES_DIR / "dev.yaml", VALUES_DIR / "dev-coordinator.yaml")])
def test_credentials_creates_exactly_what_the_chart_references(files) -> None:
    created = _created(files)
    have = {(s["metadata"]["name"], key) for s in created for key in _contents(s)}
    references = _references(render_chart(GITOPS, values_files=files))
    assert references, "nothing references the chart's Secrets: the test proves nothing"
    assert references <= have, f"referenced but not created: {sorted(references - have)}"
    # and nothing beyond the chart's own Secrets, each in the namespace, without Helm's metadata
    generating = render_chart(values_files=files)
    assert {s["metadata"]["name"] for s in created} == generating.names("Secret") <= _chart_secret_names()
    for s in created:
        assert s["metadata"]["namespace"] == "qmtl"
        assert "app.kubernetes.io/managed-by" not in s["metadata"]["labels"]
        assert "annotations" not in s["metadata"]
        assert set(_contents(s)) == set(secret_data(generating, s["metadata"]["name"])), s["metadata"]["name"]


def test_credentials_makes_new_passwords_on_every_run_and_keeps_names_from_the_values() -> None:
    first, second = _created(), _created()
    assert [s["metadata"]["name"] for s in first] == [s["metadata"]["name"] for s in second]
    for a, b in zip(first, second, strict=True):
        ca, cb = _contents(a), _contents(b)
        for key in ca:
            if key in ("username", "mechanism", "access-key", "root-user"):
                continue
            assert ca[key] != cb[key], f"{a['metadata']['name']}.{key} is not freshly generated"
            assert len(ca[key]) >= 20, f"{a['metadata']['name']}.{key} is short"
    controlbus = _contents(next(s for s in first if s["metadata"]["name"] == "qmtl-controlbus-superuser"))
    assert controlbus["bootstrap-user"] == f"{controlbus['username']}:{controlbus['password']}:SCRAM-SHA-256"


def test_credentials_refuses_values_the_chart_refuses(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("global:\n  seamless:\n    coordinator_url: ''\n")
    err = io.StringIO()
    argv = ["-f", str(PROD), "-f", str(bad), "--namespace", "qmtl", "--helm", str(_helm())]
    assert credentials.run(argv, out=io.StringIO(), err=err) == 2
    assert "/global/seamless/coordinator_url" in err.getvalue(), err.getvalue()
