"""Write a single-layer container image as a docker-archive (the format of `podman save --format
docker-archive`, which `scripts/local-cluster.sh import` loads into the real node's containerd).

The local cluster's own images are one static binary each (pause, coredns, netcheck): no base image, no
shell, nothing to build in a container engine. The archive is reproducible: every timestamp is 0 and the
files are owned by root, so the same inputs give the same image ID.

Usage:
  python3 scripts/cluster/image.py --tag localhost/qmtl-local/netcheck:local --out netcheck.tar \\
      --file /netcheck=.tools/bin/netcheck --entrypoint /netcheck --user 10001:10001
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tarfile
from pathlib import Path


def layer_tar(files: list[tuple[str, Path]]) -> bytes:
    """An uncompressed layer: each IMAGE_PATH=HOST_FILE as a root-owned 0755 file, parent dirs 0755."""
    buf = io.BytesIO()
    seen_dirs: set[str] = set()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for image_path, host_file in sorted(files):
            parts = image_path.strip("/").split("/")
            for depth in range(1, len(parts)):
                d = "/".join(parts[:depth])
                if d not in seen_dirs:
                    seen_dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
                    tar.addfile(info)
            data = host_file.read_bytes()
            info = tarfile.TarInfo("/".join(parts))
            info.size, info.mode, info.mtime = len(data), 0o755, 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def build(tag: str, files: list[tuple[str, Path]], entrypoint: list[str], user: str, env: list[str]) -> bytes:
    layer = layer_tar(files)
    diff_id = hashlib.sha256(layer).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {"Entrypoint": entrypoint, "User": user, "Env": env, "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "scripts/cluster/image.py"}],
    }
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_id = hashlib.sha256(config_bytes).hexdigest()
    manifest = [{"Config": f"{config_id}.json", "RepoTags": [tag], "Layers": [f"{diff_id}/layer.tar"]}]
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (
            (f"{diff_id}/layer.tar", layer),
            (f"{config_id}.json", config_bytes),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tag", required=True, help="image reference, e.g. localhost/qmtl-local/pause:3.10.2")
    parser.add_argument("--out", required=True, type=Path, help="docker-archive to write")
    parser.add_argument("--file", action="append", required=True, metavar="IMAGE_PATH=HOST_FILE")
    parser.add_argument("--entrypoint", required=True, nargs="+")
    parser.add_argument("--user", required=True, help="numeric UID:GID the image runs as")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args(argv)
    files = []
    for spec in args.file:
        image_path, sep, host = spec.partition("=")
        if not sep or not image_path.startswith("/") or not Path(host).is_file():
            parser.error(f"--file {spec!r}: want /PATH/IN/IMAGE=EXISTING_HOST_FILE")
        files.append((image_path, Path(host)))
    uid, _, gid = args.user.partition(":")
    if not (uid.isdigit() and gid.isdigit()):
        parser.error(f"--user {args.user!r}: want numeric UID:GID (Pod Security checks runAsNonRoot on numbers)")
    partial = args.out.with_suffix(".partial")
    partial.write_bytes(build(args.tag, files, args.entrypoint, args.user, args.env))
    partial.replace(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
