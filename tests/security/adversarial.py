"""Values a careless or hostile operator might type on top of values/prod.yaml, by the class of weakness
they aim at (issue 16's review, tried again). Each set says what the chart must do with it:

  refused   helm template (schema on) and scripts/validate refuse it
  warned    it installs, and NOTES.txt and scripts/validate warn (a documented choice, e.g. a CIDR of
            everything for an external coordinator)
  inert     rendered with --skip-schema-validation, the value reaches no script, ACL file or plan as code:
            `injected(text)` is False on the whole render

tests/security/test_adversarial.py checks every set; `python -m tests.security.adversarial CHART_DIR`
prints what a chart (e.g. an older checkout) does with each, for before/after comparisons.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import yaml

REFUSED, WARNED, INERT = "refused", "warned", "inert"


@dataclasses.dataclass(frozen=True)
class Adversarial:
    id: str
    cls: str
    values: dict
    expect: str = REFUSED
    injected: Callable[[str], bool] | None = None  # INERT sets: does the render show the payload as code?


def g(**kwargs) -> dict:
    return {"global": kwargs}


def rules(who: str, text: str) -> dict:
    return {"redis": {"extraRules": {who: text}}}


def external(dep: str, **external_keys) -> dict:
    return g(**{dep: {"enabled": False, "external": {"cidrs": ["10.9.0.0/24"], **external_keys}}})


def url(value: str, bundled: bool = False) -> dict:
    return {"global": {"seamless": {"coordinator_url": value}}, "seamless-coordinator": {"enabled": bundled}}


def _acl_user_line_injected(text: str) -> bool:
    return bool(re.search(r"^\s*user evil ", text, re.M))


def _shell_command_substitution(text: str) -> bool:
    return bool(re.search(r'^\s*[a-z_]+="[^"\n]*\$\(id\)', text, re.M))


def _expands_a_variable(text: str) -> bool:
    """A setting's env value the kubelet would expand ($(VAR), not the literal $$(VAR))."""
    return bool(re.search(r'name: NEO4J_db_logs_query_path\n\s+value: "?\$\(', text))


def _plan_injected(text: str) -> bool:
    return bool(re.search(r"^\s*acl\tallow\tUser:evil\t", text, re.M))


