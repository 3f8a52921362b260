"""The RENDERED ControlBus plan applied by the RENDERED provision.sh to a real Apache Kafka broker
(tests/engines: KRaft, an anonymous PLAINTEXT listener like Redpanda's internal one, a SASL/SCRAM
listener, StandardAuthorizer), then checked from each principal's side.

rpk (Redpanda's CLI) cannot be installed here (its Go module is not served by the module proxy), so the
script runs against `rpk_shim`: a minimal stand-in for exactly the rpk commands provision.sh calls,
implemented with confluent-kafka's admin API and strict about its arguments. What this proves: the
script's logic (idempotency, SCRAM-user enumeration, every plan record applied) and the plan's meaning
under Kafka's authorizer. What it does not prove: rpk's own flag parsing, and Redpanda itself.

Where Kafka and Redpanda differ: Kafka's anonymous principal is `User:ANONYMOUS`, Redpanda's is `User:`
with an empty name that no ACL can name; the plan only uses `User:*`, which matches both. Kafka's
StandardAuthorizer and Redpanda's authorizer both let superusers bypass ACLs, let DENY win over ALLOW,
and imply DESCRIBE from READ/WRITE/DELETE. `rpk cluster config set` (Redpanda cluster settings) has no
Kafka counterpart; the shim only records it.
"""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dependencies.common import DEV_PROFILE, QMTL_OFF
from tests.engines import fixtures, servers
from tests.harness import render_chart

pytestmark = pytest.mark.engines

VALUES = [QMTL_OFF, DEV_PROFILE]
SHIM = Path(__file__).with_name("test_controlbus_rpk_shim.py")


# ------------------------------------------------------------------------------------------ fixtures
def write_plan_files(folder: Path, plan: str, script: str) -> Path:
    """FOLDER with plan.tsv, provision.sh and bin/rpk (the shim), ready for provision()."""
    (folder / "plan.tsv").write_text(plan)
    (folder / "provision.sh").write_text(script)
    rpk = folder / "bin" / "rpk"
    rpk.parent.mkdir()
    rpk.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{SHIM}" "$@"\n')
    rpk.chmod(rpk.stat().st_mode | stat.S_IEXEC)
    return folder


@pytest.fixture(scope="module")
def plan_files(tmp_path_factory) -> Path:
    data = render_chart(VALUES).get("ConfigMap", "controlbus-plan")["data"]
    return write_plan_files(tmp_path_factory.mktemp("controlbus-plan"), data["plan.tsv"], data["provision.sh"])


@pytest.fixture(scope="module")
def kafka():
    broker = fixtures.local_engine(servers.start_kafka)
    yield broker
    broker.stop()


