"""README.md and docs/*.md as the operator reads them: the two commands first, links that resolve, values
examples that render, and the CI workflow offered for copying."""

from __future__ import annotations

import os
import re
import shlex
import subprocess

import pytest
import yaml
from qmtl_stack import pins

from tests.docs.blocks import DOCUMENTS, Block, all_blocks, parse
from tests.harness import render_chart, run_helm
from tests.harness.paths import REPO_ROOT, pinned

README = REPO_ROOT / "README.md"
BLOCKS = all_blocks()


# --- the two commands ------------------------------------------------------------------------------------


def test_readme_begins_with_the_two_commands() -> None:
    text = README.read_text()
    blocks = parse(README)
    first, second = blocks[0], blocks[1]
    assert first.text.strip() == "scripts/up.sh", "the README's first command is `scripts/up.sh`"
    assert second.text.strip() == "scripts/test.sh", "the README's second command is `scripts/test.sh`"
    lines = text.splitlines()
    headings = [i + 1 for i, line in enumerate(lines) if line.startswith("## ")]
    assert headings, "the README has sections"
    assert second.line < headings[0], "both commands come before the first section"
    assert sum(1 for line in lines[: second.line] if line.startswith("# ")) == 1, "only the title precedes them"


@pytest.mark.parametrize("script", ["scripts/up.sh", "scripts/test.sh"])
def test_the_two_commands_exist_and_are_executable(script: str) -> None:
    path = REPO_ROOT / script
    assert path.is_file(), f"{script} is missing"
    assert os.access(path, os.X_OK), f"{script} is not executable"
    # both answer --help without doing anything else (the README points readers at it)
    result = subprocess.run([str(path), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout


# --- links -------------------------------------------------------------------------------------------------

_LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)\)")
_ANCHOR = re.compile(r'<a id="(?P<id>[^"]+)"></a>')


