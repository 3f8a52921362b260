#!/usr/bin/env python3
"""Print the project's performance figures. Figures are printed, never asserted in tests.

  .venv/bin/python scripts/benchmark.py [--helm helm3|helm4|PATH ...] [--no-suite] [--repeat N]

For each Helm binary:
  - render time per shipped values set: `helm template` alone (what a user waits for) and the ms per
    object it makes (target: a full prod render at or under 1.5 ms per object on a 2-core machine),
    then the harness's cold render (helm, its cache entry and the parse of every object) and cached
    render (a fresh process reading the render cache);
  - requests/limits totals per profile (target: dev fits a 4-CPU / 8 GiB laptop node);
  - the render-test suite's wall time (pytest -n auto, without the smoke tests and the tests against
    real servers; target: under 2 minutes per Helm version once the suite has 500+ tests), and the
    wall time of the tests against real servers (engines) on their own;
  - when a cluster is configured (KUBECONFIG): dev install-to-ready time and the smoke suite's wall
    time (scripts/test.sh's smoke phase records them in .cache/smoke-timings.json);
  - the local cluster's start (control plane, real node Ready, CoreDNS Ready), restart and stop times
    (scripts/test.sh's node-lifecycle phase records them in .cache/cluster-timings.json).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.harness import helm_binary, render_chart, value_sets  # noqa: E402
from tests.harness.render import CACHE_ENV, _memo  # noqa: E402
from tests.security.workloads import sizing_totals  # noqa: E402


def bench_renders(helm: str, repeat: int) -> None:
    os.environ["QMTL_HELM"] = helm
    print(f"\n== renders with {helm}")
    print(f"{'values set':40} {'objects':>7} {'helm ms':>8} {'ms/object':>10} {'cold ms':>9} {'cached ms':>10}")
    binary = str(helm_binary().path)
    for value_set in value_sets():
        colds, cacheds, bare, count = [], [], [], 0
        command = [binary, "template", "qmtl", str(REPO)] + [a for f in value_set.files for a in ("-f", str(f))]
        for _ in range(repeat):
            start = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            bare.append((time.perf_counter() - start) * 1000)
            with tempfile.TemporaryDirectory() as cache:
                os.environ[CACHE_ENV] = cache
                _memo.clear()
                start = time.perf_counter()
                rendered = render_chart(values_files=value_set.files)
                colds.append((time.perf_counter() - start) * 1000)
                _memo.clear()  # as a fresh process would: read the entry from the disk cache
                start = time.perf_counter()
                render_chart(values_files=value_set.files)
                cacheds.append((time.perf_counter() - start) * 1000)
                count = len(rendered.objects)
        cold, cached, helm_ms = statistics.median(colds), statistics.median(cacheds), statistics.median(bare)
        print(
            f"{value_set.name:40} {count:7d} {helm_ms:8.1f} {helm_ms / max(count, 1):10.2f} {cold:9.1f} {cached:10.2f}"
        )
        running = sizing_totals(rendered)["long_running"]
        print(
            f"{'':40} long-running pods {running['pods']}: requests {running['cpu']:.2f} CPU / "
            f"{running['memory'] / 2**30:.2f} GiB, limits {running['limits_cpu']:.2f} CPU / "
            f"{running['limits_memory'] / 2**30:.2f} GiB"
        )
    os.environ.pop(CACHE_ENV, None)


def bench_suite(helm: str, what: str, marker: str) -> None:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "auto", "-m", marker, "-p", "no:cacheprovider", "tests"],
        cwd=REPO,
        env={**os.environ, "QMTL_HELM": helm},
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - start
    summary = (proc.stdout.strip().splitlines() or ["(no output)"])[-1]
    print(f"\n== {what} with {helm}: {elapsed:.1f} s wall ({summary}), exit {proc.returncode}")


def report_smoke() -> None:
    timings = REPO / ".cache" / "smoke-timings.json"
    if timings.exists():
        data = json.loads(timings.read_text())
        print("\n== smoke (last run): " + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(data.items())))
    else:
        print("\n== smoke: no timings recorded yet (run scripts/test.sh, which runs the smoke suite)")


def report_cluster() -> None:
    timings = REPO / ".cache" / "cluster-timings.json"
    if timings.exists():
        data = json.loads(timings.read_text())
        print("\n== local cluster (last run): " + ", ".join(f"{k} {v:.1f} s" for k, v in data.items()))
    else:
        print("\n== local cluster: no timings recorded yet (scripts/test.sh's node-lifecycle phase records them)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--helm", action="append", help="helm3, helm4 or a path (repeatable)")
    parser.add_argument("--repeat", type=int, default=3, help="renders per values set (median)")
    parser.add_argument("--no-suite", action="store_true", help="skip timing the test suite")
    args = parser.parse_args()
    helms = args.helm or ["helm3", "helm4"]
    for helm in helms:
        bench_renders(helm, args.repeat)
    if not args.no_suite:
        for helm in helms:
            bench_suite(helm, "render-test suite", "not smoke and not engines")
        bench_suite(helms[-1], "tests against real servers", "engines")
    report_smoke()
    report_cluster()
    return 0


if __name__ == "__main__":
    sys.exit(main())
