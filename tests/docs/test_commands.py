"""Every shell command in README.md and docs/*.md that needs no cluster is run, as the reader would run it.

Blocks marked `<!-- test: run -->` must exit 0, `<!-- test: refused: TEXT -->` must exit non-zero and print
TEXT, `<!-- test: skip: REASON -->` are reported as skipped with that reason. See tests/docs/blocks.py.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.docs.blocks import SHELL_LANGS, Block, all_blocks, run_shell
from tests.harness.paths import REPO_ROOT

SHELL_BLOCKS = [b for b in all_blocks() if b.lang in SHELL_LANGS]
TIMEOUT = 300


def run_block(block: Block, env: dict[str, str]) -> subprocess.CompletedProcess:
    return run_shell(block.text, cwd=REPO_ROOT, env=env, timeout=TIMEOUT)


def test_the_docs_have_commands_to_run() -> None:
    kinds = [b.kind for b in SHELL_BLOCKS]
    assert kinds.count("run") >= 5, "README.md and docs/ should keep their runnable commands marked `test: run`"
    assert "refused" in kinds


def test_every_shell_block_says_how_it_is_tested() -> None:
    unmarked = [b.where for b in SHELL_BLOCKS if b.kind not in ("run", "refused", "skip", "engine")]
    assert not unmarked, (
        "shell blocks without a `<!-- test: run|refused: TEXT|skip: REASON|engine: NAME -->` "
        f"marker on the line before the fence: {unmarked}"
    )


@pytest.mark.parametrize("block", [b for b in SHELL_BLOCKS if b.kind in ("run", "refused", "skip")], ids=lambda b: b.id)
def test_documented_command(block: Block, doc_env: dict[str, str]) -> None:
    if block.kind == "skip":
        pytest.skip(f"{block.where}: {block.arg}")
    result = run_block(block, doc_env)
    output = result.stdout + result.stderr
    if block.kind == "run":
        assert result.returncode == 0, (
            f"{block.where} exited {result.returncode}:\n{block.text}\n--- output:\n{output[-4000:]}"
        )
    else:
        assert result.returncode != 0, f"{block.where} was accepted but the docs say it is refused:\n{block.text}"
        assert block.arg in output, f"{block.where}: the refusal does not mention {block.arg!r}:\n{output[-4000:]}"
