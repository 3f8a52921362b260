"""The Redis restore of docs/upgrading-from-compose.md, run for real.

A Redis like the Compose bundles' (no ACL, no persistence) gets QMTL-shaped keys; `redis-cli --rdb` takes
the snapshot; the upgrade notes' own block (marker `test: engine: redis-restore`) turns it into the AOF
base in an empty data directory; then a Redis started with the chart's rendered redis.conf and ACL file
(the prod render) must serve the keys to the services' own users, fenced as the chart fences them."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import redis as redis_py
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.docs.blocks import all_blocks, run_shell
from tests.engines import pins
from tests.engines._proc import free_port
from tests.engines.fixtures import local_engine
from tests.harness import render_chart
from tests.harness.objects import redis_acl, resolved_env
from tests.harness.paths import VALUES_DIR

pytestmark = pytest.mark.engines

PROD = (VALUES_DIR / "prod.yaml",)


def _redis_server() -> str:
    return local_engine(lambda: pins.redis_binary().path)


def _client(port: int, **kwargs) -> redis_py.Redis:
    """No retries: redis-py's default backoff would turn every refused connection into seconds of sleep."""
    return redis_py.Redis(port=port, socket_timeout=5, retry=Retry(NoBackoff(), 0), **kwargs)


def _start(args: list[str], port: int, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen(args, stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"redis-server exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            _client(port).ping()
            return proc
        except redis_py.exceptions.AuthenticationError:
            return proc  # up, and refusing the default user
        except redis_py.exceptions.ResponseError:
            return proc
        except redis_py.exceptions.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    pytest.fail(f"redis-server did not answer on {port}:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _restore_block() -> str:
    (block,) = [b for b in all_blocks() if b.kind == "engine" and b.arg == "redis-restore"]
    assert block.path.name == "upgrading-from-compose.md"
    return block.text


def _chart_conf(conf: str, port: int, data: Path, acl: Path) -> str:
    """The rendered redis.conf, with what differs on this machine: port, bind, dir, aclfile."""
    out = []
    for line in conf.splitlines():
        key = line.split(" ", 1)[0]
        out.append(
            {"port": f"port {port}", "bind": "bind 127.0.0.1", "dir": f"dir {data}", "aclfile": f"aclfile {acl}"}.get(
                key, line
            )
        )
    assert {"appendonly yes", f"dir {data}", f"aclfile {acl}"} <= set(out), conf
    return "\n".join(out) + "\n"


def test_an_rdb_snapshot_restored_as_the_docs_say_is_served_by_the_charts_redis(tmp_path: Path) -> None:
    server = _redis_server()
    rendered = render_chart(values_files=PROD)
    conf = rendered.get("ConfigMap", "redis-config")["data"]["redis.conf"]
    secret = rendered.get("Secret", "qmtl-redis-users")["stringData"]
    databases = {"seamless-coordinator": 3, "gateway": 0}
    assert re.search(r"\+select\|3\b", redis_acl(rendered))
    assert "appendonly yes" in conf

    # the old bundle's Redis: no users, no persistence; QMTL-shaped keys in the services' DBs
    old_dir = tmp_path / "old"
    old_dir.mkdir()
    old_port = free_port()
    old = _start(
        [
            server,
            "--port",
            str(old_port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(old_dir),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        old_port,
        tmp_path / "old.log",
    )
    try:
        _client(old_port, db=3).hset("seamless:lease:BTC-1m", mapping={"owner": "w1", "until": "99"})
        _client(old_port, db=0).set("strategy:abc", "dag")
        cli = shutil.which("redis-cli", path=os.path.dirname(server)) or shutil.which("redis-cli")
        assert cli, "redis-cli is missing beside redis-server"
        snap = subprocess.run(
            [cli, "-h", "127.0.0.1", "-p", str(old_port), "--rdb", "dump.rdb"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert snap.returncode == 0, snap.stderr
    finally:
        _stop(old)

    # the docs' block, with the helper pod's mount point replaced by a local directory
    data = tmp_path / "pvc"
    data.mkdir()
    (data / "appendonlydir").mkdir()  # what a previous start of the chart's Redis leaves: an empty AOF
    block = _restore_block()
    assert "data=/data" in block
    run = run_shell(block.replace("data=/data", f"data={data}"), cwd=tmp_path, timeout=60)
    assert run.returncode == 0, run.stderr

    acl = tmp_path / "users.acl"
    acl.write_text(redis_acl(rendered))
    port = free_port()
    (tmp_path / "redis.conf").write_text(_chart_conf(conf, port, data, acl))
    for attempt in range(2):  # the second start reads what the first one wrote to the AOF
        new = _start([server, str(tmp_path / "redis.conf")], port, tmp_path / f"new-{attempt}.log")
        try:
            coord = _client(
                port,
                username="seamless-coordinator",
                password=secret["seamless-coordinator"],
                db=databases["seamless-coordinator"],
                decode_responses=True,
            )
            assert coord.hgetall("seamless:lease:BTC-1m") == {"owner": "w1", "until": "99"}
            gateway = _client(
                port, username="gateway", password=secret["gateway"], db=databases["gateway"], decode_responses=True
            )
            assert gateway.get("strategy:abc") == "dag"
            if attempt == 0:
                coord.set("seamless:after-restore", "1")
            else:
                assert coord.get("seamless:after-restore") == "1"
            # fenced as the chart fences it: the coordinator cannot read the gateway's keys
            with pytest.raises(redis_py.exceptions.NoPermissionError):
                coord.get("strategy:abc")
            with pytest.raises(redis_py.exceptions.AuthenticationError):
                _client(port).ping()
        finally:
            _stop(new)


# --- QuestDB: export from the old server, import into one configured as the chart configures it ---------


def _questdb_config_from_render(rendered) -> dict[str, str]:
    """server.conf keys of the chart's QuestDB (its QDB_* env), credentials resolved from the rendered
    Secret; listeners stay where the test server binds them."""
    sts = rendered.get("StatefulSet", "questdb")
    (container,) = [c for c in sts["spec"]["template"]["spec"]["containers"] if c["name"] == "questdb"]
    conf: dict[str, str] = {}
    for name, value in resolved_env(rendered, container).items():
        if name.startswith("QDB_") and not name.endswith("_NET_BIND_TO"):
            conf[name[4:].lower().replace("_", ".")] = value
    return conf


def _wait_for_rows(server, count: int, table: str = "seamless_bars") -> None:
    deadline = time.monotonic() + 30
    seen = None
    while time.monotonic() < deadline:
        with server.connect() as db:
            seen = db.execute(f"SELECT count() FROM {table}").fetchone()[0]
        if seen == count:
            return
        time.sleep(0.2)
    pytest.fail(f"{table} on {server.host}:{server.http_port} has {seen} rows, not {count}, after 30 s")


def test_questdb_tables_copied_as_the_docs_say_arrive_with_timestamp_and_partitioning(
    questdb_server, tmp_path: Path
) -> None:
    def curl() -> None:
        if not shutil.which("curl"):
            raise pins.EngineUnavailable("curl is not installed (the documented copy uses it)")

    local_engine(curl)  # skip, or fail under QMTL_REQUIRE_ENGINES=1
    rendered = render_chart(values_files=PROD)
    conf = _questdb_config_from_render(rendered)
    user, password = conf.pop("pg.user"), conf.pop("pg.password")
    assert conf["http.user"] == user
    assert conf["http.password"] == password
    old = questdb_server()  # like the Compose bundle's: HTTP without authentication
    new = questdb_server(pg_user=user, pg_password=password, config=conf)
    with old.connect() as db:
        db.execute("DROP TABLE IF EXISTS seamless_bars")
        db.execute(
            "CREATE TABLE seamless_bars (ts TIMESTAMP, symbol SYMBOL, close DOUBLE) TIMESTAMP(ts) PARTITION BY DAY"
        )
        db.execute(
            "INSERT INTO seamless_bars VALUES ('2026-01-01T00:00:00.000000Z', 'BTC', 1.5), "
            "('2026-01-02T00:00:00.000000Z', 'ETH', 2.5), ('2026-01-02T00:01:00.000000Z', 'BTC', 3.5)"
        )
    _wait_for_rows(old, 3)  # WAL tables apply committed rows asynchronously
    (block,) = [b for b in all_blocks() if b.kind == "engine" and b.arg == "questdb-copy"]
    env = {
        **os.environ,
        "old": f"http://{old.host}:{old.http_port}",
        "new": f"http://{new.host}:{new.http_port}",
        "user": user,
        "pass": password,
    }
    run = run_shell(block.text, cwd=tmp_path, env=env, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert '"rowsRejected":0' in run.stdout.replace(" ", ""), run.stdout
    _wait_for_rows(new, 3)
    with new.connect() as db:
        rows = db.execute("SELECT ts, symbol, close FROM seamless_bars ORDER BY ts").fetchall()
        meta = db.execute(
            "SELECT designatedTimestamp, partitionBy FROM tables() WHERE table_name = 'seamless_bars'"
        ).fetchone()
    assert [(r[1], r[2]) for r in rows] == [("BTC", 1.5), ("ETH", 2.5), ("BTC", 3.5)]
    assert meta == ("ts", "DAY")
    # the new server's HTTP API takes only the coordinator's credentials: the import without them fails
    anonymous = subprocess.run(
        [
            "curl",
            "-fsS",
            "-F",
            f"data=@{tmp_path / 'seamless_bars.csv'}",
            f"http://{new.host}:{new.http_port}/imp?name=seamless_other",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert anonymous.returncode != 0


# --- MinIO: mirror the old bucket into the new bucket's prefix with the coordinator's keys ---------------


def test_minio_objects_mirrored_as_the_docs_say_land_under_the_prefix(minio_server, tmp_path: Path) -> None:
    mc_env = local_engine(minio_server.mc_env)
    rendered = render_chart(values_files=PROD)
    # provision the server as the chart's Job does: its rendered script and policy, its env
    for name, text in rendered.get("ConfigMap", "qmtl-minio-provision")["data"].items():
        (tmp_path / name).write_text(text)
    (job,) = rendered.get("Job", "minio-provision")["spec"]["template"]["spec"]["containers"]
    keys = resolved_env(rendered, job)  # the Job's env: the coordinator's keys, the bucket, the policy's name
    assert {"QMTL_S3_ACCESS_KEY", "QMTL_S3_SECRET_KEY", "QMTL_S3_BUCKET"} <= set(keys)
    provision = subprocess.run(
        ["bash", str(tmp_path / "provision.sh")],
        capture_output=True,
        text=True,
        timeout=180,
        env={
            **mc_env,
            **keys,
            "MINIO_ENDPOINT": minio_server.url,
            "MINIO_ROOT_USER": minio_server.root_user,
            "MINIO_ROOT_PASSWORD": minio_server.root_password,
            "QMTL_PROVISION_WAIT_SECONDS": "30",
            "TMPDIR": str(tmp_path),
        },
    )
    assert provision.returncode == 0, provision.stdout + provision.stderr
    # the old bundle's bucket, written with root credentials (what the old coordinator used)
    minio_server.make_bucket("seamless-artifacts")
    root = minio_server.client()
    objects = {"run-1/frame.parquet": b"a" * 10, "run-1/meta.json": b"{}", "run-2/frame.parquet": b"b" * 20}
    for key, body in objects.items():
        root.put_object("seamless-artifacts", key, io.BytesIO(body), len(body))

    (block,) = [b for b in all_blocks() if b.kind == "engine" and b.arg == "minio-mirror"]
    env = {
        **mc_env,
        "MC_CONFIG_DIR": str(tmp_path / "mc"),
        "old_url": minio_server.url,
        "old_user": minio_server.root_user,
        "old_pass": minio_server.root_password,
        "new_url": minio_server.url,
        "ak": keys["QMTL_S3_ACCESS_KEY"],
        "sk": keys["QMTL_S3_SECRET_KEY"],
    }
    run = run_shell(block.text, cwd=tmp_path, env=env, timeout=180)
    assert run.returncode == 0, run.stdout + run.stderr
    coordinator = minio_server.client(keys["QMTL_S3_ACCESS_KEY"], keys["QMTL_S3_SECRET_KEY"])
    for key, body in objects.items():
        assert coordinator.get_object("qmtl-seamless", f"artifacts/{key}").read() == body
    # the copy went through the coordinator's user: the same mirror to the bucket's root is refused
    # the copy goes through the coordinator's user: aimed outside its prefix it is refused, and the documented
    # comparison catches it (mc mirror itself exits 0 there)
    elsewhere = block.text.replace("new/qmtl-seamless/artifacts/", "new/qmtl-seamless/elsewhere/")
    refused = subprocess.run(
        ["bash", "-e", "-u", "-c", elsewhere], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
    )
    assert refused.returncode != 0, refused.stdout
    assert "Access Denied" in refused.stdout + refused.stderr, refused.stdout + refused.stderr
    assert not list(root.list_objects("qmtl-seamless", prefix="elsewhere/", recursive=True))
