"""A stand-in for the few rpk commands the ControlBus provision.sh runs, against Apache Kafka.

Run as a script (tests/dependencies/test_controlbus_engine.py puts it on PATH as `rpk`); it imports
nothing from the test suite so each call starts fast. Strict about arguments: an rpk call the script
makes that this shim does not know fails the run. Connection from rpk's own env vars: RPK_BROKERS,
RPK_USER, RPK_PASS, RPK_SASL_MECHANISM (SASL_PLAINTEXT here). RPK_SHIM_LIST_LAGS_ONCE names a file of
topics the next `topic list` leaves out (a listing that lags a create), then deletes it. Defines no tests.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _admin():
    from confluent_kafka.admin import AdminClient

    return AdminClient(
        {
            "bootstrap.servers": os.environ["RPK_BROKERS"],
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": os.environ["RPK_SASL_MECHANISM"],
            "sasl.username": os.environ["RPK_USER"],
            "sasl.password": os.environ["RPK_PASS"],
        }
    )


def rpk_main(argv: list[str]) -> int:
    """The subset of rpk that provision.sh uses, with rpk's argument shapes."""
    from confluent_kafka.admin import (
        AclBinding,
        AclOperation,
        AclPermissionType,
        AlterConfigOpType,
        ConfigEntry,
        ConfigResource,
        NewTopic,
        ResourcePatternType,
        ResourceType,
    )

    log = Path(os.environ["RPK_SHIM_LOG"])
    with log.open("a") as fh:
        fh.write(" ".join(argv) + "\n")
    admin = _admin()
    cmd = argv[:3]
    if argv[:2] == ["cluster", "health"]:
        admin.list_topics(timeout=10)
        print("CLUSTER HEALTH OVERVIEW\n=======================\nHealthy:                          true")
        return 0
    if cmd == ["cluster", "config", "set"]:
        if len(argv) != 5:
            raise SystemExit(f"rpk cluster config set KEY VALUE: got {argv}")
        return 0  # Redpanda cluster settings: no Kafka counterpart (see the module docstring)
    if argv[:2] == ["topic", "list"]:
        print("NAME  PARTITIONS  REPLICAS")
        hidden = set()
        lagging = os.environ.get("RPK_SHIM_LIST_LAGS_ONCE")  # a file naming topics one listing misses
        if lagging and Path(lagging).exists():
            hidden = set(Path(lagging).read_text().split())
            Path(lagging).unlink()
        for name in sorted(set(admin.list_topics(timeout=10).topics) - hidden):
            print(f"{name}  1  1")
        return 0
    if argv[:2] == ["topic", "create"]:
        p = argparse.ArgumentParser(exit_on_error=False)
        p.add_argument("name")
        p.add_argument("--partitions", "-p", type=int, required=True)
        p.add_argument("--replicas", "-r", type=int, required=True)
        p.add_argument("--topic-config", "-c", action="append", default=[])
        a = p.parse_args(argv[2:])
        config = dict(kv.split("=", 1) for kv in a.topic_config)
        admin.create_topics([NewTopic(a.name, a.partitions, a.replicas, config=config)])[a.name].result(30)
        return 0
    if argv[:2] == ["topic", "alter-config"]:
        p = argparse.ArgumentParser(exit_on_error=False)
        p.add_argument("name")
        p.add_argument("--set", action="append", required=True)
        a = p.parse_args(argv[2:])
        entries = [
            ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
            for k, v in (kv.split("=", 1) for kv in a.set)
        ]
        res = ConfigResource(ResourceType.TOPIC, a.name, incremental_configs=entries)
        admin.incremental_alter_configs([res])[res].result(30)
        return 0
    if cmd == ["security", "user", "list"]:
        print("USERNAME")
        for name in sorted(admin.describe_user_scram_credentials().result(30)):
            print(name)
        return 0
    if cmd == ["security", "acl", "create"]:
        p = argparse.ArgumentParser(exit_on_error=False)
        g = p.add_mutually_exclusive_group(required=True)
        g.add_argument("--allow-principal")
        g.add_argument("--deny-principal")
        p.add_argument("--operation", required=True)
        r = p.add_mutually_exclusive_group(required=True)
        r.add_argument("--topic")
        r.add_argument("--group")
        r.add_argument("--transactional-id")
        r.add_argument("--cluster", action="store_true")
        p.add_argument("--resource-pattern-type", choices=["literal", "prefixed"], default="literal")
        a = p.parse_args(argv[3:])
        if a.topic is not None:
            rtype, name = ResourceType.TOPIC, a.topic
        elif a.group is not None:
            rtype, name = ResourceType.GROUP, a.group
        elif a.transactional_id is not None:
            rtype, name = ResourceType.TRANSACTIONAL_ID, a.transactional_id
        else:
            rtype, name = ResourceType.BROKER, "kafka-cluster"
        principal = a.allow_principal or a.deny_principal
        permission = AclPermissionType.ALLOW if a.allow_principal else AclPermissionType.DENY
        pattern = ResourcePatternType[a.resource_pattern_type.upper()]
        bindings = [
            AclBinding(rtype, name, pattern, principal, "*", AclOperation[op.upper()], permission)
            for op in a.operation.split(",")
        ]
        for fut in admin.create_acls(bindings).values():
            fut.result(30)
        return 0
    raise SystemExit(f"rpk shim: provision.sh called an rpk command this shim does not know: {argv}")


if __name__ == "__main__":
    sys.exit(rpk_main(sys.argv[1:]))