def provision(kafka, plan_files: Path, **extra_env: str) -> subprocess.CompletedProcess:
    env = {
        **extra_env,
        "PATH": f"{plan_files / 'bin'}:{os.environ['PATH']}",
        "RPK_BROKERS": kafka.external_bootstrap,
        "RPK_USER": kafka.admin_user,
        "RPK_PASS": kafka.admin_password,
        "RPK_SASL_MECHANISM": kafka.sasl_mechanism,
        "RPK_SHIM_LOG": str(plan_files / "rpk.log"),
        "CONTROLBUS_WAIT_SECONDS": "30",
    }
    result = subprocess.run(
        ["bash", str(plan_files / "provision.sh"), str(plan_files / "plan.tsv")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def provisioned(kafka, plan_files):
    """An unrelated SASL user exists before provisioning (it must end up denied)."""
    intruder = ("intruder", secrets.token_hex(12))
    kafka.create_scram_user(*intruder)
    first = provision(kafka, plan_files)
    return {"intruder": intruder, "first": first}


def controlbus_topics(plan_files: Path) -> list[str]:
    return [
        line.split("\t")[1] for line in (plan_files / "plan.tsv").read_text().splitlines() if line.startswith("topic\t")
    ]


# ------------------------------------------------------------------------------------------ tests
def test_provisioning_creates_every_controlbus_topic_with_its_retention(kafka, plan_files, provisioned) -> None:
    topics = controlbus_topics(plan_files)
    assert len(topics) == 7
    for topic in topics:
        assert kafka.as_admin().topic_error(topic) is None
        assert kafka.topic_config(topic)["retention.ms"] == "604800000"


def test_anonymous_internal_client_produces_and_consumes_every_controlbus_topic(kafka, plan_files, provisioned) -> None:
    from confluent_kafka import Consumer

    topics = controlbus_topics(plan_files)
    anonymous = kafka.as_anonymous()
    for topic in topics:
        assert anonymous.produce(topic, f"qmtl-{topic}".encode()) is None, topic
    # One consumer in the gateway's group on every topic (one group join instead of seven).
    consumer = Consumer(
        {**kafka.client_config(), "group.id": "gateway", "auto.offset.reset": "earliest", "enable.auto.commit": False}
    )
    seen: dict[str, bytes] = {}
    try:
        consumer.subscribe(topics)
        for _ in range(120):
            msg = consumer.poll(0.5)
            if msg is None:
                if len(seen) == len(topics):
                    break
                continue
            assert not msg.error() or msg.error().name() == "_PARTITION_EOF", msg.error()
            if not msg.error():
                seen[msg.topic()] = msg.value()
    finally:
        consumer.close()
    assert seen == {t: f"qmtl-{t}".encode() for t in topics}


def test_sasl_principal_is_denied_the_controlbus_topics(kafka, plan_files, provisioned) -> None:
    intruder = kafka.as_user(*provisioned["intruder"])
    assert intruder.authenticates()
    for topic in controlbus_topics(plan_files):
        assert intruder.produce(topic) == "TOPIC_AUTHORIZATION_FAILED", topic
        assert intruder.topic_error(topic) == "TOPIC_AUTHORIZATION_FAILED", topic
    _, error = intruder.consume("policy", timeout=5)
    assert error in ("TOPIC_AUTHORIZATION_FAILED", "GROUP_AUTHORIZATION_FAILED")
    assert intruder.create_topic("intruder_topic") == "TOPIC_AUTHORIZATION_FAILED"


def test_dagmanager_can_create_describe_and_delete_data_topics_but_not_controlbus_ones(
    kafka, plan_files, provisioned
) -> None:
    anonymous = kafka.as_anonymous()
    data_topic = f"btcusdt_raw_{secrets.token_hex(3)}_v1"  # topic.py: {asset}_{node_type}_{hash}_{version}
    assert anonymous.create_topic(data_topic, partitions=1, replication_factor=1) is None
    assert anonymous.topic_error(data_topic) is None
    assert anonymous.produce(data_topic) is None
    assert anonymous.delete_topic(data_topic) is None
    for topic in controlbus_topics(plan_files):
        assert anonymous.delete_topic(topic) == "TOPIC_AUTHORIZATION_FAILED", topic
    assert kafka.as_admin().topic_error("policy") is None


def test_rerun_is_idempotent_and_denies_users_created_since(kafka, plan_files, provisioned) -> None:
    """A SCRAM user created after a run matches the `User:*` grants until the next run (helm upgrade
    re-runs the hook): the documented window. The rerun closes it and changes nothing else."""
    before = {str(b) for b in kafka.describe_acls()}
    late = ("late", secrets.token_hex(12))
    kafka.create_scram_user(*late)
    assert kafka.as_user(*late).produce("policy") is None  # the window, before the rerun
    provision(kafka, plan_files)
    after = {str(b) for b in kafka.describe_acls()}
    assert before <= after
    assert {b for b in after - before if "late" not in b} == set()
    assert kafka.as_user(*late).produce("policy") == "TOPIC_AUTHORIZATION_FAILED"
    assert kafka.as_anonymous().produce("policy") is None


def test_a_topic_created_after_the_listing_is_treated_as_existing(kafka, plan_files, provisioned, tmp_path) -> None:
    """The listing can miss a topic that exists by the time of the create (a concurrent run, or a
    listing that lags): the create fails with TOPIC_ALREADY_EXISTS; the run re-lists and carries on."""
    topic = controlbus_topics(plan_files)[-1]
    lag = tmp_path / "lagging-topics"
    lag.write_text(topic)
    result = provision(kafka, plan_files, RPK_SHIM_LIST_LAGS_ONCE=str(lag))
    assert not lag.exists()  # the shim's first listing did leave it out
    assert f"topic {topic} appeared since the listing" in result.stdout
    assert kafka.topic_config(topic)["retention.ms"] == "604800000"


def _transactional_producer(kafka, transactional_id: str):
    from confluent_kafka import Producer

    producer = Producer({**kafka.client_config(), "transactional.id": transactional_id})
    producer.init_transactions(30)
    return producer


def _commit_one(producer, topic: str) -> None:
    producer.begin_transaction()
    producer.produce(topic, b"commit-log record")
    producer.commit_transaction(30)


def test_gateway_replicas_each_commit_their_own_transactions(kafka, plan_files, provisioned) -> None:
    """QMTL's gateway opens its commit-log producer with the configured transactional id; the chart makes
    it one per replica ("<prefix><pod name>", the plan grants the prefix). Two replicas commit side by
    side and neither fences the other; the same id in two producers does fence (why one per replica);
    an id outside the grant is refused."""
    from confluent_kafka import KafkaException

    plan = [line.split("\t") for line in (plan_files / "plan.tsv").read_text().splitlines()]
    grants = [r for r in plan if r[:4] == ["acl", "allow", "User:*", "transactional-id"]]
    assert [r[4] for r in grants] == ["prefixed"]
    prefix = grants[0][5]
    topic = next(r[1] for r in plan if r[0] == "topic" and r[1].endswith("gateway.ingest"))

    first, second = (_transactional_producer(kafka, f"{prefix}gateway-{secrets.token_hex(3)}") for _ in "ab")
    _commit_one(first, topic)
    _commit_one(second, topic)
    _commit_one(first, topic)  # still its own: the second replica did not fence it

    shared = f"{prefix}shared-{secrets.token_hex(3)}"
    older = _transactional_producer(kafka, shared)
    _transactional_producer(kafka, shared)
    with pytest.raises(KafkaException) as fenced:
        _commit_one(older, topic)
    assert fenced.value.args[0].fatal() or "fenced" in str(fenced.value).lower(), fenced.value

    with pytest.raises(KafkaException) as denied:
        _transactional_producer(kafka, f"not-{prefix}{secrets.token_hex(3)}")
    assert "TRANSACTIONAL_ID_AUTHORIZATION_FAILED" in str(denied.value), denied.value
