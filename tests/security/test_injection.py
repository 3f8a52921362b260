"""Values reach scripts, ACL files and plans only through env vars or encodings safe there, so that even a
render that skips the schema (helm --skip-schema-validation) injects nothing: the same hostile text (shell
quoting and command substitution, a newline that would start an ACL user or a plan record, TABs that would
add plan fields) in every free-form value that the chart turns into such text; then every rendered shell
script is run (tests/security/commandlines.py) and none runs the payload's command, the Redis ACL file has
the chart's users only, and the ControlBus plan the chart's records only."""

from __future__ import annotations

from tests.harness import render_chart
from tests.harness.objects import redis_acl
from tests.harness.paths import VALUES_DIR
from tests.security.commandlines import run_recording, scripts

PAYLOAD = "x';touch pwned;'\"$(touch pwned)`touch pwned`\n    user evil on nopass ~* +@all\n\tacl\tallow\tUser:evil\t"
HOSTILE = {
    "global": {
        "controlbus": {
            "topicPrefix": f"p{PAYLOAD}",
            "topicPrefixAcknowledged": True,
            "dataTopicPrefix": f"d{PAYLOAD}",
            "topics": {f"t{PAYLOAD}": {"partitions": 1, "retentionMs": 1}},
        },
    },
    "redis": {"extraRules": {"gateway": f"+eval {PAYLOAD}", "seamless": PAYLOAD}},
    "minio": {"coordinatorPolicy": f"policy{PAYLOAD}", "coordinatorUser": f"user{PAYLOAD}"},
    "controlbus": {"superuser": f"admin{PAYLOAD}"},
    "questdb": {"username": f"qdb{PAYLOAD}", "config": {"cairo.x": PAYLOAD}},
    "neo4j": {"config": {"db.x": PAYLOAD}},
    "postgres": {"parameters": {"work_mem": PAYLOAD}},
}
SKIP = ("--skip-schema-validation",)
PROD = [VALUES_DIR / "prod.yaml"]


def _hostile():
    return render_chart([HOSTILE], values_files=PROD, extra_args=SKIP)


def test_the_payload_reaches_the_render() -> None:
    """So that the tests below are not vacuous: the values are there, as data."""
    rendered = _hostile()
    (job,) = rendered.get("Job", "minio-provision")["spec"]["template"]["spec"]["containers"]
    literal = f"policy{PAYLOAD}".replace("$", "$$")  # for the kubelet: no $(VAR) expansion
    assert {e["name"]: e.get("value") for e in job["env"]}["QMTL_MINIO_POLICY"] == literal
    gateway = next(line for line in redis_acl(rendered).splitlines() if line.startswith("user gateway "))
    assert "$(touch" in gateway
    assert "User:evil" in gateway
    assert "User%3Aevil" in rendered.get("ConfigMap", "controlbus-plan")["data"]["plan.tsv"]


def test_no_rendered_shell_script_runs_the_payload() -> None:
    rendered = _hostile()
    found = scripts(rendered)
    assert len(found) >= 8
    for script in found:
        _, output, calls = run_recording(script)
        assert not [c for c in calls if c[0] == "touch"], f"{script.where} ran the payload: {output}"
        assert "pwned" not in output.split(), script.where


def test_the_redis_acl_files_hold_the_charts_users_only() -> None:
    baseline, rendered = render_chart(values_files=PROD), _hostile()
    for instance in ("redis",):
        want = [line.split()[1] for line in redis_acl(baseline, instance).splitlines()]
        got = [line.split()[1] for line in redis_acl(rendered, instance).splitlines()]
        assert got == want, "an ACL line was added or lost"


def test_the_controlbus_plan_holds_the_charts_records_only() -> None:
    def records(rendered) -> list[list[str]]:
        plan = rendered.get("ConfigMap", "controlbus-plan")["data"]["plan.tsv"]
        return [line.split("\t") for line in plan.splitlines() if line and not line.startswith("#")]

    baseline, hostile = records(render_chart(values_files=PROD)), records(_hostile())
    shape = {(r[0], len(r)) for r in baseline}
    assert {(r[0], len(r)) for r in hostile} <= shape, "a record with other fields"
    assert sum(r[0] == "topic" for r in hostile) == sum(r[0] == "topic" for r in baseline) + 1
    assert not [r for r in hostile if "User:evil" in r]
