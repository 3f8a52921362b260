"""validate: check a qmtl values set the way the chart will, and explain every problem.

Targets (like `qmtl config validate --target`):
  schema        values.schema.json on the values merged like Helm (python-jsonschema), the chart's
                aggregated values check, and a full `helm template` (always run; for values the schema
                refuses, the aggregated check alone: Helm would render nothing)
  seamless      the Seamless side: coordinator_url (an error in prod, a warning in dev), Redis, QuestDB, S3
  gateway, dagmanager, worldservice
                what the service's prod start-up requires of the config the chart renders for it
  all           every target
Exit status: 0 ok or warnings, 1 errors, 2 the values, the chart or helm cannot be loaded.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import TextIO

from qmtl_stack.helm import Helm, HelmNotFound, find_helm
from qmtl_stack.paths import CHART_DIR
from qmtl_stack.render import RenderError, helm_values

from qmtl_validate import chart, online, schema, targets
from qmtl_validate.report import ERROR, EXIT_CANNOT_LOAD, OK, WARN, Check, Report
from qmtl_validate.values import LoadError, load_file

TARGETS = ("schema", *targets.SERVICES)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="validate",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1] + "\n" + online.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--profile",
        choices=("dev", "prod"),
        help="the profile you mean to install; an error if the values say otherwise (they are then "
        "checked as this profile)",
    )
    p.add_argument(
        "-f",
        "--values",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="values file, as with helm -f (repeat; later files win)",
    )
    p.add_argument("--target", choices=("all", *TARGETS), default="all")
    p.add_argument("--online", action="store_true", help="also probe the endpoints the values point at")
    p.add_argument(
        "--secret",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="Secret manifest(s) with credentials for --online (kubectl get secret NAME -o yaml)",
    )
    p.add_argument(
        "--secret-env",
        action="store_true",
        help="read credentials for --online from QMTL_SECRET_<SECRET>_<KEY> environment variables",
    )
    p.add_argument(
        "--resolve",
        action="append",
        default=[],
        metavar="HOST[:PORT]=ADDR[:PORT]",
        help="reach HOST at ADDR for --online (e.g. through kubectl port-forward)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--chart", type=Path, default=CHART_DIR, help="the chart (default: this repository)")
    p.add_argument("--helm", help="helm binary (default: $QMTL_HELM, .tools/bin/helm3, helm)")
    p.add_argument("--release", default="qmtl")
    p.add_argument("--namespace", default="qmtl")
    return p


def _schema_section(
    report: Report, values_schema: dict, merged: dict, requested: str | None, declared: str | None
) -> list[schema.SchemaProblem]:
    section = report.section("schema")
    if requested and declared != requested:
        section.append(
            Check(
                "global.profile",
                ERROR,
                f"the values set profile {declared!r} but you validate for "
                f"{requested}: helm would install {declared}. Set global.profile: {requested} "
                f"(e.g. -f values/{requested}.yaml); checked as {requested} below",
                "global.profile",
            )
        )
    problems = schema.check(values_schema, merged)
    by_path: dict[str, list[schema.SchemaProblem]] = {}
    for problem in problems:
        by_path.setdefault(problem.path, []).append(problem)
    for path, group in by_path.items():
        hint = "; ".join(dict.fromkeys(p.message.rstrip(".") for p in group))
        if group[0].hint and group[0].hint not in hint:
            hint += f". {group[0].hint}"
        section.append(Check(path or "(top level)", ERROR, hint, path))
    if not problems:
        section.append(Check("values.schema.json", OK, "the values match the chart's schema"))
    return problems


def _overlaps(path: str, others: set[str]) -> bool:
    """`path` is one of `others`, or one is a key below the other (global.redis vs global.redis.external.host)."""
    return any(path == o or o.startswith(path + ".") or path.startswith(o + ".") for o in others if o)


def _render_sections(report: Report, rendered: chart.Rendered, helm: Helm, schema_paths: set[str]) -> None:
    checks = report.section("checks")
    if rendered.problems is not None:
        # The check also guards the design's prod rules for installs that skip the schema: what the schema
        # already reported is not listed twice.
        for problem in rendered.problems:
            path = chart.problem_key_path(problem)
            if not _overlaps(path, schema_paths):
                checks.append(Check(path or "values", ERROR, problem, path))
        if not checks:
            checks.append(Check("aggregated check", OK, "no cross-key problem beyond the schema's (above)"))
    if rendered.check_only:
        if rendered.problems is None and not rendered.ok:
            # a template's own refusal of a value the schema refuses too is the same problem: said once
            message = _helm_message(rendered.stderr)
            path = chart.problem_key_path(message)
            if path and _overlaps(path, schema_paths):
                checks.append(Check("aggregated check", OK, "no cross-key problem beyond the schema's (above)"))
            else:
                checks.append(Check("aggregated check", ERROR, message, path))
        elif rendered.problems is None:
            checks.append(Check("aggregated check", OK, "no cross-key problem"))
        report.add(
            "render",
            Check(
                "helm template", WARN, "not attempted: Helm refuses these values at the schema (above); fix that first"
            ),
        )
        return
    if rendered.problems is not None:
        report.add("render", Check("helm template", ERROR, "refused by the aggregated values check (above)"))
        return
    if rendered.ok:
        checks.append(Check("aggregated check", OK, "no cross-key problem"))
        report.add("render", Check("helm template", OK, f"{len(rendered.objects)} objects rendered ({helm.version})"))
        return
    # The check renders before every other template (tests/validation pins that), so a later failure means
    # it passed.
    checks.append(Check("aggregated check", OK, "no cross-key problem (a later template failed: see render)"))
    message = _helm_message(rendered.stderr)
    report.add("render", Check("helm template", ERROR, message, chart.problem_key_path(message)))


_HELM_PREFIX = re.compile(r"^Error: (execution error at \([^)]*\): )?")


def _helm_message(stderr: str) -> str:
    """Helm's error without its decoration (Error:, the template position, the --debug hint)."""
    lines = [line for line in stderr.strip().splitlines() if line and not line.startswith("Use --debug")]
    return _HELM_PREFIX.sub("", "\n".join(lines))