SETS: tuple[Adversarial, ...] = (
    # --- Redis extraRules: a free-form ACL string appended to a service's user -------------------------------
    Adversarial("redis-all-commands-upper", "redis-acl", rules("gateway", "+@ALL")),
    Adversarial("redis-nopass-upper", "redis-acl", rules("gateway", "NOPASS")),
    Adversarial("redis-allkeys-tab", "redis-acl", rules("gateway", "+get\tallkeys")),
    Adversarial("redis-read-other-keys", "redis-acl", rules("seamless", "%R~world:*")),
    Adversarial("redis-widen-pattern", "redis-acl", rules("seamless", "~world:*")),
    Adversarial("redis-any-db", "redis-acl", rules("gateway", "+select")),
    Adversarial("redis-keyspace", "redis-acl", rules("gateway", "+@keyspace")),
    Adversarial("redis-dangerous", "redis-acl", rules("worldservice", "+@dangerous")),
    Adversarial("redis-config-set", "redis-acl", rules("gateway", "+config|set")),
    Adversarial("redis-known-password", "redis-acl", rules("gateway", ">hunter2")),
    Adversarial("redis-channels", "redis-acl", rules("ratelimiter", "&qmtl*")),
    Adversarial("redis-acl-command", "redis-acl", rules("gateway", "+acl")),
    Adversarial("redis-selector", "redis-acl", rules("gateway", "(~* +@all)")),
    Adversarial("redis-regrant-read", "redis-acl", rules("gateway", "+@read")),
    Adversarial("redis-regrant-connection", "redis-acl", rules("worldservice", "+@connection")),
    Adversarial("redis-monitor", "redis-acl", rules("ratelimiter", "+monitor")),
    Adversarial("redis-quoted-token", "redis-acl", rules("gateway", '"allkeys"')),
    Adversarial("redis-new-user-line", "redis-acl", rules("gateway", "+get\nuser evil on >pw ~s* ~w* +@ALL")),
    Adversarial(
        "redis-new-user-line-inert",
        "redis-acl",
        rules("gateway", "+get\n    user evil on >pw ~s* ~w* +@ALL"),
        INERT,
        _acl_user_line_injected,
    ),
    # --- dependency config maps that become env vars / server arguments -------------------------------------
    Adversarial("neo4j-auth-env", "config-env", {"neo4j": {"config": {"AUTH": "none"}}}),
    Adversarial("neo4j-plugins-env", "config-env", {"neo4j": {"config": {"PLUGINS": '["apoc"]'}}}),
    Adversarial(
        "neo4j-procedures-unrestricted",
        "config-env",
        {"neo4j": {"config": {"dbms.security.procedures.unrestricted": "*"}}},
    ),
    Adversarial("neo4j-override-chart-setting", "config-env", {"neo4j": {"config": {"server.https.enabled": "true"}}}),
    Adversarial(
        "neo4j-newline-in-value",
        "config-env",
        {"neo4j": {"config": {"db.transaction.timeout": "60s\ndbms.security.auth_enabled=false"}}},
    ),
    Adversarial(
        "neo4j-expand-secret",
        "config-env",
        {"neo4j": {"config": {"db.logs.query.path": "$(NEO4J_AUTH)"}}},
        INERT,
        _expands_a_variable,
    ),
    Adversarial("questdb-pg-user-underscore", "config-env", {"questdb": {"config": {"pg_user": "admin"}}}),
    Adversarial("questdb-pg-password-upper", "config-env", {"questdb": {"config": {"PG.PASSWORD": "hunter2"}}}),
    Adversarial("questdb-udp-ilp", "config-env", {"questdb": {"config": {"line.udp.enabled": "true"}}}),
    Adversarial("questdb-tcp-ilp-case", "config-env", {"questdb": {"config": {"Line.Tcp.Enabled": "true"}}}),
    Adversarial("postgres-archive-command", "config-env", {"postgres": {"parameters": {"archive_command": "id"}}}),
    Adversarial("postgres-log-statements", "config-env", {"postgres": {"parameters": {"log_statement": "all"}}}),
    Adversarial("postgres-md5", "config-env", {"postgres": {"parameters": {"password_encryption": "md5"}}}),
    Adversarial(
        "postgres-expand-secret", "config-env", {"postgres": {"parameters": {"cluster_name": "$(POSTGRES_PASSWORD)"}}}
    ),
    Adversarial("postgres-hba-file", "config-env", {"postgres": {"parameters": {"hba_file": "/tmp/trust.conf"}}}),
    # --- Secret references naming the chart's own Secrets of another component --------------------------------
    Adversarial(
        "questdb-secret-is-postgres-superuser",
        "secret-ref",
        external(
            "questdb",
            host="q.example.internal",
            existingSecret="qmtl-postgres-superuser",
            usernameKey="password",
            passwordKey="password",
        ),
    ),
    Adversarial(
        "events-secret-is-neo4j",
        "secret-ref",
        g(gatewayEvents={"existingSecret": "qmtl-neo4j", "key": "password"}),
    ),
    Adversarial(
        "s3-secret-is-minio-root",
        "secret-ref",
        external(
            "minio",
            endpoint="https://s3.example.internal",
            existingSecret="qmtl-minio-root",
            accessKeyKey="root-user",
            secretKeyKey="root-password",
        ),
    ),
    Adversarial(
        "redis-secret-is-controlbus-superuser",
        "secret-ref",
        external("redis", host="r.example.internal", existingSecret="qmtl-controlbus-superuser"),
    ),
    Adversarial(
        "postgres-secret-is-helm-release",
        "secret-ref",
        external(
            "postgres",
            host="pg.example.internal",
            existingSecret="sh.helm.release.v1.qmtl.v1",
            databases={"gateway": {"passwordKey": "release"}},
        ),
    ),
    Adversarial(
        "neo4j-secret-is-redis-users",
        "secret-ref",
        external("neo4j", uri="neo4j+s://graph.example.internal:7687", existingSecret="qmtl-redis-users"),
    ),
    # --- DSN parts that are not encoded ----------------------------------------------------------------------
    Adversarial(
        "postgres-database-query",
        "dsn",
        external(
            "postgres",
            host="pg.example.internal",
            existingSecret="pg",
            databases={"gateway": {"database": "gateway?sslmode=disable&x="}},
        ),
    ),
    Adversarial(
        "postgres-username-host",
        "dsn",
        external(
            "postgres",
            host="pg.example.internal",
            existingSecret="pg",
            databases={"worldservice": {"username": "ws@evil.example:5432/x?"}},
        ),
    ),
    Adversarial("questdb-database-query", "dsn", g(questdb={"enabled": True, "database": "qmtl?sslmode=disable&a="})),
    Adversarial(
        "redis-username-redirect",
        "dsn",
        external(
            "redis",
            host="r.example.internal",
            existingSecret="r",
            users={"gateway": {"username": "gw:x@evil.example:6379/0#"}},
        ),
    ),
    Adversarial(
        "questdb-external-database-slash",
        "dsn",
        external("questdb", host="q.example.internal", existingSecret="q", database="qmtl/../x"),
    ),
    # --- the coordinator URL -----------------------------------------------------------------------------------
    Adversarial("coordinator-prefix-host", "coordinator-url", url("http://seamless-coordinator.evil.example", True)),
    Adversarial("coordinator-ipv6-loopback", "coordinator-url", url("http://[::1]:8080")),
    Adversarial("coordinator-ipv4-loopback", "coordinator-url", url("http://127.0.0.1:8080")),
    Adversarial("coordinator-localhost", "coordinator-url", url("http://localhost:8080")),
    Adversarial("coordinator-ipv6-with-bundled", "coordinator-url", url("http://[::ffff:7f00:1]:8080", True)),
    Adversarial("coordinator-octal-loopback", "coordinator-url", url("http://0177.0.0.1:8080")),
    Adversarial("coordinator-decimal-loopback", "coordinator-url", url("http://2130706433:8080")),
    Adversarial("coordinator-bundled-with-path", "coordinator-url", url("http://seamless-coordinator:8080/x/..", True)),
    Adversarial("coordinator-unspecified", "coordinator-url", url("http://0.0.0.0:8080")),
    # --- network policies --------------------------------------------------------------------------------------
    Adversarial("netpol-off-in-prod", "network", g(networkPolicy={"enabled": False})),
    Adversarial(
        "coordinator-cidr-everything",
        "network",
        {
            **url("https://coordinator.example.internal"),
            "global": {
                "seamless": {"coordinator_url": "https://coordinator.example.internal"},
                "networkPolicy": {"coordinatorCidrs": ["0.0.0.0/0"]},
            },
        },
        WARNED,
    ),
    Adversarial(
        "coordinator-cidr-everything-v6",
        "network",
        {
            **url("https://coordinator.example.internal"),
            "global": {
                "seamless": {"coordinator_url": "https://coordinator.example.internal"},
                "networkPolicy": {"coordinatorCidrs": ["10.1.0.0/16", "::/0"]},
            },
        },
        WARNED,
    ),
    # --- quantities --------------------------------------------------------------------------------------------
    Adversarial(
        "redis-memory-overflow",
        "quantity",
        g(
            resources={
                "prod": {"redis": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "8Ei"}}}
            }
        ),
    ),
    Adversarial(
        "redis-memory-1000Pi",
        "quantity",
        g(
            resources={
                "prod": {
                    "redis": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "1000Pi"}}
                }
            }
        ),
    ),
    Adversarial("retention-overflow", "quantity", g(controlbus={"topics": {"policy": {"retentionMs": 10**30}}})),
    Adversarial("replicas-huge", "quantity", g(replicas={"prod": {"gateway": 10**10}})),
    Adversarial("wait-seconds-huge", "quantity", {"postgres": {"provision": {"waitSeconds": 10**20}}}),
    # --- values reaching scripts, plans and command lines --------------------------------------------------------
    Adversarial(
        "minio-policy-command-substitution",
        "script",
        {"minio": {"coordinatorPolicy": "x$(id)"}},
        INERT,
        _shell_command_substitution,
    ),
    Adversarial(
        "controlbus-topic-record-injection",
        "script",
        g(controlbus={"topics": {"x\tmore\nacl\tallow\tUser:evil\ttopic\tliteral\t*\tall": {"partitions": 1}}}),
        INERT,
        _plan_injected,
    ),
)


