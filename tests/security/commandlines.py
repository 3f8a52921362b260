"""What every rendered container puts on a process command line, as the kubelet and a shell would.

  marked_env(rendered, container)   the container's env as the kubelet builds it, with every value that comes
                                    from a Secret (secretKeyRef) replaced by a unique marker
  expand(text, env)                 the kubelet's $(VAR) expansion ($$ is a literal $)
  scripts(rendered)                 every shell script a container or exec probe runs: (where, argv, files)
  run_recording(script, env)        runs one with bash, every external command replaced by a recorder (a
                                    handful of local tools, never a network client, are then run for real):
                                    -> (exit status, output, [argv of each command the script executed])

A secret reaches a command line when a marker (a Secret-fed variable) or a generated Secret value appears in
a container's expanded command/args, or in the argv of any command one of its scripts executes.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from qmtl_stack.render import Rendered

from tests.harness.objects import containers, env, pod_specs

MARKER = "qmtlsecretmarker"
_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
SHELLS = ("sh", "bash")
# Local tools a script may use to compute or read, run for real (their argv is recorded first). Anything
# else (every client of a server, grep/awk over a client's output, env, timeout) only has its argv recorded
# and "succeeds" with no output, so that every wait loop ends at once.
LOCAL_TOOLS = (
    "printenv",
    "true",
    "sha256sum",
    "dirname",
    "basename",
    "cat",
    "head",
    "tr",
    "od",
    "cut",
    "wc",
    "date",
    "mv",
    "cp",
    "rm",
    "mkdir",
)
# Env vars from Secrets that name an account rather than prove it (a user name, an access key, a SASL
# mechanism): they may be arguments (mc admin user add ALIAS USER). Every other Secret-fed value is a secret.
IDENTIFIER = re.compile(r"(^RPK_USER$|_USER$|_USERNAME$|_ACCESS_KEY$|_MECHANISM$)")
_HANDLER = r"""
command_not_found_handle() {
  { printf '%s\0' "$@"; printf '\n'; } >> "$QMTL_ARGV_LOG"
  case "$1" in
    sleep) return 0 ;;
    TOOLS) "$QMTL_REAL_BIN/$@"; return $? ;;
    *) "$QMTL_REAL_BIN/cat" > /dev/null; return 0 ;;  # read what is piped in, as a client would
  esac
}
"""


def expand(text: str, variables: Mapping[str, str]) -> str:
    def one(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return variables[name] if name in variables else match.group(0)

    return _REF.sub(one, text)


def marked_env(rendered: Rendered, container: Mapping) -> dict[str, str]:
    """name -> value in the kubelet's order; Secret-fed values are markers, dependent values expanded."""
    out: dict[str, str] = {}
    for index, (name, entry) in enumerate(env(container).items()):
        source = entry.get("valueFrom")
        if source is None:
            out[name] = expand(entry.get("value", ""), out)
        elif "secretKeyRef" in source:
            prefix = "account" if IDENTIFIER.search(name) else MARKER
            out[name] = f"{prefix}{index}x{abs(hash((container.get('name'), name))) % 10**8}"
        else:
            out[name] = f"field-{name.lower()}"
    return out


@dataclasses.dataclass
class Script:
    where: str  # kind/name container (probe)
    argv: list[str]  # the shell command as rendered
    files: dict[str, str]  # mount path of each ConfigMap file the container mounts -> its text
    env: dict[str, str]
    check: bool  # a helm test check or a probe (it may report a failure), not a Job or an init container


def _configmap_files(rendered: Rendered, spec: Mapping, container: Mapping) -> dict[str, str]:
    volumes = {v["name"]: v for v in spec.get("volumes") or []}
    files = {}
    for mount in container.get("volumeMounts") or []:
        source = (volumes.get(mount["name"]) or {}).get("configMap")
        if not source:
            continue
        data = rendered.get("ConfigMap", source["name"]).get("data") or {}
        items = source.get("items") or [{"key": k, "path": k} for k in data]
        if "subPath" in mount:
            files[mount["mountPath"]] = data[mount["subPath"]]
            continue
        for item in items:
            files[f"{mount['mountPath'].rstrip('/')}/{item['path']}"] = data[item["key"]]
    return files


