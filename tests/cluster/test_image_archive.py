"""scripts/cluster/image.py writes the docker-archive `scripts/local-cluster.sh import` loads: the layout of
`podman save --format docker-archive`, reproducible byte for byte. (No cluster needed.)"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tarfile
from pathlib import Path

from tests.harness.paths import REPO_ROOT

IMAGE_PY = REPO_ROOT / "scripts" / "cluster" / "image.py"


def write_archive(tmp_path: Path, name: str, payload: bytes, user: str = "10001:10001") -> subprocess.CompletedProcess:
    binary = tmp_path / "probe"
    binary.write_bytes(payload)
    return subprocess.run(
        [sys.executable, str(IMAGE_PY), "--tag", "localhost/qmtl-local/probe:t", "--out", str(tmp_path / name),
         "--file", f"/bin/probe={binary}", "--entrypoint", "/bin/probe", "--user", user],
        capture_output=True, text=True,
    )  # fmt: skip


def test_archive_layout_matches_docker_archive(tmp_path: Path) -> None:
    assert write_archive(tmp_path, "a.tar", b"\x7fELF-not-really").returncode == 0
    with tarfile.open(tmp_path / "a.tar") as archive:
        manifest = json.load(archive.extractfile("manifest.json"))
        assert len(manifest) == 1
        entry = manifest[0]
        assert entry["RepoTags"] == ["localhost/qmtl-local/probe:t"]
        config_bytes = archive.extractfile(entry["Config"]).read()
        layer_bytes = archive.extractfile(entry["Layers"][0]).read()
    config = json.loads(config_bytes)
    # the names are the content's digests, as podman writes them
    assert entry["Config"] == hashlib.sha256(config_bytes).hexdigest() + ".json"
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(layer_bytes).hexdigest()]
    assert config["config"]["User"] == "10001:10001"
    assert config["config"]["Entrypoint"] == ["/bin/probe"]
    (tmp_path / "layer.tar").write_bytes(layer_bytes)
    with tarfile.open(tmp_path / "layer.tar") as layer:
        members = {m.name: m for m in layer.getmembers()}
    assert set(members) == {"bin", "bin/probe"}
    assert members["bin/probe"].mode == 0o755
    assert members["bin/probe"].uid == 0
    assert members["bin/probe"].mtime == 0


def test_archive_is_reproducible(tmp_path: Path) -> None:
    assert write_archive(tmp_path, "a.tar", b"same").returncode == 0
    assert write_archive(tmp_path, "b.tar", b"same").returncode == 0
    assert write_archive(tmp_path, "c.tar", b"other").returncode == 0
    a, b, c = ((tmp_path / n).read_bytes() for n in ("a.tar", "b.tar", "c.tar"))
    assert a == b
    assert a != c


def test_archive_refuses_a_named_user(tmp_path: Path) -> None:
    result = write_archive(tmp_path, "a.tar", b"x", user="app")
    assert result.returncode == 2
    assert "--user 'app': want numeric UID:GID" in result.stderr
