"""A real QuestDB (tests/engines: the questdb jar from Maven Central) started with EXACTLY the rendered
container environment (every QDB_* setting and the credentials of Secret qmtl-questdb; only the
listeners' addresses are moved to free loopback ports): the readiness probe's port answers 200 without
credentials, the coordinator's credentials work over PG wire (its seamless_ tables), QuestDB's default
admin/quest and a wrong password do not, the HTTP API wants the same credentials, and the
InfluxDB line protocol listener stays closed."""

from __future__ import annotations

import base64
import pathlib
import socket
import urllib.error
import urllib.request

import psycopg
import pytest

from tests.engines import _proc as proc
from tests.engines import fixtures, servers
from tests.harness import render_chart
from tests.harness.objects import only_container, resolved_env

pytestmark = pytest.mark.engines

VALUES: dict = {}
BINDS = {"QDB_PG_NET_BIND_TO": "pg", "QDB_HTTP_NET_BIND_TO": "http", "QDB_HTTP_MIN_NET_BIND_TO": "health"}


@pytest.fixture(scope="module")
def server():
    rendered = render_chart(VALUES)
    c = only_container(rendered, "StatefulSet", "questdb")
    fixtures.local_engine(lambda: servers.questdb_command(pathlib.Path()))  # QuestDB installed?
    qdb_env, ports = resolved_env(rendered, c), {}
    container_ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    probe_port = c["readinessProbe"]["httpGet"]["port"]

    def attempt():
        for var, name in BINDS.items():
            assert qdb_env[var] == f"0.0.0.0:{container_ports[name]}", var  # the rendered listener
            ports[name] = proc.free_port()
            qdb_env[var] = f"127.0.0.1:{ports[name]}"
        workdir = proc.make_workdir("questdb-rendered")
        process = proc.Process(
            "questdb",
            servers.questdb_command(workdir),
            log_path=workdir / "questdb.log",
            cwd=workdir,
            env=qdb_env,
        )

        def ready() -> bool:
            with urllib.request.urlopen(f"http://127.0.0.1:{ports['health']}/", timeout=2) as resp:
                return resp.status == 200

        proc.wait_until(process, ready, timeout=90, what="questdb (rendered env)", interval=0.25)
        return process, workdir

    process, workdir = proc.start_with_retries(attempt)
    yield {"ports": ports, "env": qdb_env, "probe_port": probe_port, "process": process}
    process.stop()
    proc.remove_workdir(workdir)


def dsn(server, user: str, password: str) -> str:
    return f"postgresql://{user}:{password}@127.0.0.1:{server['ports']['pg']}/qmtl"


def test_the_readiness_port_answers_without_credentials(server) -> None:
    assert server["probe_port"] == "health"
    with urllib.request.urlopen(f"http://127.0.0.1:{server['ports']['health']}/", timeout=5) as resp:
        assert resp.status == 200


def test_the_coordinators_credentials_work_over_pg_wire(server) -> None:
    e = server["env"]
    with psycopg.connect(
        dsn(server, e["QDB_PG_USER"], e["QDB_PG_PASSWORD"]), autocommit=True, connect_timeout=10
    ) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS seamless_bars (sym SYMBOL, px DOUBLE, ts TIMESTAMP) "
            "TIMESTAMP(ts) PARTITION BY DAY WAL"
        )
        conn.execute("INSERT INTO seamless_bars VALUES ('BTC', 1.5, now())")
        assert conn.execute("SELECT count() FROM tables() WHERE table_name = 'seamless_bars'").fetchone() == (1,)


@pytest.mark.parametrize(("user", "password"), [("admin", "quest"), (None, "not-the-password")])
def test_other_credentials_are_refused(server, user, password) -> None:
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dsn(server, user or server["env"]["QDB_PG_USER"], password), connect_timeout=10).close()


def test_the_http_api_wants_the_same_credentials(server) -> None:
    url = f"http://127.0.0.1:{server['ports']['http']}/exec?query=SELECT%201"
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(url, timeout=5)
    assert info.value.code == 401
    e = server["env"]
    token = base64.b64encode(f"{e['QDB_HTTP_USER']}:{e['QDB_HTTP_PASSWORD']}".encode()).decode()
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(request, timeout=5) as resp:
        assert resp.status == 200


def test_the_line_protocol_listener_is_closed(server) -> None:
    # the rendered env leaves line.tcp.net.bind.to at QuestDB's default (0.0.0.0:9009): it would listen there
    assert "QDB_LINE_TCP_NET_BIND_TO" not in server["env"]
    with socket.socket() as probe:
        probe.settimeout(1)
        assert probe.connect_ex(("127.0.0.1", 9009)) != 0
