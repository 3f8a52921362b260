"""Fixtures of the coordinator tests: a real redis-server with the chart's rendered ACL, QuestDB with the
coordinator's rendered credentials, and replicas of the coordinator's console script (stack.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from . import stack as stk


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
