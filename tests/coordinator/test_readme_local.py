"""README's "run it locally" block, run as written against a real redis-server (only the ports differ)."""

from __future__ import annotations

import os

import pytest

from tests.docs.blocks import all_blocks, run_shell
from tests.engines import fixtures, servers
from tests.engines._proc import free_port
from tests.harness.paths import REPO_ROOT

pytestmark = pytest.mark.engines


def test_readme_runs_the_coordinator_locally() -> None:
    (block,) = [b for b in all_blocks() if b.kind == "engine" and b.arg == "coordinator-local"]
    redis = fixtures.local_engine(lambda: servers.start_redis())  # like a fresh Redis: the default user, no ACL
    try:
        api, metrics = free_port(), free_port()
        script = (
            block.text.replace("127.0.0.1:6379", f"127.0.0.1:{redis.port}")
            .replace("8080", str(api))
            .replace("9102", str(metrics))
        )
        assert script != block.text
        result = run_shell(script, cwd=REPO_ROOT, timeout=60, env=dict(os.environ))
        assert result.returncode == 0, result.stdout + result.stderr
        assert '"status":"ok"' in result.stdout
        assert '"lease":{"key":"blake3:ab12:60:0:3600:world:","token":"1"' in result.stdout
        assert '"state":"held"' in result.stdout
        assert 'seamless_coordinator_requests_total{endpoint="claim",outcome="granted"} 1.0' in result.stdout
    finally:
        redis.stop()
