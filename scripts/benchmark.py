#!/usr/bin/env python3
"""Print the project's performance figures. Figures are printed, never asserted in tests.

  .venv/bin/python scripts/benchmark.py [--helm helm3|helm4|PATH ...] [--no-suite] [--repeat N]
  .venv/bin/python scripts/benchmark.py --coordinator [--seconds S] [--no-questdb]

For each Helm binary:
  - render time per shipped values set: `helm template` alone (what a user waits for) and the ms per
    object it makes (target: a full prod render at or under 1.5 ms per object on a 2-core machine),
    then the harness's cold render (helm, its cache entry and the parse of every object) and cached
    render (a fresh process reading the render cache); then, side by side, a prod render's CPU time as the
    chart is, without the templates' one cache (the wiring models built once per chart, qmtl.memo.into), and
    without the subcharts' declarations of qmtl-lib (what standalone subcharts cost a render);
  - requests/limits totals per profile (target: dev fits a 4-CPU / 8 GiB laptop node);
  - the render-test suite's wall time (pytest -n auto, without the smoke tests and the tests against
    real servers; target: under 2 minutes per Helm version once the suite has 500+ tests), and the
    wall time of the tests against real servers (engines) on their own;
  - when a cluster is configured (KUBECONFIG): dev install-to-ready time and the smoke suite's wall
    time (scripts/test.sh's smoke phase records them in .cache/smoke-timings.json);
  - the local cluster's start (control plane, real node Ready, CoreDNS Ready), restart and stop times
    (scripts/test.sh's node-lifecycle phase records them in .cache/cluster-timings.json).

--coordinator prints the Seamless coordinator's figures instead (it needs the engines: redis-server, and
QuestDB unless --no-questdb): claim+complete cycles per second and p50/p99 latency (per cycle and per
request) at 1, 16 and 64 concurrent clients, against 1 and 2 replicas of its console script run with the
env the chart renders (a redis-server loading the chart's ACL, QuestDB with the coordinator's
credentials), side by side with the floor: the same Redis commands issued directly by redis-py (the
coordinator's own LeaseStore, in this process, same Redis, same user). Clients are spread evenly over the
replicas, each on one keep-alive connection. Target on a 2-core machine: at least 2,000 cycles/s at 64
clients with p99 under 25 ms, within 3x of the floor.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from qmtl_stack.helm import find_helm
from qmtl_stack.paths import REPO_ROOT as REPO
from qmtl_stack.render import CACHE_ENV, clear_memo, copy_chart, render_chart
from qmtl_stack.valuesets import value_sets

from tests.security.workloads import sizing_totals


def bench_renders(helm: str, repeat: int) -> None:
    os.environ["QMTL_HELM"] = helm
    print(f"\n== renders with {helm}")
    print(f"{'values set':40} {'objects':>7} {'helm ms':>8} {'ms/object':>10} {'cold ms':>9} {'cached ms':>10}")
    binary = str(find_helm().path)
    for value_set in value_sets():
        colds, cacheds, bare, count = [], [], [], 0
        command = [binary, "template", "qmtl", str(REPO)] + [a for f in value_set.files for a in ("-f", str(f))]
        for _ in range(repeat):
            start = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            bare.append((time.perf_counter() - start) * 1000)
            with tempfile.TemporaryDirectory() as cache:
                os.environ[CACHE_ENV] = cache
                clear_memo()
                start = time.perf_counter()
                rendered = render_chart(values_files=value_set.files)
                colds.append((time.perf_counter() - start) * 1000)
                clear_memo()  # as a fresh process would: read the entry from the disk cache
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
    bench_variants(binary, repeat)


# What charts/qmtl-lib/templates/_memo.tpl would be without its cache: every call builds its model.
_NO_MEMO = """{{- define "qmtl.memo.into" -}}
{{- include .fn (merge (dict "ctx" .ctx "global" .ctx.Values.global "into" .into) (omit . "into" "fn" "ctx")) -}}
{{- end -}}
"""


def _undeclared(chart: Path) -> None:
    """The subcharts of `chart` without their `dependencies:` (qmtl-lib): how the umbrella rendered before
    every subchart declared the library it uses (they then no longer render alone)."""
    for meta in (chart / "charts").glob("*/Chart.yaml"):
        data = yaml.safe_load(meta.read_text())
        if data.pop("dependencies", None) is not None:
            meta.write_text(yaml.safe_dump(data, sort_keys=False))


def _prod_cpu_ms(binary: str, charts: list[Path], repeat: int) -> list[float]:
    """Median CPU ms of a prod `helm template` of each chart, interleaved (all see the same machine load)."""
    prod = REPO / "values" / "prod.yaml"
    cpu: dict[Path, list[float]] = {chart: [] for chart in charts}
    for _ in range(max(5, repeat * 3)):
        for chart in charts:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            command = [binary, "template", "qmtl", str(chart), "--namespace", "qmtl", "-f", str(prod)]
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[chart].append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000)
    return [statistics.median(cpu[chart]) for chart in charts]


def bench_variants(binary: str, repeat: int) -> None:
    """Side by side, a prod render's CPU time: the chart as it is; without the one cache the templates keep
    (qmtl.memo.into: every call builds its wiring model); and without the subcharts' declarations of qmtl-lib
    (Helm 3 deep-copies the whole values tree once per subchart that declares a dependency, Helm 4 less so)."""
    with tempfile.TemporaryDirectory(prefix="qmtl-bench-") as tmp:
        without_memo = copy_chart(Path(tmp) / "no-memo")
        (without_memo / "charts" / "qmtl-lib" / "templates" / "_memo.tpl").write_text(_NO_MEMO)
        undeclared = copy_chart(Path(tmp) / "undeclared")
        _undeclared(undeclared)
        chart, rebuilt, bare = _prod_cpu_ms(binary, [REPO, without_memo, undeclared], repeat)
    print(
        f"prod render {chart:.0f} ms CPU; wiring models built at every call (no qmtl.memo.into): {rebuilt:.0f} ms "
        f"({(rebuilt - chart) / chart:+.0%}); subcharts not declaring qmtl-lib (they would not render alone): "
        f"{bare:.0f} ms ({(bare - chart) / chart:+.0%})"
    )


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


# ------------------------------------------------------------------------------------------------ coordinator
COORDINATOR_CLIENTS = (1, 16, 64)
COORDINATOR_REPLICAS = (1, 2)


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes used so far (/proc/<pid>/stat; their threads included)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


async def _drive(cycle, clients: int, seconds: float, warmup: float, pids: list[int]) -> dict:
    """Run `clients` closed loops of cycle(client, n, requests) for warmup + seconds; measure after warm-up,
    with the CPU time `pids` used meanwhile."""
    cycles: list[float] = []
    requests: list[float] = []
    errors = 0
    measuring = False
    stop_at = time.perf_counter() + warmup + seconds

    async def loop(client: int) -> None:
        nonlocal errors
        n = 0
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            spans: list[float] = []
            ok = await cycle(client, n, spans)
            n += 1
            if measuring:
                if ok:
                    cycles.append(time.perf_counter() - started)
                    requests.extend(spans)
                else:
                    errors += 1

    tasks = [asyncio.create_task(loop(c)) for c in range(clients)]
    await asyncio.sleep(warmup)
    measuring = True
    measured_from, cpu_from = time.perf_counter(), _cpu_seconds(pids)
    await asyncio.gather(*tasks)
    elapsed, cpu = time.perf_counter() - measured_from, _cpu_seconds(pids) - cpu_from
    return {
        "rate": len(cycles) / elapsed,
        "cpu_ms": cpu * 1000 / max(len(cycles), 1),
        "p50": _percentile(cycles, 0.5),
        "p99": _percentile(cycles, 0.99),
        "req_p50": _percentile(requests, 0.5),
        "req_p99": _percentile(requests, 0.99),
        "errors": errors,
    }


def _key(run: str, client: int, n: int) -> str:
    # QMTL's key shape (node:interval:start:end:world:as_of), one series per client, contiguous ranges
    return f"blake3:{run}:60:{n * 60}:{n * 60 + 60}:w{client}:"


async def _floor(store, clients: int, seconds: float, warmup: float) -> dict:
    run = uuid.uuid4().hex[:8]

    async def cycle(client: int, n: int, spans: list[float]) -> bool:
        key = _key(run, client, n)
        t0 = time.perf_counter()
        granted = await store.claim(key, 60_000)
        t1 = time.perf_counter()
        done = await store.release(key, granted.token, "completed")
        spans += [t1 - t0, time.perf_counter() - t1]
        return done == "done"

    return await _drive(cycle, clients, seconds, warmup, [os.getpid()])


async def _service(ports: list[int], pids: list[int], clients: int, seconds: float, warmup: float) -> dict:
    from tests.coordinator.api_client import AsyncClient

    run = uuid.uuid4().hex[:8]
    conns = [AsyncClient("127.0.0.1", ports[c % len(ports)]) for c in range(clients)]

    async def cycle(client: int, n: int, spans: list[float]) -> bool:
        key = _key(run, client, n)
        c = conns[client]
        t0 = time.perf_counter()
        status, answer = await c.post("/v1/leases/claim", {"key": key, "lease_ms": 60_000})
        t1 = time.perf_counter()
        if status != 200:
            return False
        status, _ = await c.post("/v1/leases/complete", {"key": key, "token": answer["lease"]["token"]})
        spans += [t1 - t0, time.perf_counter() - t1]
        return status == 200

    try:
        return await _drive(cycle, clients, seconds, warmup, pids)
    finally:
        for c in conns:
            await c.close()


def bench_coordinator(seconds: float, with_questdb: bool) -> None:
    from seamless_coordinator.leases import LeaseStore

    from tests.coordinator import stack as stk
    from tests.engines import servers

    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    from seamless_coordinator.main import quiet_gc

    quiet_gc()  # the load generator too: its own collections would count as the coordinator's latency
    rendered = stk.rendered()
    redis = servers.start_redis(acl_text=rendered.acl)
    questdb = servers.start_questdb(rendered.questdb_user, rendered.questdb_password) if with_questdb else None
    warmup = min(1.0, seconds / 4)
    load = os.getloadavg()[0]
    print(f"\n== Seamless coordinator: claim+complete cycles ({os.cpu_count()} CPUs, load average {load:.2f} at start)")
    print(
        f"   redis-server {redis.version} with the chart's ACL; QuestDB journal "
        f"{'on (' + questdb.version + ')' if questdb else 'off (--no-questdb)'}; {seconds:g} s per row after "
        f"{warmup:g} s warm-up; latency: p50/p99 of a cycle, and of one request (claim or complete); CPU ms/cycle: "
        "what the coordinator processes (floor: this process, its client included) spent per cycle"
    )
    print(
        f"{'what':30} {'clients':>7} {'cycles/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'req p50':>8} {'req p99':>8}"
        f" {'errors':>6} {'vs floor':>8} {'CPU ms/cycle':>12}"
    )
    results: dict[tuple[str, int], dict] = {}
    try:
        store = None
        try:
            db = int(urlsplit(rendered.env["REDIS_DSN"]).path.strip("/") or 0)
            with runner:
                store = LeaseStore(
                    f"redis://{redis.host}:{redis.port}/{db}",
                    username=rendered.redis_user,
                    password=rendered.redis_password,
                )
                for clients in COORDINATOR_CLIENTS:
                    results[("floor", clients)] = runner.run(_floor(store, clients, seconds, warmup))
                runner.run(store.close())
                for replicas in COORDINATOR_REPLICAS:
                    stack = stk.Stack.start(redis, questdb, replicas=replicas)
                    try:
                        for clients in COORDINATOR_CLIENTS:
                            ports, pids = [r.port for r in stack.replicas], [r.proc.pid for r in stack.replicas]
                            results[(f"{replicas}", clients)] = runner.run(
                                _service(ports, pids, clients, seconds, warmup)
                            )
                    finally:
                        stack.stop()
        finally:
            for clients in COORDINATOR_CLIENTS:
                floor = results.get(("floor", clients))
                rows = [("floor: redis-py, same commands", "floor")]
                rows += [(f"service, {n} replica{'s' if n > 1 else ''}", f"{n}") for n in COORDINATOR_REPLICAS]
                for label, key in rows:
                    r = results.get((key, clients))
                    if r is None:
                        continue
                    versus = f"{floor['rate'] / r['rate']:.2f}x" if floor and key != "floor" and r["rate"] else ""
                    print(
                        f"{label:30} {clients:7d} {r['rate']:9.0f} {r['p50']:7.2f} {r['p99']:7.2f} "
                        f"{r['req_p50']:8.2f} {r['req_p99']:8.2f} {r['errors']:6d} {versus:>8} {r['cpu_ms']:12.3f}"
                    )
            print(f"   load average at the end: {os.getloadavg()[0]:.2f} (other processes share these CPUs)")
    finally:
        if questdb:
            questdb.stop()
        redis.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--helm", action="append", help="helm3, helm4 or a path (repeatable)")
    parser.add_argument("--repeat", type=int, default=3, help="renders per values set (median)")
    parser.add_argument("--no-suite", action="store_true", help="skip timing the test suite")
    parser.add_argument("--coordinator", action="store_true", help="only the Seamless coordinator's figures")
    parser.add_argument("--seconds", type=float, default=5.0, help="coordinator: measured seconds per row")
    parser.add_argument("--no-questdb", action="store_true", help="coordinator: without the QuestDB journal")
    args = parser.parse_args()
    if args.coordinator:
        bench_coordinator(args.seconds, not args.no_questdb)
        return 0
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
