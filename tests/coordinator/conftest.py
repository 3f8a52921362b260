"""Fixtures of the coordinator tests: a real redis-server with the chart's rendered ACL, QuestDB with the
coordinator's rendered credentials, and replicas of the coordinator's console script (stack.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.harness.paths import CACHE_ROOT

from . import stack as stk

# hypothesis keeps a cache of its own (even without an example database): in .cache/, not the repository root
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(CACHE_ROOT / "hypothesis"))


@pytest.fixture(scope="module")
def questdb(questdb_server):
    r = stk.rendered()
    return questdb_server(pg_user=r.questdb_user, pg_password=r.questdb_password)


@pytest.fixture(scope="module")
def stack(questdb) -> Iterator[stk.Stack]:
    """Two replicas sharing one Redis (the chart's ACL) and one QuestDB, for the tests that do not break
    anything; tests that stop or kill things start their own."""
    redis = stk.start_redis()
    try:
        running = stk.Stack.start(redis, questdb, replicas=2)
    except BaseException:
        redis.stop()
        raise
    yield running
    running.stop()
    redis.stop()
