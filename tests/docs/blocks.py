"""Fenced blocks of the project's Markdown documents and the markers that say how a test uses them.

A marker is an HTML comment on the last non-blank line before a fence (invisible when rendered):

  <!-- test: run -->               sh block: run with bash (errexit, pipefail) from the repository root;
                                   it must exit 0
  <!-- test: refused: TEXT -->     sh block: run the same way; it must exit non-zero and print TEXT
  <!-- test: skip: REASON -->      sh block: not run (it needs a cluster, Docker, or runs the suite);
                                   REASON is reported
  <!-- test: values: FILE -->      yaml block: a values file, rendered on top of FILE (e.g. values/prod.yaml)
  <!-- test: github-workflow -->   yaml block: a GitHub Actions workflow (structure, pins, run steps)
  <!-- test: argocd-application --> yaml block: an Argo CD Application of this chart (rendered as Argo CD
                                   would: its value files and parameters, twice, byte-identical)
  <!-- test: engine: NAME -->      sh block: run by an engine test against a real server (NAME says which
                                   test uses it, e.g. redis-restore in tests/docs/test_upgrade_restore.py)

Every sh/bash/shell block must carry a marker, so no command in the docs escapes the tests unnoticed.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path

from tests.harness.paths import REPO_ROOT

DOCUMENTS = (REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md")))
SHELL_LANGS = {"sh", "bash", "shell"}
KINDS = {"run", "refused", "skip", "values", "github-workflow", "argocd-application", "engine"}
NEEDS_ARG = {"refused", "skip", "values", "engine"}

_MARKER = re.compile(r"^\s*<!--\s*test:\s*(?P<kind>[a-z-]+)\s*(?::\s*(?P<arg>.*?))?\s*-->\s*$")
_FENCE = re.compile(r"^(?P<indent>[ ]*)(?P<fence>```+)(?P<lang>[A-Za-z0-9_+-]*)\s*$")


@dataclasses.dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    kind: str | None  # marker kind, None when unmarked
    arg: str  # marker argument ("" when none)

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO_ROOT)}:{self.line}"

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(REPO_ROOT)}:{self.line}"


class MarkerError(ValueError):
    pass


def parse(path: Path, text: str | None = None) -> list[Block]:
    lines = (path.read_text() if text is None else text).splitlines()
    blocks: list[Block] = []
    i = 0
    last_nonblank = ""
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            if lines[i].strip():
                last_nonblank = lines[i]
            i += 1
            continue
        indent, fence, lang = len(m.group("indent")), m.group("fence"), m.group("lang").lower()
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and lines[i].strip() != fence:
            line = lines[i]
            body.append(line[indent:] if line[:indent].strip() == "" else line)
            i += 1
        if i >= len(lines):
            raise MarkerError(f"{path.name}:{start + 1}: fence is never closed")
        kind = arg = None
        marker = _MARKER.match(last_nonblank)
        if marker:
            kind, arg = marker.group("kind"), (marker.group("arg") or "").strip()
            if kind not in KINDS:
                raise MarkerError(f"{path.name}:{start + 1}: unknown marker 'test: {kind}' (known: {sorted(KINDS)})")
            if kind in NEEDS_ARG and not arg:
                raise MarkerError(f"{path.name}:{start + 1}: marker 'test: {kind}' needs an argument")
        blocks.append(Block(path, start + 1, lang, "\n".join(body) + "\n", kind, arg or ""))
        last_nonblank = lines[i]
        i += 1
    return blocks


def all_blocks() -> list[Block]:
    out: list[Block] = []
    for path in DOCUMENTS:
        out += parse(path)
    return out


def run_shell(
    script: str, *, cwd: Path, timeout: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run a docs block as the reader's shell would, but strict (-e -u -o pipefail), output captured."""
    return subprocess.run(
        ["bash", "-e", "-u", "-o", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
