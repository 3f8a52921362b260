"""The cluster side of the smoke tests: a real Kubernetes API reached through KUBECONFIG.

- `unavailable_reason()`: why no cluster can be used (None when one answers);
- `Kube`: the `kubernetes` client bound to one kubeconfig, plus what the smoke tests need on top of it:
  an inventory of EVERY namespaced object (all resource types the API serves), snapshots of Secrets,
  PVCs and workloads, a pod recorder (a watch) for the short-lived helm test pods, a server-side
  dry run;
- `helm(...)`: the Helm under test (tests.harness) against that cluster.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes import watch as k8s_watch

from tests.harness import HelmResult, run_helm
from tests.harness.paths import CHART_DIR

REQUIRE_ENV = "QMTL_REQUIRE_ENGINES"
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
RELEASE_SECRET_TYPE = "helm.sh/release.v1"
HOOK = "helm.sh/hook"
# Records the API keeps about objects, not objects anyone created: never part of an inventory.
NOT_OBJECTS = {("", "events"), ("events.k8s.io", "events")}


def kubeconfig_path() -> str | None:
    value = os.environ.get("KUBECONFIG", "")
    return value or None


def unavailable_reason() -> str | None:
    """None when KUBECONFIG names a cluster that answers; otherwise why not, and how to get one."""
    path = kubeconfig_path()
    how = (
        "scripts/test.sh starts the local control plane and sets it; by hand: scripts/local-cluster.sh start "
        "&& export KUBECONFIG=$(scripts/local-cluster.sh kubeconfig), or with Docker "
        "export KUBECONFIG=$(scripts/kind-cluster.sh)"
    )
    if not path:
        return f"no Kubernetes cluster: KUBECONFIG is not set ({how})"
    if os.pathsep in path:
        return f"KUBECONFIG={path} lists several files; the smoke tests take exactly one ({how})"
    if not Path(path).is_file():
        return f"no Kubernetes cluster: KUBECONFIG={path} does not exist ({how})"
    try:
        api = k8s_config.new_client_from_config(config_file=path)
        with contextlib.closing(api):
            k8s.VersionApi(api).get_code(_request_timeout=5)
    except Exception as error:  # connection refused, TLS, auth: all mean "no usable cluster"
        return f"the cluster of KUBECONFIG={path} does not answer: {type(error).__name__}: {error} ({how})"
    return None


def helm(*args: str, timeout: str = "5m") -> HelmResult:
    """The Helm under test against the cluster of KUBECONFIG (cwd: the chart)."""
    path = kubeconfig_path()
    assert path, "KUBECONFIG is not set"
    full = list(args)
    if args and args[0] in ("install", "upgrade", "rollback", "uninstall", "test"):
        full += ["--timeout", timeout]
    return run_helm(*full, env={"KUBECONFIG": path}, cwd=CHART_DIR)


@dataclasses.dataclass(frozen=True)
class ObjectRef:
    group: str
    kind: str
    name: str
    uid: str

    def __str__(self) -> str:
        return f"{self.kind}{'.' + self.group if self.group else ''}/{self.name}"


@dataclasses.dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str

    @property
    def path(self) -> str:
        return f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"


class Kube:
    def __init__(self, kubeconfig: str):
        self.kubeconfig = kubeconfig
        self.api = k8s_config.new_client_from_config(config_file=kubeconfig)
        self.core = k8s.CoreV1Api(self.api)
        self.apps = k8s.AppsV1Api(self.api)
        self._resources: list[Resource] | None = None

    def api_batch(self) -> k8s.BatchV1Api:
        return k8s.BatchV1Api(self.api)

    def close(self) -> None:
        self.api.close()

    # -- raw access ------------------------------------------------------------------------------------
    def get(self, path: str, **query) -> dict:
        """GET a raw API path (discovery, any resource type), as JSON."""
        method, url, headers, body, post = self.api.param_serialize(
            "GET",
            path,
            query_params=list(query.items()),
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        response = self.api.call_api(
            method, url, header_params=headers, body=body, post_params=post, _request_timeout=30
        )
        response.read()
        if response.status != 200:
            raise AssertionError(f"GET {path}: HTTP {response.status}: {response.data[:500]!r}")
        return json.loads(response.data)

    @staticmethod
    def plain(obj) -> dict:
        """A kubernetes model object as the API's own JSON (camelCase keys)."""
        return k8s.ApiClient().sanitize_for_serialization(obj)

    # -- custom resource definitions ---------------------------------------------------------------------
    def has_crd(self, name: str) -> bool:
        try:
            k8s.ApiextensionsV1Api(self.api).read_custom_resource_definition(name)
        except k8s.ApiException as error:
            if error.status == 404:
                return False
            raise
        return True

    def ensure_crd(self, crd: dict, timeout: float = 60) -> bool:
        """The CRD in the cluster and Established; True when this call created it (then delete it after with
        delete_crd: a CRD is cluster-wide, and one that was there before is someone else's)."""
        api = k8s.ApiextensionsV1Api(self.api)
        name = crd["metadata"]["name"]
        created = False
        if not self.has_crd(name):
            api.create_custom_resource_definition(crd)
            created = True

        def established():
            status = self.plain(api.read_custom_resource_definition(name)).get("status") or {}
            return any(c["type"] == "Established" and c["status"] == "True" for c in status.get("conditions") or [])

        self.wait_until(established, timeout, f"CRD {name} Established")
        return created

    def delete_crd(self, name: str, timeout: float = 120) -> None:
        """Delete the CRD and wait until it is gone: the API server first removes its custom resources, and a
        module that needs the same CRD next must not find it still there, terminating."""
        k8s.ApiextensionsV1Api(self.api).delete_custom_resource_definition(name)
        self.wait_until(lambda: not self.has_crd(name), timeout, f"CRD {name} deleted")

    def dry_run_create(self, obj: dict, namespace: str | None) -> str | None:
        """POST `obj` as a server-side dry run with strict field validation (unknown or duplicate fields are
        errors, as admission and the schema see them). None when the API server accepts it, else its refusal."""
        group, _, version = obj["apiVersion"].rpartition("/")
        plural = next(
            (r.plural for r in self.namespaced_resources() if (r.group, r.kind) == (group, obj["kind"])), None
        )
        assert plural, f"the API server serves no namespaced {obj['kind']} of {obj['apiVersion']}"
        base = f"/apis/{group}/{version}" if group else f"/api/{version}"
        path = f"{base}/namespaces/{namespace}/{plural}"
        method, url, headers, body, post = self.api.param_serialize(
            "POST",
            path,
            query_params=[("dryRun", "All"), ("fieldValidation", "Strict")],
            header_params={"Accept": "application/json", "Content-Type": "application/json"},
            body=obj,
            auth_settings=["BearerToken"],
        )
        response = self.api.call_api(
            method, url, header_params=headers, body=body, post_params=post, _request_timeout=30
        )
        response.read()
        if response.status in (200, 201):
            return None
        return f"{response.status}: {response.data.decode(errors='replace')[:1000]}"

    # -- the cluster -----------------------------------------------------------------------------------
    def nodes(self) -> list[dict]:
        return [self.plain(n) for n in self.core.list_node().items]

    def is_kwok(self) -> bool:
        """True when every node is a kwok fake: pods are scheduled and marked Running/Ready, nothing runs."""
        nodes = self.nodes()
        return bool(nodes) and all(
            KWOK_NODE_ANNOTATION in (n["metadata"].get("annotations") or {})
            or "kwok" in (n.get("status", {}).get("nodeInfo", {}).get("kubeletVersion") or "")
            for n in nodes
        )

    def namespaced_resources(self) -> list[Resource]:
        """Every namespaced resource type the API serves (preferred version of each group) that can be
        listed, subresources excluded."""
        if self._resources is not None:
            return self._resources
        found: list[Resource] = []
        group_versions = [("", "v1")]
        for group in self.get("/apis")["groups"]:
            group_versions.append((group["name"], group["preferredVersion"]["version"]))
        for group, version in group_versions:
            path = f"/api/{version}" if not group else f"/apis/{group}/{version}"
            for res in self.get(path)["resources"]:
                if res.get("namespaced") and "/" not in res["name"] and "list" in (res.get("verbs") or []):
                    found.append(Resource(group, version, res["name"], res["kind"]))
        self._resources = found
        return found

    def inventory(self, namespace: str) -> dict[str, ObjectRef]:
        """Every object in the namespace, of every namespaced resource type, by uid (events excepted)."""
        out: dict[str, ObjectRef] = {}
        for res in self.namespaced_resources():
            if (res.group, res.plural) in NOT_OBJECTS:
                continue
            for item in self.get(f"{res.path}/namespaces/{namespace}/{res.plural}").get("items") or []:
                meta = item["metadata"]
                out[meta["uid"]] = ObjectRef(res.group, res.kind, meta["name"], meta["uid"])
        return out

    # -- snapshots -------------------------------------------------------------------------------------
    def secrets(self, namespace: str) -> dict[str, dict[str, str]]:
        """Secret name -> data (base64 as stored), Helm's own release records excepted."""
        return {
            s.metadata.name: dict(s.data or {})
            for s in self.core.list_namespaced_secret(namespace).items
            if s.type != RELEASE_SECRET_TYPE
        }

    def release_records(self, namespace: str) -> list[str]:
        return [
            s.metadata.name for s in self.core.list_namespaced_secret(namespace).items if s.type == RELEASE_SECRET_TYPE
        ]

    def pvcs(self, namespace: str) -> dict[str, tuple[str, str]]:
        """PVC name -> (uid, creationTimestamp)."""
        return {
            p.metadata.name: (p.metadata.uid, p.metadata.creation_timestamp.isoformat())
            for p in self.core.list_namespaced_persistent_volume_claim(namespace).items
        }

    def pods(self, namespace: str, selector: str = "") -> list[dict]:
        return [self.plain(p) for p in self.core.list_namespaced_pod(namespace, label_selector=selector).items]

    def workloads(self, namespace: str) -> dict[str, dict]:
        """'Deployment/<name>' / 'StatefulSet/<name>' -> its object (API JSON)."""
        out = {
            f"Deployment/{d.metadata.name}": self.plain(d)
            for d in self.apps.list_namespaced_deployment(namespace).items
        }
        out |= {
            f"StatefulSet/{s.metadata.name}": self.plain(s)
            for s in self.apps.list_namespaced_stateful_set(namespace).items
        }
        return out

    def pods_of(self, namespace: str, workload: dict) -> dict[str, str]:
        """name -> uid of the pods a workload's selector matches."""
        labels = workload["spec"]["selector"]["matchLabels"]
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        return {
            p["metadata"]["name"]: p["metadata"]["uid"]
            for p in self.pods(namespace, selector)
            if not p["metadata"].get("deletionTimestamp")
        }

    def server_dry_run_pod(self, namespace: str, pod: dict) -> str | None:
        """Create `pod` with dryRun=All: None when admitted, else the API's refusal message."""
        try:
            self.core.create_namespaced_pod(namespace, pod, dry_run="All")
        except k8s.ApiException as error:
            return f"{error.status} {error.reason}: {error.body}"
        return None

    # -- waiting ---------------------------------------------------------------------------------------
    @staticmethod
    def wait_until(check: Callable[[], object], timeout: float, what: str, interval: float = 1.0):
        """Poll `check` until it returns something truthy; AssertionError naming `what` on timeout."""
        deadline = time.monotonic() + timeout
        last: object = None
        while True:
            last = check()
            if last:
                return last
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(interval)

    # -- watching --------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def record_pods(
        self, namespace: str, keep: Callable[[dict], bool], settled: Callable[[dict], bool] | None = None
    ) -> Iterator[dict[str, list[tuple]]]:
        """Record every event of the pods `keep` selects while the block runs:
        {pod name: [(event type, pod JSON), ...]}. Starts from the namespace's current resourceVersion,
        so a pod created and deleted within the block is seen. After the block, recording goes on until
        `settled(recorded)` holds (at most 60 s), or for 3 s without `settled`."""
        seen: dict[str, list[tuple]] = {}
        start = self.core.list_namespaced_pod(namespace).metadata.resource_version
        stop = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            version = start
            try:
                while not stop.is_set():  # short server-side timeouts, so that stopping is prompt
                    stream = k8s_watch.Watch()
                    for event in stream.stream(
                        self.core.list_namespaced_pod, namespace, resource_version=version, timeout_seconds=2
                    ):
                        pod = self.plain(event["object"])
                        version = pod["metadata"]["resourceVersion"]
                        if keep(pod):
                            seen.setdefault(pod["metadata"]["name"], []).append((event["type"], pod))
            except BaseException as error:  # surfaced to the caller below
                errors.append(error)

        thread = threading.Thread(target=run, name=f"pod-recorder-{namespace}", daemon=True)
        thread.start()
        try:
            yield seen
            deadline = time.monotonic() + (60 if settled else 3)
            while time.monotonic() < deadline and not (settled and settled(seen)):
                time.sleep(0.5)
        finally:
            stop.set()
            thread.join(timeout=30)
        if errors:
            raise AssertionError(f"watching the pods of {namespace} failed: {errors[0]!r}")
