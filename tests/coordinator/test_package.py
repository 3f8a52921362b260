"""The coordinator's package, lock and image build file (images/seamless-coordinator): one exact pin per
package, the lock is what .venv runs, and the Containerfile follows the project's image convention."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.harness.paths import REPO_ROOT, pyproject

IMAGE = REPO_ROOT / "images" / "seamless-coordinator"
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9.+!-]+)$")


def lock() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (IMAGE / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = PIN.match(line)
        assert m, f"requirements.lock: {line!r} is not an exact pin name==version"
        name = canonicalize_name(m["name"])
        assert name not in pins, f"requirements.lock pins {name} twice"
        pins[name] = m["version"]
    return pins


def test_the_lock_pins_every_dependency_of_the_package_and_of_what_it_pins() -> None:
    pins = lock()
    package = tomllib.loads((IMAGE / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(r) for r in package["dependencies"]]
    wanted += [Requirement(r) for r in package["optional-dependencies"]["speedups"]]
    for dist in list(pins):
        if dist == "setuptools":
            continue
        requires = importlib.metadata.distribution(dist).requires or []
        wanted += [r for r in map(Requirement, requires) if r.marker is None or r.marker.evaluate({"extra": ""})]
    for req in wanted:
        name = canonicalize_name(req.name)
        assert name in pins, f"{name} (needed by the coordinator) is not pinned in requirements.lock"
        assert req.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} does not satisfy {req}"


def test_the_venv_runs_exactly_the_locked_versions() -> None:
    for name, version in lock().items():
        assert importlib.metadata.version(name) == version, f"{name}: .venv has another version than the lock"


def test_no_version_is_written_twice() -> None:
    """The test extra must not pin what the coordinator's lock pins (scripts/setup.sh installs both)."""
    pins = lock()
    extra = [Requirement(r) for r in pyproject()["project"]["optional-dependencies"]["test"]]
    twice = sorted(canonicalize_name(r.name) for r in extra if canonicalize_name(r.name) in pins)
    assert not twice, f"pinned both in pyproject.toml's test extra and in requirements.lock: {twice}"


def test_containerfile_follows_the_image_convention() -> None:
    text = (IMAGE / "Containerfile").read_text()
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    froms = [line for line in lines if line.startswith("FROM ")]
    assert lines[0].startswith("ARG BASE_IMAGE=")
    assert len(froms) == 2, "multi-stage"
    assert all("${BASE_IMAGE}" in line for line in froms), "both stages from BASE_IMAGE"
    assert "COPY wheels/ /wheels/" in lines
    installs = [line for line in text.split("&&") if "pip install" in line]
    assert installs
    assert all("--no-index" in line for line in installs), "builds install from wheels/ only"
    assert "COPY --from=build /opt/seamless-coordinator /opt/seamless-coordinator" in lines
    assert any(line.startswith("ENV PATH=/opt/seamless-coordinator/bin:$PATH") for line in lines)
    assert "PYTHONDONTWRITEBYTECODE=1" in text
    assert "USER 10001:10001" in lines
    final = lines[lines.index(froms[1]) :]
    assert not [line for line in final if line.startswith("RUN ")], "the final stage runs nothing (no shell)"
    (entrypoint,) = [line for line in final if line.startswith("ENTRYPOINT ")]
    assert entrypoint == 'ENTRYPOINT ["/opt/seamless-coordinator/bin/seamless-coordinator"]', "exec form"


def test_console_script_is_the_package_entry_point() -> None:
    package = tomllib.loads((IMAGE / "pyproject.toml").read_text())["project"]
    assert package["scripts"] == {"seamless-coordinator": "seamless_coordinator.main:main"}
    (entry,) = [e for e in importlib.metadata.entry_points(group="console_scripts") if e.name == "seamless-coordinator"]
    assert entry.value == "seamless_coordinator.main:main"
