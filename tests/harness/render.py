"""render_chart: the real `helm template`, parsed, cached once per run per distinct input.

- Always renders the whole chart; `show_only` filters afterwards in Python. Helm's --show-only would
  hide a render error in any template not shown, so it is never used.
- A render error raises RenderError carrying helm's stderr.
- Cache key: the chart tree's content, the values (dicts and files' contents), the Helm binary, the
  release name, namespace, Kubernetes version and extra args. Entries live in a per-run directory
  (QMTL_RENDER_CACHE_DIR, set by tests/conftest.py and shared with pytest-xdist workers); a file
  lock per key makes concurrent workers render a key once and the others read the result.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import yaml

from tests.harness.helm import HelmBinary, helm_binary, run_helm
from tests.harness.paths import CHART_DIR, pinned

CACHE_ENV = "QMTL_RENDER_CACHE_DIR"
RENDER_COUNT_FILE = "renders.log"  # one line per real helm invocation: lets tests count renders

_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CHART_FILES = ("Chart.yaml", "Chart.lock", "values.yaml", "values.schema.json", ".helmignore")
_CHART_DIRS = ("templates", "charts", "files")
_SOURCE = re.compile(r"^# Source: (.+)$", re.M)


class RenderError(Exception):
    """helm template failed; str() is helm's own error output."""

    def __init__(self, args: Sequence[str], returncode: int, stderr: str):
        self.args_ = tuple(args)
        self.returncode = returncode
        self.stderr = stderr
        super().__init__(stderr.strip() or f"helm exited {returncode} with no message")


@dataclasses.dataclass(frozen=True)
class RenderedObject:
    source: str  # template path as helm prints it, e.g. qmtl/charts/gateway/templates/deployment.yaml
    obj: dict


@dataclasses.dataclass(frozen=True)
class Rendered:
    text: str
    items: tuple[RenderedObject, ...]
    key: str

    @property
    def objects(self) -> list[dict]:
        return [item.obj for item in self.items]

    def by_kind(self, kind: str) -> list[dict]:
        return [o for o in self.objects if o.get("kind") == kind]

    def find(self, kind: str, name: str) -> dict | None:
        for obj in self.objects:
            if obj.get("kind") == kind and obj.get("metadata", {}).get("name") == name:
                return obj
        return None

    def get(self, kind: str, name: str) -> dict:
        obj = self.find(kind, name)
        if obj is None:
            have = sorted(f"{o.get('kind')}/{o.get('metadata', {}).get('name')}" for o in self.objects)
            raise KeyError(f"no {kind}/{name} in the render; rendered: {', '.join(have)}")
        return obj

    def names(self, kind: str) -> set[str]:
        return {o["metadata"]["name"] for o in self.by_kind(kind)}

    def only(self, show_only: str | Sequence[str]) -> Rendered:
        """Objects from the given template path(s), matched as suffixes of helm's Source path."""
        wanted = (show_only,) if isinstance(show_only, str) else tuple(show_only)
        items = tuple(i for i in self.items if any(i.source.endswith(w) for w in wanted))
        if not items:
            sources = sorted({i.source for i in self.items})
            raise KeyError(f"show_only {wanted!r} matched no rendered template; sources: {sources}")
        return Rendered(text=self.text, items=items, key=self.key)


def _canonical(data: object) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


