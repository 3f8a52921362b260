"""credentials: create, once, every credential the chart would generate, as the Secrets it references.

For GitOps (Argo CD, Flux, any `helm template | kubectl apply`), where Helm's lookup sees no cluster and
every render would make new passwords while PostgreSQL, Neo4j and Redpanda keep the first ones in their
volumes: install with global.credentials.generate: false (the chart then renders none of these Secrets
and only references them by name) and create them once with this command, before the first sync.

  scripts/credentials -f values/prod.yaml [-f overlay.yaml ...] --namespace qmtl > qmtl-credentials.yaml
  scripts/credentials -f values/prod.yaml --namespace qmtl --apply     # kubectl create, refuses existing ones

Which Secrets and keys: exactly the ones the chart generates for these values (it is rendered twice, with
global.credentials.generate true and false; the Secrets only the first holds are its generated ones), with
the values that render made: passwords from Helm's randAlphaNum (crypto/rand), user names from the values.
Helm's own labels and annotations are dropped (Helm does not manage them). The manifest holds the
passwords: keep it out of version control (encrypt it with SOPS or Sealed Secrets, or use --apply).
--apply pipes the manifest to `kubectl create -f -` (stdin: no secret on a command line), after checking
that none of the Secrets exists yet (created once; use --skip-existing to create only the missing ones).
Exit status: 0 done, 1 refused (some exist), 2 the values, the chart, helm or kubectl cannot be used.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import TextIO

import yaml
from qmtl_stack.helm import Helm, HelmNotFound, find_helm
from qmtl_stack.paths import CHART_DIR
from qmtl_stack.render import Rendered, RenderError, render_chart

# Labels Helm owns; anything else the chart puts on its Secrets (part-of, component, ...) is kept.
HELM_LABELS = ("app.kubernetes.io/managed-by", "helm.sh/chart")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="credentials",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-f", "--values", action="append", default=[], type=Path, metavar="FILE")
    p.add_argument("--namespace", required=True, help="the release namespace (the Secrets go there)")
    p.add_argument("--release", default="qmtl")
    p.add_argument("--chart", type=Path, default=CHART_DIR)
    p.add_argument("--helm", help="helm binary (default: $QMTL_HELM, .tools/bin/helm3, helm)")
    p.add_argument("--apply", action="store_true", help="create them with kubectl (refuses existing ones)")
    p.add_argument("--skip-existing", action="store_true", help="with --apply: create only the missing ones")
    p.add_argument("--kubectl", default="kubectl", help="kubectl binary for --apply")
    return p


class CannotRender(Exception):
    pass


def _secrets(rendered: Rendered) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in rendered.objects if o.get("kind") == "Secret"}


def generated_secrets(chart_dir: Path, helm: Helm, files: list[Path], release: str, namespace: str) -> list[dict]:
    """The Secrets the chart generates for these values, as plain manifests (no Helm metadata)."""
    renders = {}
    for generate in (True, False):
        try:
            rendered = render_chart(
                {"global": {"credentials": {"generate": generate}}},
                files,
                release=release,
                namespace=namespace,
                helm=helm,
                chart_dir=chart_dir,
                cache=False,  # every run makes new credentials
            )
        except RenderError as error:
            raise CannotRender(f"the chart does not render these values:\n{error.stderr.strip()}") from error
        renders[generate] = _secrets(rendered)
    out = []
    for name in sorted(set(renders[True]) - set(renders[False])):
        source = renders[True][name]
        labels = {k: v for k, v in (source["metadata"].get("labels") or {}).items() if k not in HELM_LABELS}
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "type": source.get("type", "Opaque"),
        }
        for field in ("data", "stringData"):
            if source.get(field):
                secret[field] = source[field]
        out.append(secret)
    return out


def manifest(secrets: list[dict]) -> str:
    return "".join("---\n" + yaml.safe_dump(s, sort_keys=False) for s in secrets)


def apply(secrets: list[dict], kubectl: str, namespace: str, skip_existing: bool, err: TextIO) -> int:
    existing = []
    for s in secrets:
        name = s["metadata"]["name"]
        found = subprocess.run(
            [kubectl, "get", "secret", name, "--namespace", namespace, "--ignore-not-found", "-o", "name"],
            capture_output=True,
            text=True,
        )
        if found.returncode != 0:
            print(f"credentials: kubectl get secret {name} failed: {found.stderr.strip()}", file=err)
            return 2
        if found.stdout.strip():
            existing.append(name)
    if existing and not skip_existing:
        print(
            f"credentials: these Secrets exist already: {', '.join(existing)}. They are created once (the "
            "dependencies keep the first passwords in their data): nothing was created. --skip-existing "
            "creates only the missing ones.",
            file=err,
        )
        return 1
    missing = [s for s in secrets if s["metadata"]["name"] not in existing]
    if not missing:
        print("credentials: every Secret exists already; nothing to create", file=err)
        return 0
    done = subprocess.run([kubectl, "create", "--namespace", namespace, "-f", "-"], input=manifest(missing), text=True)
    return 0 if done.returncode == 0 else 2


def run(argv: list[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    args = parser().parse_args(argv)
    try:
        helm = find_helm(args.helm)
        secrets = generated_secrets(args.chart.resolve(), helm, args.values, args.release, args.namespace)
    except (HelmNotFound, CannotRender) as error:
        print(f"credentials: {error}", file=err)
        return 2
    if args.apply:
        return apply(secrets, args.kubectl, args.namespace, args.skip_existing, err)
    out.write(manifest(secrets))
    return 0


def main() -> int:
    return run()


if __name__ == "__main__":
    sys.exit(main())