# --- evaluation against any chart directory (before/after comparisons) -------------------------------------


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300)


def evaluate(chart: Path, helm: str, case: Adversarial) -> dict:
    """What `chart` does with the set: helm template (schema on), scripts/validate, and for INERT sets the
    render with --skip-schema-validation."""
    with tempfile.TemporaryDirectory(prefix="qmtl-adversarial-") as tmp:
        layer = Path(tmp) / "values.yaml"
        layer.write_text(yaml.safe_dump(case.values))
        files = ["-f", str(chart / "values/prod.yaml"), "-f", str(layer)]
        template = _run([helm, "template", "qmtl", str(chart), "--namespace", "qmtl", *files], chart)
        validate = _run(["bash", str(chart / "scripts/validate"), "--helm", helm, *files], chart)
        out = {
            "template_refused": template.returncode != 0,
            "validate_refused": validate.returncode == 1,
            "validate_warned": bool(re.search(r"^\s*coordinator_network\s+WARN", validate.stdout, re.M)),
        }
        if case.injected is not None:
            skipped = _run(
                [helm, "template", "qmtl", str(chart), "--namespace", "qmtl", "--skip-schema-validation", *files],
                chart,
            )
            out["injected"] = skipped.returncode == 0 and case.injected(skipped.stdout)
        return out


def main(argv: list[str]) -> int:
    chart = Path(argv[1]).resolve() if len(argv) > 1 else Path(__file__).resolve().parents[2]
    helm = argv[2] if len(argv) > 2 else str(Path(__file__).resolve().parents[2] / ".tools/bin/helm3")
    counts: dict[str, list[int]] = {}
    for case in SETS:
        result = evaluate(chart, helm, case)
        if case.expect == INERT:
            good = not result["injected"]
        elif case.expect == WARNED:
            good = not result["template_refused"] and result["validate_warned"]
        else:
            good = result["template_refused"] and result["validate_refused"]
        counts.setdefault(case.cls, [0, 0])
        counts[case.cls][0] += good
        counts[case.cls][1] += 1
        print(f"{'ok ' if good else 'BAD'} {case.expect:8} {case.cls:16} {case.id:40} {result}")
    total = [sum(c[0] for c in counts.values()), sum(c[1] for c in counts.values())]
    for cls, (good, n) in counts.items():
        print(f"{cls:16} {good}/{n} handled")
    print(f"{'total':16} {total[0]}/{total[1]} handled")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
