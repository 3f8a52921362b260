"""Each patch of images/qmtl/patches/ reproduces QMTL's upstream failure without it and passes with it,
against a real server of tests/engines.

QMTL is the one in .tools/qmtl/venv (scripts/setup.sh: the qmtl image's wheels, patches applied; env
QMTL_PYTHON overrides the interpreter). "Without the patch" is that installed package with the patch
reversed (`git apply -R`, which also proves the installed code is exactly upstream plus the patch), put
first on PYTHONPATH; "with" is the installed package itself.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.engines.fixtures import local_engine
from tests.engines.pins import EngineUnavailable
from tests.harness.paths import CHART_DIR

PATCHES = CHART_DIR / "images" / "qmtl" / "patches"


def qmtl_python() -> str:
    def find() -> str:
        python = os.environ.get("QMTL_PYTHON") or str(CHART_DIR / ".tools" / "qmtl" / "venv" / "bin" / "python")
        if not Path(python).exists():
            raise EngineUnavailable(f"no QMTL interpreter at {python} (scripts/setup.sh makes .tools/qmtl/venv)")
        return python

    return local_engine(find)


def installed_qmtl(python: str) -> Path:
    done = subprocess.run(
        [python, "-c", "import qmtl, os; print(os.path.dirname(qmtl.__file__))"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return Path(done.stdout.strip())


def upstream_copy(package: Path, patch: Path, into: Path) -> Path:
    """A copy of the installed qmtl package with `patch` reversed; returns the folder for PYTHONPATH."""
    shutil.copytree(package, into / "qmtl", ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run(
        ["git", "apply", "-R", "-p1", str(patch)], cwd=into, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"{patch.name} does not reverse out of the installed QMTL:\n{done.stderr}"
    return into


def run_qmtl(python: str, script: str, *args: str, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        [python, "-c", script, *args], env=env, capture_output=True, text=True, timeout=180, cwd=pythonpath or "/"
    )


# --------------------------------------------------------------------------------- 0001 worldservice SQL
WORLDSERVICE_STORES_A_WORLD = """
import asyncio, sys
import qmtl.services.worldservice.storage.persistent as persistent

async def main(dsn, world_id):
    storage = await persistent.PersistentStorage.create(db_dsn=dsn, redis_client=None)
    try:
        for _ in range(2):  # the second create replaces the first (upstream: INSERT OR REPLACE)
            await storage.create_world({"id": world_id, "name": "stored"})
        await storage.add_bindings(world_id, ["s1", "s1"])  # upstream: INSERT OR IGNORE
    finally:
        await storage.close()
    print(persistent.__file__)

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def check_worldservice_postgresql(python: str, upstream: Path, postgres, tmp_path: Path) -> None:
    dbname = f"patch_{secrets.token_hex(4)}"
    with postgres.connect() as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    dsn = postgres.url(dbname=dbname)

    without = run_qmtl(python, WORLDSERVICE_STORES_A_WORLD, dsn, "w-upstream", pythonpath=upstream)
    assert without.returncode != 0, f"upstream QMTL did not fail:\n{without.stdout}"
    assert "PostgresSyntaxError" in without.stderr, without.stderr[-3000:]
    assert 'syntax error at or near "AUTOINCREMENT"' in without.stderr, without.stderr[-3000:]

    with_patch = run_qmtl(python, WORLDSERVICE_STORES_A_WORLD, dsn, "w-patched")
    assert with_patch.returncode == 0, with_patch.stderr[-3000:]
    assert str(upstream) not in with_patch.stdout  # the installed, patched module ran
    with postgres.connect(dbname=dbname) as conn:
        worlds = conn.execute("SELECT id, data FROM worlds").fetchall()
        bindings = conn.execute("SELECT world_id, strategy_id FROM bindings").fetchall()
        audit_ids = [r[0] for r in conn.execute("SELECT id FROM audit_logs ORDER BY id").fetchall()]
    assert [w[0] for w in worlds] == ["w-patched"]
    assert bindings == [("w-patched", "s1")]
    assert audit_ids  # SERIAL ids, one per audit entry
    assert audit_ids == sorted(set(audit_ids))

    # SQLite, QMTL's other backend, behaves as before
    sqlite = run_qmtl(python, WORLDSERVICE_STORES_A_WORLD, f"sqlite:///{tmp_path / 'ws.db'}", "w-sqlite")
    assert sqlite.returncode == 0, sqlite.stderr[-3000:]


# every patch and the check that reproduces what it fixes
CHECKS: dict[str, Callable] = {
    "0001-worldservice-postgresql-sql.patch": check_worldservice_postgresql,
}


def test_every_patch_has_its_check() -> None:
    assert sorted(p.name for p in PATCHES.glob("*.patch")) == sorted(CHECKS)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_patch_fixes_what_upstream_gets_wrong(name: str, images_postgres, tmp_path: Path) -> None:
    python = qmtl_python()
    upstream = upstream_copy(installed_qmtl(python), PATCHES / name, tmp_path / "upstream")
    CHECKS[name](python, upstream, images_postgres, tmp_path)