@functools.cache
def chart_tree_digest(chart_dir: Path = CHART_DIR) -> str:
    """Digest of every file helm loads from the chart (the cache's notion of "the chart tree")."""
    digest = hashlib.sha256()
    paths = [chart_dir / name for name in _CHART_FILES if (chart_dir / name).exists()]
    for sub in _CHART_DIRS:
        base = chart_dir / sub
        if base.exists():
            paths += sorted(p for p in base.rglob("*") if p.is_file())
    for path in paths:
        digest.update(str(path.relative_to(chart_dir)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def default_kube_version() -> str:
    return pinned("kubernetes")["newest"]


def cache_dir() -> Path:
    # Outside pytest (scripts) there is no run directory: use a private per-process cache.
    path = Path(os.environ.get(CACHE_ENV) or _process_cache_dir())
    path.mkdir(parents=True, exist_ok=True)
    return path


@functools.cache
def _process_cache_dir() -> str:
    return tempfile.mkdtemp(prefix="qmtl-render-")


@contextlib.contextmanager
def _values_args(values: Sequence[dict], values_files: Sequence[Path | str]) -> Iterator[list[str]]:
    """-f arguments: files first, then dicts (later ones win, as with helm)."""
    args: list[str] = []
    for path in values_files:
        args += ["-f", str(Path(path).resolve())]
    with tempfile.TemporaryDirectory(prefix="qmtl-values-") as tmp:
        for index, data in enumerate(values):
            file = Path(tmp) / f"values-{index}.yaml"
            file.write_text(yaml.safe_dump(data, sort_keys=True))
            args += ["-f", str(file)]
        yield args


def _split(text: str) -> tuple[RenderedObject, ...]:
    items: list[RenderedObject] = []
    for doc in re.split(r"^---\s*$", text, flags=re.M):
        if not doc.strip():
            continue
        match = _SOURCE.search(doc)
        source = match.group(1).strip() if match else ""
        obj = yaml.load(doc, Loader=_SAFE_LOADER)
        if obj is None:
            continue
        if not isinstance(obj, dict):
            raise ValueError(f"{source}: rendered a non-mapping YAML document: {doc[:200]!r}")
        items.append(RenderedObject(source=source, obj=obj))
    return tuple(items)


_memo: dict[str, Rendered | RenderError] = {}


def render_key(
    values: Sequence[dict],
    values_files: Sequence[Path | str],
    helm: HelmBinary,
    release: str,
    namespace: str,
    kube_version: str,
    extra_args: Sequence[str],
    chart_dir: Path,
) -> str:
    material = {
        "chart": chart_tree_digest(chart_dir),
        "chart_dir": str(chart_dir),
        "values": [_canonical(v) for v in values],
        "files": [(str(Path(f).resolve()), hashlib.sha256(Path(f).read_bytes()).hexdigest()) for f in values_files],
        "helm": helm.identity,
        "release": release,
        "namespace": namespace,
        "kube_version": kube_version,
        "extra": list(extra_args),
    }
    return hashlib.sha256(_canonical(material).encode()).hexdigest()[:32]


def _render_cached(
    values: Sequence[dict],
    values_files: Sequence[Path | str],
    helm: HelmBinary,
    release: str,
    namespace: str,
    kube_version: str,
    extra_args: Sequence[str],
    chart_dir: Path,
) -> Rendered | RenderError:
    key = render_key(values, values_files, helm, release, namespace, kube_version, extra_args, chart_dir)
    if key in _memo:
        return _memo[key]
    directory = cache_dir()
    entry = directory / f"{key}.json"
    with (directory / f"{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if entry.exists():
            stored = json.loads(entry.read_text())
        else:
            with _values_args(values, values_files) as vargs:
                args = [
                    "template",
                    release,
                    str(chart_dir),
                    "--namespace",
                    namespace,
                    "--kube-version",
                    kube_version,
                    *vargs,
                    *extra_args,
                ]
                result = run_helm(*args, helm=helm)
            stored = {
                "args": list(result.args),
                "returncode": result.returncode,
                "stdout": result.stdout,
                "stderr": result.stderr,
            }
            partial = entry.with_suffix(".partial")
            partial.write_text(json.dumps(stored))
            os.replace(partial, entry)
            with (directory / RENDER_COUNT_FILE).open("a") as log:
                log.write(f"{key}\n")
    if stored["returncode"] != 0:
        outcome: Rendered | RenderError = RenderError(stored["args"], stored["returncode"], stored["stderr"])
    else:
        outcome = Rendered(text=stored["stdout"], items=_split(stored["stdout"]), key=key)
    _memo[key] = outcome
    return outcome


def render_chart(
    values: dict | Sequence[dict] | None = None,
    values_files: Sequence[Path | str] = (),
    show_only: str | Sequence[str] | None = None,
    namespace: str = "qmtl",
    release: str = "qmtl",
    kube_version: str | None = None,
    extra_args: Sequence[str] = (),
    helm: HelmBinary | None = None,
    chart_dir: Path = CHART_DIR,
) -> Rendered:
    """Render the chart with real `helm template`; raise RenderError (helm's stderr) on failure."""
    dicts = [values] if isinstance(values, dict) else list(values or [])
    outcome = _render_cached(
        dicts,
        tuple(values_files),
        helm or helm_binary(),
        release,
        namespace,
        kube_version or default_kube_version(),
        tuple(extra_args),
        chart_dir,
    )
    if isinstance(outcome, RenderError):
        raise outcome
    return outcome.only(show_only) if show_only else outcome


def render_error(
    values: dict | Sequence[dict] | None = None, values_files: Sequence[Path | str] = (), **kwargs
) -> RenderError:
    """Render values that must be refused; return the error (fail if helm accepted them)."""
    try:
        render_chart(values, values_files, **kwargs)
    except RenderError as error:
        return error
    raise AssertionError(f"helm template accepted values that must be refused: {values!r} {values_files!r}")