def run(argv: list[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    args = parser().parse_args(argv)
    chart_dir = args.chart.resolve()
    try:
        if not (chart_dir / "Chart.yaml").exists():
            raise LoadError(f"{chart_dir}: no Chart.yaml (pass --chart)")
        for path in args.values:
            load_file(path)  # a file that cannot be read is said clearly here, before Helm reads it
        extra = [{"global": {"profile": args.profile}}] if args.profile else []
        values_schema = schema.load_schema(chart_dir)
        credentials = online.Credentials(online.load_secrets(args.secret), args.secret_env)
        resolver = online.Resolver(args.resolve)
        helm = find_helm(args.helm)
        # What Helm validates and renders: its merge of the chart's values.yaml files with these (and, for the
        # profile the user means, that profile on top).
        merged = helm_values(extra, args.values, helm=helm, chart_dir=chart_dir)
        declared_values = helm_values([], args.values, helm=helm, chart_dir=chart_dir) if extra else merged
    except HelmNotFound as error:
        print(f"validate: cannot load: {error}", file=err)
        return EXIT_CANNOT_LOAD
    except RenderError as error:
        print(f"validate: cannot load: helm cannot read these values: {error}", file=err)
        return EXIT_CANNOT_LOAD
    except LoadError as error:
        print(f"validate: cannot load: {error}", file=err)
        return EXIT_CANNOT_LOAD

    declared = (declared_values.get("global") or {}).get("profile")
    profile = args.profile or str(declared)
    prod = profile == "prod"
    report = Report(profile=profile, helm=helm.version)
    problems = _schema_section(report, values_schema, merged, args.profile, declared)
    rendered = chart.render(
        chart_dir, helm, args.values, extra, release=args.release, namespace=args.namespace, check_only=bool(problems)
    )
    _render_sections(report, rendered, helm, {p.path for p in problems})

    wanted = targets.SERVICES if args.target == "all" else (() if args.target == "schema" else (args.target,))
    if rendered.check_only:
        # The schema refuses the values: Helm renders nothing of them, so there is no config to check per
        # service (checking an empty one would only add a cascade of unrelated errors). Fix the schema's first.
        wanted = ()
    guard_script = ""
    if rendered.ok:
        config_map = rendered.find("ConfigMap", "qmtl-config") or {}
        guard_script = (config_map.get("data") or {}).get("coordinator_guard.py", "")
    ctx = online.Context(
        endpoints=rendered.model.get("endpoints") or {},
        values=merged,
        prod=prod,
        credentials=credentials,
        resolver=resolver,
        guard_script=guard_script,
    )
    if rendered.ok:  # managed dependencies whose NetworkPolicy ranges admit any address
        report.section("checks").extend(
            c for c in targets.open_ranges(rendered.model) if c.path != targets.COORDINATOR_CIDRS
        )
    for target in wanted:
        section = report.section(target)
        if not rendered.ok:
            section.append(Check("config", WARN, "not checked: the chart does not render these values (see render)"))
            continue
        section.extend(targets.run(target, rendered.model, merged, prod))
        if args.online:
            section.extend(online.run(target, ctx))

    print(report.to_json() if args.json else report.to_table(), file=out)
    return report.exit_code


def main() -> int:
    return run()