def scripts(rendered: Rendered) -> list[Script]:
    found = []
    for obj, spec in pod_specs(rendered):
        check = obj["kind"] == "Pod"
        for c in containers(spec):
            variables = marked_env(rendered, c)
            files = _configmap_files(rendered, spec, c)
            where = f"{obj['kind']}/{obj['metadata']['name']} {c['name']}"
            commands = [(where, [*(c.get("command") or []), *(c.get("args") or [])], check)]
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                command = ((c.get(probe) or {}).get("exec") or {}).get("command")
                if command:
                    commands.append((f"{where} ({probe})", list(command), True))
            for label, argv, is_check in commands:
                if argv and argv[0] in SHELLS:
                    found.append(Script(label, [expand(a, variables) for a in argv], files, variables, is_check))
    return found


def run_recording(script: Script, timeout: float = 60) -> tuple[int, str, list[list[str]]]:
    """Run the script with bash in a private root: the container's ConfigMap files under the same paths
    below it (paths in the argv and in the files are rewritten), every other mount an empty directory."""
    real = Path(tempfile.mkdtemp(prefix="qmtl-argv-bin-"))
    root = Path(tempfile.mkdtemp(prefix="qmtl-argv-root-"))
    try:
        for tool in LOCAL_TOOLS:
            found = shutil.which(tool)
            if found:
                (real / tool).symlink_to(found)
        mounts = sorted({str(Path(p).parent) for p in script.files} | {"/tmp", "/etc/redis/acl"}, key=len, reverse=True)
        # one pass: a path that starts with a mount path moves below `root` (nothing is moved twice)
        where = re.compile(r"(?<![A-Za-z0-9_.-])(" + "|".join(map(re.escape, mounts)) + r")(?=[/\s\"'}:]|$)")

        def relocate(text: str) -> str:
            return where.sub(lambda m: f"{root}{m.group(1)}", text)

        for path, text in script.files.items():
            target = root / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(relocate(text))
        (root / "tmp").mkdir(exist_ok=True)
        (root / "etc/redis/acl").mkdir(parents=True, exist_ok=True)  # the emptyDir the Redis init script writes
        handler = root / "handler.sh"
        handler.write_text(_HANDLER.replace("TOOLS", "|".join(LOCAL_TOOLS)))
        log = root / "argv.log"
        log.touch()
        empty = root / "empty-path"
        empty.mkdir()
        variables = {
            **script.env,
            "PATH": str(empty),
            "HOME": str(root / "tmp"),
            "TMPDIR": str(root / "tmp"),
            "BASH_ENV": str(handler),
            "QMTL_ARGV_LOG": str(log),
            "QMTL_REAL_BIN": str(real),
        }
        argv = ["/bin/bash", *[relocate(a) for a in script.argv[1:]]]
        done = subprocess.run(
            argv, env=variables, capture_output=True, text=True, timeout=timeout, cwd=root, stdin=subprocess.DEVNULL
        )
        calls = [line.rstrip("\0").split("\0") for line in log.read_text().split("\n") if line]
        return done.returncode, done.stdout + done.stderr, calls
    finally:
        shutil.rmtree(real, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)


def generated_values(rendered: Rendered, not_secret: set[str]) -> set[str]:
    """Every value of the render's Secrets that is a credential (not a name the values gave, 8+ chars), and
    each part of a composite one (name:password:mechanism)."""
    import base64

    out: set[str] = set()
    for secret in rendered.by_kind("Secret"):
        data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
        data.update(secret.get("stringData") or {})
        for value in data.values():
            for part in {value, *value.split(":")}:
                if len(part) >= 8 and part not in not_secret:
                    out.add(part)
    return out


def strings(data) -> set[str]:
    if isinstance(data, dict):
        return {s for v in data.values() for s in strings(v)}
    if isinstance(data, list):
        return {s for v in data for s in strings(v)}
    return {data} if isinstance(data, str) else set()


def command_lines(rendered: Rendered) -> list[tuple[str, list[str]]]:
    """(where, argv after $(VAR) expansion) of every container command/args and exec probe."""
    out = []
    for obj, spec in pod_specs(rendered):
        for c in containers(spec):
            variables = marked_env(rendered, c)
            where = f"{obj['kind']}/{obj['metadata']['name']} {c['name']}"
            argv = [*(c.get("command") or []), *(c.get("args") or [])]
            out.append((where, [expand(a, variables) for a in argv]))
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                command = ((c.get(probe) or {}).get("exec") or {}).get("command")
                if command:
                    out.append((f"{where} ({probe})", [expand(a, variables) for a in command]))
            for hook in ("postStart", "preStop"):
                command = (((c.get("lifecycle") or {}).get(hook) or {}).get("exec") or {}).get("command")
                if command:
                    out.append((f"{where} ({hook})", [expand(a, variables) for a in command]))
    return out


__all__ = ["MARKER", "command_lines", "generated_values", "marked_env", "run_recording", "scripts", "strings"]
