"""What a render runs: every pod template (workloads, hooks, helm test pods) and every container in it,
plus the per-profile sizing totals the benchmark script prints (`sizing_totals`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping

from tests.harness import Rendered
from tests.harness.objects import pod_template, quantity

__all__ = ["Container", "Workload", "containers", "pod_requests", "quantity", "sizing_totals", "workloads"]

LONG_RUNNING = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}


@dataclasses.dataclass(frozen=True)
class Workload:
    kind: str
    name: str
    obj: Mapping
    template: Mapping  # the pod template ({metadata, spec}); for a Pod, the Pod itself

    @property
    def spec(self) -> Mapping:
        return self.template.get("spec") or {}

    @property
    def labels(self) -> Mapping[str, str]:
        return (self.template.get("metadata") or {}).get("labels") or {}

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def long_running(self) -> bool:
        """Serves until stopped: a controller that restarts it, or a bare Pod that is no hook."""
        if self.kind in LONG_RUNNING:
            return True
        annotations = (self.obj.get("metadata") or {}).get("annotations") or {}
        return self.kind == "Pod" and "helm.sh/hook" not in annotations

    @property
    def replicas(self) -> int:
        if self.kind in ("Deployment", "StatefulSet", "ReplicaSet"):
            value = (self.obj.get("spec") or {}).get("replicas")
            return 1 if value is None else int(value)
        return 1


@dataclasses.dataclass(frozen=True)
class Container:
    workload: Workload
    spec: Mapping
    init: bool  # an init container (including native sidecars)

    @property
    def name(self) -> str:
        return self.spec["name"]

    @property
    def sidecar(self) -> bool:
        """A native sidecar: an init container that keeps running (restartPolicy: Always)."""
        return self.init and self.spec.get("restartPolicy") == "Always"

    @property
    def long_running(self) -> bool:
        return self.workload.long_running and (not self.init or self.sidecar)


def workloads(rendered: Rendered | Iterable[Mapping]) -> list[Workload]:
    """Every pod template of a render (a Rendered, or its list of objects)."""
    objects = rendered.objects if isinstance(rendered, Rendered) else list(rendered)
    found = []
    for obj in objects:
        template = pod_template(obj)
        if template is not None:
            found.append(Workload(kind=obj["kind"], name=obj["metadata"]["name"], obj=obj, template=template))
    return found


def containers(workload: Workload) -> Iterator[Container]:
    for spec in workload.spec.get("initContainers") or []:
        yield Container(workload, spec, init=True)
    for spec in workload.spec.get("containers") or []:
        yield Container(workload, spec, init=False)


# --- sizing ---------------------------------------------------------------------------------------
def _amounts(container: Mapping, kind: str) -> tuple[float, float]:
    values = (container.get("resources") or {}).get(kind) or {}
    return quantity(values.get("cpu", 0)), quantity(values.get("memory", 0))


def pod_requests(workload: Workload, kind: str = "requests") -> tuple[float, float]:
    """What the scheduler reserves for one pod: max(regular + sidecars, each init + the sidecars
    started before it), per resource (Kubernetes' effective pod request, overhead excluded).
    kind="limits" applies the same rule to the limits."""
    cpu = mem = 0.0
    side_cpu = side_mem = 0.0
    init_cpu = init_mem = 0.0
    for spec in workload.spec.get("initContainers") or []:
        c, m = _amounts(spec, kind)
        if spec.get("restartPolicy") == "Always":
            side_cpu, side_mem = side_cpu + c, side_mem + m
        else:
            init_cpu, init_mem = max(init_cpu, side_cpu + c), max(init_mem, side_mem + m)
    for spec in workload.spec.get("containers") or []:
        c, m = _amounts(spec, kind)
        cpu, mem = cpu + c, mem + m
    return max(cpu + side_cpu, init_cpu), max(mem + side_mem, init_mem)


def sizing_totals(rendered: Rendered | Iterable[Mapping]) -> dict:
    """Totals of a render (a Rendered or its objects), for the benchmark script and the laptop-fit test.

    Returns {"long_running": {"cpu", "memory", "limits_cpu", "limits_memory", "pods"},
             "transient":    {... the same ...},   # Jobs, CronJobs, hook and helm test pods
             "peak":         {"cpu", "memory", "limits_cpu", "limits_memory"},   # everything at once
             "workloads":    {"Kind/name": {"cpu", "memory", "limits_cpu", "limits_memory", "replicas",
                                            "long_running"}}}
    cpu in cores, memory in bytes; cpu/memory are requests. Long-running workloads count once per replica,
    transient ones once. Per pod, Kubernetes' effective request rule (pod_requests).
    """
    keys = ("cpu", "memory", "limits_cpu", "limits_memory")
    totals: dict = {
        "long_running": dict.fromkeys(keys, 0.0) | {"pods": 0},
        "transient": dict.fromkeys(keys, 0.0) | {"pods": 0},
        "workloads": {},
    }
    for workload in workloads(rendered):
        cpu, mem = pod_requests(workload)
        limits_cpu, limits_mem = pod_requests(workload, "limits")
        per_pod = {"cpu": cpu, "memory": mem, "limits_cpu": limits_cpu, "limits_memory": limits_mem}
        bucket = totals["long_running" if workload.long_running else "transient"]
        for key in keys:
            bucket[key] += per_pod[key] * workload.replicas
        bucket["pods"] += workload.replicas
        totals["workloads"][workload.ref] = per_pod | {
            "replicas": workload.replicas,
            "long_running": workload.long_running,
        }
    totals["peak"] = {key: totals["long_running"][key] + totals["transient"][key] for key in keys}
    return totals
