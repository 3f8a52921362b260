"""Render the chart with the real Helm and read back what it made: objects, errors, and the values.

  render_chart(values, values_files, ...)  -> Rendered (objects by template, raw text); RenderError on failure
  render_error(values, values_files, ...)  -> the RenderError of values that must be refused
  helm_values(values, values_files, ...)   -> the values Helm hands to the umbrella's templates (its merge of
                                             the chart's values.yaml files, the -f files and the dicts, with
                                             every enabled subchart's defaults under its name)
  private_chart(chart_dir, add, keep)      -> a copy of the chart with templates added or left out

Helm is the only values merge and the only renderer: nothing here merges values itself. `values` are layers:
a dict or a (nested) sequence of dicts, each written to a file and passed with -f after `values_files`
(later ones win, as with helm -f).

Renders are cached per (chart content, values, files' contents, Helm binary, release, namespace, Kubernetes
version, extra args): in memory, and on disk in QMTL_RENDER_CACHE_DIR (tests/conftest.py sets one per test
run and pytest-xdist workers share it; a file lock per key makes concurrent workers render a key once).
Without that variable a process gets a private cache directory.
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
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import yaml

from qmtl_stack.helm import Helm, HelmResult, find_helm, run_helm
from qmtl_stack.paths import CHART_DIR, CHART_DIRS, CHART_FILES

CACHE_ENV = "QMTL_RENDER_CACHE_DIR"
RENDER_COUNT_FILE = "renders.log"  # one line per real helm invocation: lets tests count renders

# libyaml's loader when PyYAML has it (a rendered chart is a lot of YAML); same results, much faster.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SOURCE = re.compile(r"^# Source: (.+)$", re.M)

VALUES_TEMPLATE = "qmtl-values-dump.yaml"
VALUES_CONFIGMAP = "qmtl-values-dump"
_VALUES_DUMP = f"""{{{{- /* private copy only (qmtl_stack.render.helm_values): the values the templates get */ -}}}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {VALUES_CONFIGMAP}
data:
  values: {{{{ toJson .Values | quote }}}}
"""


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

    def without(self, kind: str, name: str) -> Rendered:
        """The same render without one object (e.g. a private copy's own addition)."""

        def named(item: RenderedObject) -> tuple:
            return item.obj.get("kind"), item.obj.get("metadata", {}).get("name")

        items = tuple(i for i in self.items if named(i) != (kind, name))
        return Rendered(text=self.text, items=items, key=self.key)


def _canonical(data: object) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


def chart_paths(chart_dir: Path) -> list[Path]:
    """Every file Helm loads from the chart directory to render it (paths.CHART_FILES and CHART_DIRS)."""
    paths = [chart_dir / name for name in CHART_FILES if (chart_dir / name).exists()]
    for sub in CHART_DIRS:
        base = chart_dir / sub
        if base.exists():
            paths += sorted(p for p in base.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return paths


@functools.cache
def chart_tree_digest(chart_dir: Path = CHART_DIR) -> str:
    """Digest of every file helm loads from the chart (the cache's notion of "the chart tree")."""
    digest = hashlib.sha256()
    for path in chart_paths(chart_dir):
        digest.update(str(path.relative_to(chart_dir)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def copy_chart(target: Path, chart_dir: Path = CHART_DIR) -> Path:
    """A copy of what Helm loads from the chart (chart_paths) at `target`, for a caller that changes it."""
    for path in chart_paths(chart_dir):
        dest = target / path.relative_to(chart_dir)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
    return target


def cache_dir() -> Path:
    # Outside pytest (scripts) there is no run directory: use a private per-process cache.
    path = Path(os.environ.get(CACHE_ENV) or _process_cache_dir())
    path.mkdir(parents=True, exist_ok=True)
    return path


@functools.cache
def _process_cache_dir() -> str:
    return tempfile.mkdtemp(prefix="qmtl-render-")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def private_chart(chart_dir: Path = CHART_DIR, add: dict[str, str] | None = None, keep: str = "all") -> Path:
    """A copy of the chart (in the render cache, made once per content) with `add` (file name -> text) added to
    the umbrella's templates. keep="helpers": only named-template files (_*.tpl) stay, besides `add`;
    keep="none": no template of the chart stays. The shipped chart is never changed."""
    if keep not in ("all", "helpers", "none"):
        raise ValueError(f"keep={keep!r}: all, helpers or none")
    add = add or {}
    key = hashlib.sha256(_canonical([chart_tree_digest(chart_dir), str(chart_dir), keep, add]).encode()).hexdigest()
    root = cache_dir() / "charts" / key[:24]
    copy = root / chart_dir.name
    if (root / "done").exists():
        return copy
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / "lock"):
        if not (root / "done").exists():
            shutil.rmtree(copy, ignore_errors=True)
            copy_chart(copy, chart_dir)
            for path in list(copy.rglob("*")):
                if not path.is_file() or "templates" not in path.relative_to(copy).parts or keep == "all":
                    continue
                if not (keep == "helpers" and path.name.startswith("_")):
                    path.unlink()
            for name, text in add.items():
                (copy / "templates" / name).parent.mkdir(parents=True, exist_ok=True)
                (copy / "templates" / name).write_text(text)
            (root / "done").write_text("")
    return copy


@contextlib.contextmanager
def values_args(values: Sequence[dict], values_files: Sequence[Path | str]) -> Iterator[list[str]]:
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


def split_manifests(text: str) -> tuple[RenderedObject, ...]:
    items: list[RenderedObject] = []
    for doc in re.split(r"^---\s*$", text, flags=re.M):
        if not doc.strip():
            continue
        match = _SOURCE.search(doc)
        source = match.group(1).strip() if match else ""
        obj = yaml.load(doc, Loader=YAML_LOADER)
        if obj is None:
            continue
        if not isinstance(obj, dict):
            raise ValueError(f"{source}: rendered a non-mapping YAML document: {doc[:200]!r}")
        items.append(RenderedObject(source=source, obj=obj))
    return tuple(items)


_memo: dict[str, Rendered | RenderError] = {}


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "unreadable"  # helm says why


def clear_memo() -> None:
    """Forget this process's renders (the disk cache stays): the next render reads the disk, as a new process."""
    _memo.clear()


def render_key(
    values: Sequence[dict],
    values_files: Sequence[Path | str],
    helm: Helm,
    release: str,
    namespace: str,
    kube_version: str | None,
    extra_args: Sequence[str],
    chart_dir: Path,
) -> str:
    material = {
        "chart": chart_tree_digest(chart_dir),
        "chart_dir": str(chart_dir),
        "values": [_canonical(v) for v in values],
        "files": [(str(Path(f).resolve()), _file_digest(Path(f))) for f in values_files],
        "helm": helm.identity,
        "release": release,
        "namespace": namespace,
        "kube_version": kube_version,
        "extra": list(extra_args),
    }
    return hashlib.sha256(_canonical(material).encode()).hexdigest()[:32]


def _render(
    values: Sequence[dict],
    values_files: Sequence[Path | str],
    helm: Helm,
    release: str,
    namespace: str,
    kube_version: str | None,
    extra_args: Sequence[str],
    chart_dir: Path,
    cache: bool = True,
) -> Rendered | RenderError:
    key = render_key(values, values_files, helm, release, namespace, kube_version, extra_args, chart_dir)

    def run() -> dict:
        with values_args(values, values_files) as vargs:
            args = ["template", release, str(chart_dir), "--namespace", namespace, *vargs, *extra_args]
            if kube_version:
                args += ["--kube-version", kube_version]
            result = run_helm(*args, helm=helm)
        return {
            "args": list(result.args),
            "returncode": result.returncode,
            "stdout": result.stdout,
            "stderr": result.stderr,
        }

    if not cache:
        return _outcome(run(), key)
    if key in _memo:
        return _memo[key]
    directory = cache_dir()
    entry = directory / f"{key}.json"
    with _locked(directory / f"{key}.lock"):
        if entry.exists():
            stored = json.loads(entry.read_text())
        else:
            stored = run()
            partial = entry.with_suffix(".partial")
            partial.write_text(json.dumps(stored))
            os.replace(partial, entry)
            with (directory / RENDER_COUNT_FILE).open("a") as log:
                log.write(f"{key}\n")
    _memo[key] = _outcome(stored, key)
    return _memo[key]


def _outcome(stored: dict, key: str) -> Rendered | RenderError:
    if stored["returncode"] != 0:
        outcome: Rendered | RenderError = RenderError(stored["args"], stored["returncode"], stored["stderr"])
    else:
        outcome = Rendered(text=stored["stdout"], items=split_manifests(stored["stdout"]), key=key)
    return outcome


Layers = dict | Sequence["Layers"] | None


def layers(values: Layers) -> list[dict]:
    """The dicts of `values` in order: a dict, or a (nested) sequence of them, as helm -f takes them."""
    if values is None:
        return []
    if isinstance(values, dict):
        return [values]
    return [layer for part in values for layer in layers(part)]


def render_chart(
    values: Layers = None,
    values_files: Sequence[Path | str] = (),
    show_only: str | Sequence[str] | None = None,
    namespace: str = "qmtl",
    release: str = "qmtl",
    kube_version: str | None = None,
    extra_args: Sequence[str] = (),
    helm: Helm | None = None,
    chart_dir: Path = CHART_DIR,
    cache: bool = True,
) -> Rendered:
    """`helm template` of the whole chart (show_only filters afterwards, so it never hides a render error);
    raise RenderError (helm's stderr) on failure. kube_version None: Helm's own default. cache=False: a render
    of its own, neither read from nor kept in the cache (generated credentials differ on every render)."""
    outcome = _render(
        layers(values),
        tuple(values_files),
        helm or find_helm(),
        release,
        namespace,
        kube_version,
        tuple(extra_args),
        chart_dir,
        cache,
    )
    if isinstance(outcome, RenderError):
        raise outcome
    return outcome.only(show_only) if show_only else outcome


def render_error(values: Layers = None, values_files: Sequence[Path | str] = (), **kwargs) -> RenderError:
    """Render values that must be refused; return the error (fail if helm accepted them)."""
    try:
        render_chart(values, values_files, **kwargs)
    except RenderError as error:
        return error
    raise AssertionError(f"helm template accepted values that must be refused: {values!r} {values_files!r}")


def helm_values(
    values: Layers = None,
    values_files: Sequence[Path | str] = (),
    helm: Helm | None = None,
    chart_dir: Path = CHART_DIR,
    release: str = "qmtl",
    namespace: str = "qmtl",
) -> dict:
    """The values Helm hands to the umbrella's templates for these inputs: its coalescing of the chart's
    values.yaml, the -f files and dicts, and each enabled subchart's values.yaml under its name (each with a
    copy of `global`). Read back from a private copy of the chart that renders nothing else; the schema is
    not applied (the values of a set the schema refuses are read too). A fresh copy on every call."""
    copy = private_chart(chart_dir, add={VALUES_TEMPLATE: _VALUES_DUMP}, keep="none")
    rendered = render_chart(
        values,
        values_files,
        release=release,
        namespace=namespace,
        extra_args=("--skip-schema-validation",),
        helm=helm,
        chart_dir=copy,
    )
    return json.loads(rendered.get("ConfigMap", VALUES_CONFIGMAP)["data"]["values"])


def helm_lint(
    values: Layers = None,
    values_files: Sequence[Path | str] = (),
    strict: bool = True,
    kube_version: str | None = None,
    helm: Helm | None = None,
    chart_dir: Path = CHART_DIR,
) -> HelmResult:
    """`helm lint [--strict]` of the chart with the given values (not cached)."""
    with values_args(layers(values), values_files) as vargs:
        args = ["lint", str(chart_dir), *vargs]
        if strict:
            args.append("--strict")
        if kube_version:
            args += ["--kube-version", kube_version]
        return run_helm(*args, helm=helm)
