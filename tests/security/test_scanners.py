"""Independent scanners on the rendered manifests of the dev and prod renders:
zero findings beyond the skip files, in which every entry has a written reason and still matches."""

from __future__ import annotations

import pytest

from tests.harness import supported_kube_versions
from tests.security.cases import rendered_sets
from tests.security.scanners import HERE, load_skips, run_checkov, run_kube_score, unskipped, unused

CHECKOV_SKIPS = HERE / "checkov-skips.yaml"
KUBE_SCORE_SKIPS = HERE / "kube-score-skips.yaml"
# The two profiles a user installs (overlays only swap endpoints); the chart's defaults if neither ships.
SCANNED = ("dev", "prod")


def _renders() -> dict[str, str]:
    sets = {vs.name: vs for vs in rendered_sets()}
    names = [n for n in SCANNED if n in sets] or ["default"]
    return {name: sets[name].render().text for name in names}


def _report(findings) -> str:
    return "\n".join(f"  [{f.values_set}] {f.check} {f.resource}: {f.detail}" for f in findings)


def test_checkov_finds_nothing_beyond_its_skip_file() -> None:
    result = run_checkov(_renders())
    summary = result["summary"]
    assert summary["parsing_errors"] == 0, f"checkov could not parse a render: {summary}"
    assert summary["resource_count"] > 0, "checkov scanned no resource"
    assert summary["passed"] > 0, "checkov passed no check: it did not really run its Kubernetes checks"
    left = unskipped(result["failed"], load_skips(CHECKOV_SKIPS))
    assert not left, (
        f"checkov {result['version']} failed checks (fix them, or skip with a reason in "
        f"{CHECKOV_SKIPS.name}):\n{_report(left)}"
    )


def test_checkov_skip_file_has_no_stale_entries() -> None:
    result = run_checkov(_renders())
    stale = unused(result["failed"], load_skips(CHECKOV_SKIPS))
    assert not stale, f"{CHECKOV_SKIPS.name} skips checks that no longer fail: {[s.check for s in stale]}"


@pytest.mark.parametrize("kube_version", supported_kube_versions())
def test_kube_score_finds_nothing_beyond_its_skip_file(kube_version: str) -> None:
    result = run_kube_score(_renders(), kube_version)
    assert result["objects"] > 0, "kube-score scored no object"
    left = unskipped(result["failed"], load_skips(KUBE_SCORE_SKIPS))
    assert not left, (
        f"kube-score warnings/criticals (fix them, or skip with a reason in {KUBE_SCORE_SKIPS.name}):\n{_report(left)}"
    )


def test_kube_score_skip_file_has_no_stale_entries() -> None:
    results = [run_kube_score(_renders(), v) for v in supported_kube_versions()]
    findings = [f for r in results for f in r["failed"]]
    stale = unused(findings, load_skips(KUBE_SCORE_SKIPS))
    assert not stale, f"{KUBE_SCORE_SKIPS.name} skips checks that no longer fail: {[s.check for s in stale]}"


def test_skip_files_give_a_reason_for_every_entry() -> None:
    for path in (CHECKOV_SKIPS, KUBE_SCORE_SKIPS):
        skips = load_skips(path)  # raises on an entry without a reason
        assert len({(s.check, s.resources, s.values_sets) for s in skips}) == len(skips), f"{path.name}: duplicates"
