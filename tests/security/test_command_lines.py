"""No secret on any process command line (issue 16): for every shipped values set, and for the GitOps
render, no container command/args or exec probe holds a Secret-fed value after the kubelet's $(VAR)
expansion or a generated credential, and no command that any rendered shell script executes gets one in
its argv (each script is run for real with bash, every external command recorded: tests/security/
commandlines.py). Python scripts start no processes."""

from __future__ import annotations

import re

import pytest

from tests.harness import render_chart
from tests.harness.objects import chart_values, containers, pod_specs, subchart_values
from tests.harness.paths import CHART_DIR
from tests.security.commandlines import (
    MARKER,
    Script,
    command_lines,
    generated_values,
    run_recording,
    scripts,
    strings,
)

GITOPS = {"global": {"credentials": {"generate": False}}}
# values that reach scripts through values and must stay values (hostile, rendered without the schema)
HOSTILE = {
    "postgres": {"parameters": {"cluster_name": "$(POSTGRES_PASSWORD)"}},
    "neo4j": {"config": {"db.logs.query.path": "$(QMTL_NEO4J_PASSWORD)"}},
    "questdb": {"config": {"cairo.x": "$(QDB_PG_PASSWORD)"}},
}


def _renders(value_set):
    yield "chart-generated", render_chart(values_files=value_set.files)
    yield "gitops", render_chart(GITOPS, values_files=value_set.files)


def test_container_command_lines_hold_no_secret(value_set) -> None:
    # names the values give (user names in Secrets: the umbrella's and each subchart's values) are no secrets
    names = strings(chart_values(*value_set.files))
    names |= {
        s
        for sub in (CHART_DIR / "charts").iterdir()
        if (sub / "values.yaml").is_file()
        for s in strings(subchart_values(sub.name))
    }
    not_secret = names | {"SCRAM-SHA-256"}
    for label, rendered in _renders(value_set):
        generated = generated_values(rendered, not_secret)
        for where, argv in command_lines(rendered):
            line = "\0".join(argv)
            assert MARKER not in line, f"{label} {where}: a Secret-fed variable on the command line: {argv}"
            leaked = [v for v in generated if v in line]
            assert not leaked, f"{label} {where}: a generated credential on the command line"


def test_values_cannot_expand_a_secret_onto_a_command_line_or_into_a_setting() -> None:
    """Even without the schema: values that name a Secret-fed variable stay literal ($$(...))."""
    rendered = render_chart([HOSTILE], values_files=["values/prod.yaml"], extra_args=("--skip-schema-validation",))
    for where, argv in command_lines(rendered):
        assert MARKER not in "\0".join(argv), f"{where}: {argv}"
    settings = {"NEO4J_db_logs_query_path", "QDB_CAIRO_X"}  # the env vars the hostile settings become
    seen = set()
    for obj, spec in pod_specs(rendered):
        for c in containers(spec):
            for e in c.get("env") or []:
                if e["name"] in settings:
                    seen.add(e["name"])
                    assert re.fullmatch(r"\$\$\(\w+\)", e["value"]), f"{obj['metadata']['name']}: {e}"
    assert seen == settings


def test_rendered_shell_scripts_put_no_secret_in_any_commands_argv(value_set) -> None:
    ran = 0
    for label, rendered in _renders(value_set):
        for script in scripts(rendered):
            code, output, calls = run_recording(script)
            where = f"{label} {script.where}"
            if script.check:  # a helm test or a probe reports the (stubbed) servers' failures, and finishes
                assert code in (0, 1), f"{where}: exit {code}\n{output}"
            else:  # a Job or an init container must run to its end against the stubs
                assert code == 0, f"{where}: exit {code}\n{output}"
            assert calls, f"{where}: executed no command at all: nothing was checked"
            for call in calls:
                assert not [a for a in call if MARKER in a], f"{where}: a secret in the argv of {call[0]}: {call}"
            ran += 1
    if value_set.profile == "prod":
        assert ran >= 8, f"only {ran} shell scripts in a prod render"


def test_python_scripts_start_no_processes() -> None:
    rendered = render_chart(values_files=["values/prod.yaml"])
    texts = [t for cm in rendered.by_kind("ConfigMap") for n, t in (cm.get("data") or {}).items() if n.endswith(".py")]
    for _, spec in pod_specs(rendered):
        for c in containers(spec):
            argv = [*(c.get("command") or []), *(c.get("args") or [])]
            if argv[:2] == ["python3", "-c"]:
                texts.append(argv[2])
    assert len(texts) >= 4
    for text in texts:
        assert not re.search(r"\b(subprocess|os\.system|os\.exec\w*|os\.spawn\w*|os\.popen|pty\.spawn)\b", text)


@pytest.mark.parametrize(
    ("line", "leaks"),
    [
        ('mc admin user add qmtl "$USER" "$SECRET"', True),  # what provision.sh did before issue 16
        ("PGPASSWORD=\"$SECRET\" psql -c 'SELECT 1' | grep -q 1", False),
        ('printf \'%s\\n\' "$SECRET" | mc admin user add qmtl "$USER"', False),
        ('x="$(printenv SECRET)"; tool --password "$x"', True),
    ],
)
def test_the_recorder_sees_a_secret_passed_as_an_argument(line: str, leaks: bool) -> None:
    """The measure itself: a secret on an argv is found, one on stdin or in env is not."""
    script = Script("synthetic", ["bash", "-c", line], {}, {"USER": "u", "SECRET": f"{MARKER}1"}, check=False)
    code, output, calls = run_recording(script)
    assert code == 0, output
    assert calls
    assert any(MARKER in a for call in calls for a in call) == leaks, calls