def _anchors(text: str) -> set[str]:
    """Explicit <a id> anchors plus GitHub's heading slugs."""
    out = {m.group("id") for m in _ANCHOR.finditer(text)}
    for line in text.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            slug = re.sub(r"[^a-z0-9 _-]", "", title).replace(" ", "-")
            out.add(slug)
    return out


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_links_resolve(document) -> None:
    text = document.read_text()
    text_outside_code = re.sub(r"```.*?```", "", text, flags=re.S)
    broken = []
    for m in _LINK.finditer(text_outside_code):
        target = m.group("target")
        if re.match(r"^[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        file = (document.parent / path).resolve() if path else document
        if not file.exists() or (anchor and file.suffix == ".md" and anchor not in _anchors(file.read_text())):
            broken.append(target)
    assert not broken, f"{document.name}: links that go nowhere: {broken}"


# --- values examples ---------------------------------------------------------------------------------------

VALUES_BLOCKS = [b for b in BLOCKS if b.kind == "values"]


def test_values_examples_are_marked() -> None:
    assert VALUES_BLOCKS, "the docs should keep their values examples under test (`test: values: FILE`)"


@pytest.mark.parametrize("block", VALUES_BLOCKS, ids=lambda b: b.id)
def test_values_example_renders_and_takes_effect(block: Block) -> None:
    assert block.lang == "yaml", f"{block.where}: a values example is a yaml block"
    base = REPO_ROOT / block.arg
    assert base.is_file(), f"{block.where}: base values file {block.arg} does not exist"
    example = yaml.safe_load(block.text)
    assert isinstance(example, dict), f"{block.where}: not a values map"
    assert example, f"{block.where}: empty"
    rendered = render_chart(example, values_files=[base])
    assert rendered.objects
    assert rendered.text != render_chart(values_files=[base]).text, f"{block.where} changes nothing in the render"
    # every string the example sets (images, hosts, Secret names...) reaches the rendered objects
    for value in _strings(example):
        assert value in rendered.text, f"{block.where}: {value!r} does not appear in the render"


def _strings(data) -> list[str]:
    if isinstance(data, dict):
        return [s for v in data.values() for s in _strings(v)]
    if isinstance(data, list):
        return [s for v in data for s in _strings(v)]
    return [data] if isinstance(data, str) and len(data) > 2 else []


# --- the CI workflow ---------------------------------------------------------------------------------------

WORKFLOWS = [b for b in BLOCKS if b.kind == "github-workflow"]


def _workflow() -> tuple[Block, dict]:
    assert len(WORKFLOWS) == 1, "the README offers one GitHub Actions workflow, marked `test: github-workflow`"
    block = WORKFLOWS[0]
    return block, yaml.safe_load(block.text)


def _steps(workflow: dict, job: str) -> list[dict]:
    return workflow["jobs"][job]["steps"]


def test_workflow_has_the_three_jobs() -> None:
    _, wf = _workflow()
    assert set(wf["jobs"]) == {"lint", "render-tests", "smoke-kind"}
    assert wf["jobs"]["smoke-kind"]["needs"] == "render-tests"
    for name, job in wf["jobs"].items():
        assert job["runs-on"].startswith("ubuntu-"), name
        assert job["steps"][0]["uses"].startswith("actions/checkout@"), name


def test_workflow_pins_are_the_projects_pins() -> None:
    _, wf = _workflow()
    helm = pinned("helm")
    assert wf["jobs"]["lint"]["strategy"]["matrix"]["helm"] == [f"v{helm['helm3']}", f"v{helm['helm4']}"]
    requires = pins.value("project.requires-python")
    go_directives = {
        re.search(r"^go (\d+\.\d+)", p.read_text(), re.M).group(1)
        for p in (REPO_ROOT / "scripts" / "cluster").glob("*/go.mod")
    }
    for job in ("render-tests", "smoke-kind"):
        withs = {s["uses"].split("@")[0]: s.get("with", {}) for s in _steps(wf, job) if "uses" in s}
        assert withs["actions/setup-python"]["python-version"] in requires
        assert {withs["actions/setup-go"]["go-version"]} == go_directives


def test_workflow_run_steps_are_valid_bash_and_call_scripts_that_exist() -> None:
    block, wf = _workflow()
    for job in wf["jobs"].values():
        for step in job["steps"]:
            if "run" not in step:
                continue
            check = subprocess.run(["bash", "-n"], input=step["run"], capture_output=True, text=True)
            assert check.returncode == 0, f"{block.where}: {step.get('name')}: {check.stderr}"
            for word in shlex.split(step["run"].replace("$(", " ").replace(")", " "), comments=True):
                if word.startswith("scripts/") or word.startswith(".venv/"):
                    if word.startswith(".venv/"):
                        continue  # made by scripts/setup.sh
                    path = REPO_ROOT / word
                    assert path.is_file(), f"{block.where}: {word} does not exist"
                    assert os.access(path, os.X_OK), f"{block.where}: {word} is not executable"


def test_workflow_lint_job_passes_here(doc_env: dict[str, str]) -> None:
    """The lint job's commands, with the Helm under test as `helm`: what the job runs on GitHub."""
    block, wf = _workflow()
    steps = [s["run"] for s in _steps(wf, "lint") if "run" in s]
    assert steps
    for script in steps:
        result = subprocess.run(
            ["bash", "-e", "-c", script],
            cwd=REPO_ROOT,
            env=doc_env,
            capture_output=True,
            text=True,
            timeout=600,
            stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 0, f"{block.where}: the lint job fails:\n{(result.stdout + result.stderr)[-4000:]}"
        linted = re.findall(r"^== (values/\S+)$", result.stdout, re.M)
        assert sorted(linted) == sorted(f"values/{p.name}" for p in (REPO_ROOT / "values").glob("*.yaml"))


# --- the Argo CD example (GitOps) --------------------------------------------------------------------------

ARGOCD = [b for b in BLOCKS if b.kind == "argocd-application"]


def test_the_argocd_example_renders_deterministically_without_generated_secrets() -> None:
    """Rendered the way Argo CD renders it (helm template with the Application's release name, namespace,
    value files and parameters), twice: byte-identical, and no Secret of the chart's own in it."""
    assert len(ARGOCD) == 1, "the README offers one Argo CD Application, marked `test: argocd-application`"
    block = ARGOCD[0]
    app = yaml.safe_load(block.text)
    assert (app["apiVersion"], app["kind"]) == ("argoproj.io/v1alpha1", "Application"), block.where
    source, helm = app["spec"]["source"], app["spec"]["source"]["helm"]
    chart = (REPO_ROOT / source["path"]).resolve()
    assert chart == REPO_ROOT.resolve(), f"{block.where}: the chart is the repository root"
    args = ["template", helm["releaseName"], str(chart), "--namespace", app["spec"]["destination"]["namespace"]]
    for name in helm["valueFiles"]:
        assert (chart / name).is_file(), f"{block.where}: value file {name} does not exist"
        args += ["-f", str(chart / name)]
    parameters = {p["name"]: p["value"] for p in helm.get("parameters") or []}
    assert parameters.get("global.credentials.generate") == "false", f"{block.where}: GitOps needs the switch"
    for name, value in parameters.items():  # Argo CD passes parameters as helm --set
        args += ["--set", f"{name}={value}"]
    first, second = run_helm(*args), run_helm(*args)
    assert first.ok, first.stderr
    assert first.stdout == second.stdout
    assert "\nkind: Secret\n" not in first.stdout
