"""values.schema.json: generated from schemas/ (no drift), self-contained, every key typed and described,
unknown keys refused in every section, defaults equal to the chart's values (the umbrella's values.yaml AND
each subchart's), the sections match what the templates read, and the builder refuses values keys the
schema does not declare."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from qmtl_validate import schema

from schemas import annotations, build, rules
from tests.harness import render_chart
from tests.harness.objects import chart_values
from tests.harness.paths import REPO_ROOT, copy_chart
from tests.validation.conftest import DEV_FILE, PROD_FILE

COMMITTED = REPO_ROOT / "values.schema.json"
VALUES = yaml.safe_load((REPO_ROOT / "values.yaml").read_text())
CHART = yaml.safe_load((REPO_ROOT / "Chart.yaml").read_text())
SUBCHARTS = [d["name"] for d in CHART["dependencies"]]
_DEFS = json.loads(COMMITTED.read_text())[rules.DEFINITIONS]
VALUES_SCHEMA_GLOBAL = json.loads(COMMITTED.read_text())["properties"]["global"]["properties"]


def _subchart_values(name: str) -> dict:
    path = REPO_ROOT / "charts" / name / "values.yaml"
    return (yaml.safe_load(path.read_text()) if path.exists() else None) or {}


def test_committed_schema_is_generated_from_its_source() -> None:
    generated = build.render(build.generate())
    assert COMMITTED.read_text() == generated, f"values.schema.json is stale: run `{build.REGENERATE}` and commit it"


def test_schema_is_self_contained_draft_07(values_schema: dict) -> None:
    assert values_schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(values_schema)
    defs = values_schema["definitions"]
    refs = list(_walk_values(values_schema, "$ref"))
    assert refs, "expected local $refs to shared definitions"
    assert all(r.startswith("#/definitions/") for r in refs), [r for r in refs if not r.startswith("#/definitions/")]
    for ref in refs:
        assert ref.rsplit("/", 1)[-1] in defs, f"dangling {ref}"


def test_a_ref_carries_no_keyword_that_draft_07_would_ignore(values_schema: dict) -> None:
    """In draft-07 the keywords beside a `$ref` are ignored: a rule written there would silently not
    apply. Only annotations may sit next to one."""
    allowed = {"$ref", "description", "default", "title", "examples", "$comment"}
    misplaced = [
        (path, sorted(set(node) - allowed))
        for path, node in _all_nodes(values_schema, "")
        if "$ref" in node and set(node) - allowed
    ]
    assert misplaced == []


def test_every_example_is_a_valid_value(values_schema: dict) -> None:
    """The values files' `#? key: example` values are shown in the values reference: each must be a value the
    schema accepts there."""
    examples = [(path, node) for path, node in _all_nodes(values_schema, "") if "examples" in node]
    assert len(examples) > 10
    for path, node in examples:
        check = {**node, rules.DEFINITIONS: values_schema[rules.DEFINITIONS]}
        for example in node["examples"]:
            assert list(jsonschema.Draft7Validator(check).iter_errors(example)) == [], (path, example)


def _all_nodes(node: Any, path: str):
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            if k not in ("default", "const", "enum", "examples"):
                yield from _all_nodes(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _all_nodes(item, f"{path}/{i}")


def _walk_values(node: Any, key: str):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            else:
                yield from _walk_values(v, key)
    elif isinstance(node, list):
        for item in node:
            yield from _walk_values(item, key)


def _declarations(node: Any, path: str = ""):
    """(path, property schema) of every declared property of a typed object, recursively."""
    if isinstance(node, list):
        for item in node:
            yield from _declarations(item, path)
        return
    if not isinstance(node, dict):
        return
    if node.get("type") == "object":
        for name, prop in (node.get("properties") or {}).items():
            yield f"{path}.{name}".lstrip("."), prop
    for key, sub in node.items():
        if key == "properties" and isinstance(sub, dict):
            for name, prop in sub.items():
                yield from _declarations(prop, f"{path}.{name}".lstrip("."))
        elif isinstance(sub, dict | list) and key not in ("enum", "const", "default", "required"):
            yield from _declarations(sub, path)


def test_every_declared_key_is_typed_and_described(values_schema: dict) -> None:
    declared = list(_declarations(values_schema))
    assert len(declared) > 300
    for path, prop in declared:
        assert prop.get("description"), f"{path}: no description"
        assert any(k in prop for k in ("type", "$ref", "enum", "const", "not", "anyOf")), f"{path}: no type"


def _objects(node: Any, path: str = ""):
    """(path, schema) of every object declaration (typed object) reachable through properties, items,
    patternProperties, anyOf and the shared types."""
    if not isinstance(node, dict):
        return
    if node.get("type") == "object":
        yield path, node
    for name, prop in (node.get("properties") or {}).items():
        yield from _objects(prop, f"{path}.{name}".lstrip("."))
    for pattern, prop in (node.get("patternProperties") or {}).items():
        yield from _objects(prop, f"{path}.<{pattern}>")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            yield from _objects(node[key], f"{path}[]")
    for branch in node.get("anyOf") or []:
        yield from _objects(branch, path)


def _nodes(node: Any, path: str = "") -> list[tuple[str, dict]]:
    out = []
    if isinstance(node, dict):
        out.append((path, node))
        for key, sub in node.items():
            out += _nodes(sub, f"{path}/{key}")
    elif isinstance(node, list):
        for index, sub in enumerate(node):
            out += _nodes(sub, f"{path}/{index}")
    return out


def test_every_integer_is_bounded_so_nothing_computed_from_it_overflows(values_schema: dict) -> None:
    """Helm computes in int64 and Kubernetes has int32 fields; YAML numbers past 2^53 are not exact."""
    for path, node in _nodes(values_schema):
        kinds = node.get("type")
        if kinds == "integer" or (isinstance(kinds, list) and "integer" in kinds):
            assert "maximum" in node, f"{path}: an integer without a maximum"
            assert node["maximum"] <= rules.EXACT_INT_MAX, path


def test_pass_through_settings_are_allowlists(values_schema: dict) -> None:
    """Every map of settings handed to a server names what it allows (patternProperties) and refuses the
    rest (no additionalProperties), with values that carry no control character."""
    props = values_schema["properties"]
    for section, key in (("neo4j", "config"), ("questdb", "config"), ("postgres", "parameters")):
        node = props[section]["properties"][key]
        assert node["additionalProperties"] is False, (section, key)
        allowed = [sub for sub in node["patternProperties"].values() if "not" not in sub]
        assert allowed
        assert all(sub["pattern"] == rules.NO_CONTROL for sub in allowed), (section, key)
    extra_rules = props["redis"]["properties"]["extraRules"]
    assert extra_rules["additionalProperties"] is False
    assert all(sub["pattern"] == rules.REDIS_EXTRA_RULES for sub in extra_rules["properties"].values())


def test_unknown_keys_are_refused_everywhere_but_the_copies_of_global(values_schema: dict) -> None:
    """Every object refuses keys it does not declare, except `global` inside a component section (Helm puts
    a copy of `global` there)."""
    open_objects = []
    roots = [("", values_schema), *((f"definitions.{k}", v) for k, v in values_schema["definitions"].items())]
    for root_path, root in roots:
        for path, node in _objects(root, root_path):
            if node.get("additionalProperties", True) is True:  # (a typed map, e.g. annotations, is not open)
                open_objects.append(path)
    sections = [s for s in SUBCHARTS]
    assert sorted(open_objects) == sorted(f"{s}.global" for s in sections), open_objects
    # the root: `global`, the sections, and the umbrella's own sizing table (its helm test pods)
    assert set(values_schema["properties"]) == {"global", "resources", *sections}


def _schema_at(node: dict, parts: list[str]) -> dict | None:
    """The declaration at `parts`, following properties, shared types and the object branch of a choice of
    shapes (the declaration itself, as written where it is used, for the last part)."""
    for part in parts:
        if "$ref" in node:
            node = _DEFS[node["$ref"].rsplit("/", 1)[-1]]
        branches = [b for b in node.get("anyOf") or [] if b.get("type") == "object"]
        props = (branches[0] if branches else node).get("properties") or {}
        if part not in props:
            return None
        node = props[part]
    return node


def _leaves(values: Any, parts: list[str]):
    if isinstance(values, dict) and values:
        for key, value in values.items():
            yield from _leaves(value, [*parts, key])
    else:
        yield parts, values


def _default_at(values_schema: dict, parts: list[str]) -> tuple[bool, Any]:
    """The schema's default for the leaf at `parts`: its own, or inside the default of the nearest declared
    ancestor that carries one (a $ref'd type or a map carries its whole default)."""
    for depth in range(len(parts), 0, -1):
        node = _schema_at(values_schema, parts[:depth])
        if node is not None and "default" in node:
            value = node["default"]
            for part in parts[depth:]:
                if not isinstance(value, dict) or part not in value:
                    return False, None
                value = value[part]
            return True, value
    return False, None


@pytest.mark.parametrize("source", ["values.yaml", *(f"charts/{n}/values.yaml" for n in SUBCHARTS)])
def test_defaults_equal_the_charts_values(values_schema: dict, source: str) -> None:
    """Every leaf of the umbrella's values.yaml and of each subchart's own values.yaml is the schema's default
    at that key, except where the umbrella overrides a subchart's default (then the umbrella's value is)."""
    if source == "values.yaml":
        leaves = list(_leaves(VALUES, []))
    else:
        name = source.split("/")[1]
        leaves = [
            ([name, *parts], value) for parts, value in _leaves(_subchart_values(name), []) if parts and value != {}
        ]
    compared = 0
    for parts, value in leaves:
        if value is None:
            continue
        umbrella = VALUES
        for part in parts:
            umbrella = umbrella.get(part) if isinstance(umbrella, dict) else None
        expected = umbrella if (source != "values.yaml" and umbrella is not None) else value
        found, default = _default_at(values_schema, parts)
        assert found, f"{source}: {'.'.join(parts)} has no default in the schema"
        assert default == expected, f"{source}: {'.'.join(parts)}: schema default {default!r} != {expected!r}"
        compared += 1
    assert compared or (source.startswith("charts/") and not _subchart_values(source.split("/")[1]))


def test_the_chart_defaults_validate_as_dev(values_schema: dict) -> None:
    assert VALUES["global"]["profile"] == "dev"
    assert list(jsonschema.Draft7Validator(values_schema).iter_errors(VALUES)) == []
    with_subcharts = chart_values()
    assert schema.check(values_schema, with_subcharts) == []


# --- the sections and the templates agree -----------------------------------------------------------------

READERS = {  # qmtl-lib templates that read a component's own values for it
    "qmtl.resources": ("resources",),
    "qmtl.replicas": ("replicas",),
    "qmtl.persistence.": ("persistence",),
    "qmtl.pod.placement": ("nodeSelector", "tolerations", "affinity", "topologySpreadConstraints", "priorityClassName"),
    "qmtl.pod.metadata": ("podAnnotations", "podLabels"),
    "qmtl.horizontalPodAutoscaler": ("autoscaling",),
    "qmtl.replicasField": ("autoscaling",),
}
# qmtl.serviceDeployment (a QMTL service's Deployment) reads the image override and calls the readers above.
READERS["qmtl.serviceDeployment"] = (
    "image",
    *READERS["qmtl.resources"],
    *READERS["qmtl.pod.placement"],
    *READERS["qmtl.pod.metadata"],
    *READERS["qmtl.replicas"],
    *READERS["qmtl.replicasField"],
)


def _read_paths(section: str) -> set[tuple[str, ...]]:
    """Key paths of `section` the templates read directly: .Values.a.b in its own templates, and
    .Values.<section>.a.b / index .Values "<section>" "a" in the umbrella's."""
    paths: set[tuple[str, ...]] = set()
    if section == "qmtl-lib":  # its templates read the values of the chart that includes them
        return paths
    for path in (REPO_ROOT / "charts" / section / "templates").rglob("*.*"):
        text = path.read_text()
        for chain in re.findall(r"(?<![\w)])(?:\$|\.ctx|\$ctx)?\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", text):
            parts = tuple(chain.lstrip(".").split("."))
            if parts[0] != "global":
                paths.add(parts)
        for reader, keys in READERS.items():
            if f'include "{reader}' in text:
                paths.update((key,) for key in keys)
    for path in (REPO_ROOT / "templates").rglob("*.*"):
        text = path.read_text()
        name = re.escape(section)
        for chain in re.findall(rf"\.Values\.{name}((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", text):
            paths.add(tuple(chain.lstrip(".").split(".")))
        for key in re.findall(rf'index \.Values "{name}" "([A-Za-z_]+)"', text):
            paths.add((key,))
    return paths


@pytest.mark.parametrize("section", SUBCHARTS)
def test_each_section_declares_what_its_templates_read(values_schema: dict, section: str) -> None:
    section_schema = values_schema["properties"][section]
    declared = {k for k, v in section_schema["properties"].items() if v.get("not") != {}} - {"global"}
    read = _read_paths(section)
    condition = next(d.get("condition", "") for d in CHART["dependencies"] if d["name"] == section)
    if condition == f"{section}.enabled":
        read.add(("enabled",))
    for parts in read:
        assert _schema_at(section_schema, list(parts)) is not None or _opens(section_schema, parts), (
            f"the templates read {section}.{'.'.join(parts)}, which the schema does not declare"
        )
    assert declared == {p[0] for p in read}, f"declared but read by no template: {declared - {p[0] for p in read}}"


def _opens(node: dict, parts: tuple[str, ...]) -> bool:
    """`parts` falls in a map of the schema (its names are data, e.g. neo4j.config.<setting>)."""
    for depth in range(len(parts)):
        found = _schema_at(node, list(parts[:depth]))
        resolved = found if found is None or "$ref" not in found else _DEFS.get(found["$ref"].rsplit("/", 1)[-1])
        if resolved is not None and resolved.get("patternProperties"):
            return True
    return False


SIZE_MARK = {"dev": "1111", "prod": "2222"}  # millicores nobody uses: each override is found by its value


def test_each_chart_sizes_exactly_the_containers_it_runs() -> None:
    """Each chart's sizing table (resources.prod.<container> in its values.yaml; the umbrella's for its helm test
    pods) names containers of that chart only, and every one is applied: each entry gets its own requests and
    is found on a container the chart's own templates render (prod renders every component)."""
    tables = {"": yaml.safe_load((REPO_ROOT / "values.yaml").read_text())["resources"]["prod"]}
    for name, values in build.subchart_values().items():
        if (values.get("resources") or {}).get("prod"):
            tables[name] = values["resources"]["prod"]
    overrides: dict[str, dict] = {}
    marks: dict[tuple[str, str], str] = {}
    for index, (section, containers) in enumerate(tables.items()):
        for offset, container in enumerate(containers):
            cpu = f"{1000 + index * 10 + offset}m"
            marks[(section, container)] = cpu
            owner = overrides.setdefault(section, {}) if section else overrides
            owner.setdefault("resources", {"prod": {}})["prod"][container] = {
                "requests": {"cpu": cpu, "memory": "2Gi"},
                "limits": {"cpu": "4", "memory": "4Gi"},
            }
    assert len(tables) >= 11, sorted(tables)  # the umbrella and every subchart but the library
    rendered = render_chart([overrides], values_files=[PROD_FILE])
    found: dict[str, set[str]] = {}
    for item in rendered.items:
        spec = item.obj.get("spec") or {}
        spec = spec.get("template", {}).get("spec") or spec  # a workload's pod template, or a (helm test) Pod
        for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
            cpu = ((c.get("resources") or {}).get("requests") or {}).get("cpu")
            found.setdefault(str(cpu), set()).add(item.source)
    for (section, container), cpu in marks.items():
        sources = found.get(cpu, set())
        where = f"{section}.resources.prod.{container}" if section else f"resources.prod.{container}"
        assert sources, f"{where} is applied to no container"
        own = f"/charts/{section}/templates/" if section else "qmtl/templates/tests/"
        assert all(own in s for s in sources), (where, sources)


def test_every_image_is_an_image_type_and_latest_is_refused_there_in_prod(values_schema: dict) -> None:
    """Every `image`-like key of the chart's values is declared with an image type, and the prod rules refuse
    `latest` at each of them (tests/validation/matrix.py has a case for each)."""
    from tests.validation.matrix import CASES

    image_keys = {
        tuple(parts[:-1]) for parts, _ in _leaves(build.effective_defaults(), []) if parts[-1] == "repository"
    }
    declared = set(values_schema_image_paths(values_schema))
    assert image_keys <= declared, image_keys - declared
    assert len(declared) == 12
    latest_cases = {c.path.rsplit(".", 1)[0] for c in CASES if c.id.startswith("prod-latest-")}
    assert {".".join(p) for p in declared} == latest_cases


def values_schema_image_paths(values_schema_doc: dict) -> list[tuple[str, ...]]:
    return rules.image_paths(values_schema_doc)


# --- the builder -------------------------------------------------------------------------------------------


def _chart_copy(tmp_path: Path) -> Path:
    return copy_chart(tmp_path / "chart")


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not once in {path}"
    path.write_text(text.replace(old, new))


def test_builder_refuses_a_values_key_without_a_description(tmp_path: Path) -> None:
    chart = _chart_copy(tmp_path)
    _edit(chart / "values.yaml", "\n  guard:\n", "\n  guard:\n    jitterSeconds: 2\n")
    with pytest.raises(
        build.SchemaSourceError, match=r"values\.yaml:\d+: global\.guard\.jitterSeconds has no description"
    ):
        build.generate(chart)


def test_builder_refuses_an_undescribed_key_of_a_subcharts_values(tmp_path: Path) -> None:
    chart = _chart_copy(tmp_path)
    (chart / "charts" / "redis" / "values.yaml").write_text(
        (chart / "charts" / "redis" / "values.yaml").read_text() + "maxclients: 10000\n"
    )
    with pytest.raises(build.SchemaSourceError, match=r"charts/redis/values\.yaml:\d+: redis\.maxclients has no desc"):
        build.generate(chart)


def test_builder_types_a_key_by_its_default_and_its_annotation(tmp_path: Path) -> None:
    chart = _chart_copy(tmp_path)
    _edit(
        chart / "values.yaml",
        "\n  guard:\n",
        "\n  guard:\n    # -- (0..5, required) Jitter.\n    jitterSeconds: 2\n    # -- Verbose.\n    verbose: false\n"
        "    # -- (host) Where.\n    #? probeHost:\n",
    )
    guard = build.generate(chart)["properties"]["global"]["properties"]["guard"]
    assert guard["properties"]["jitterSeconds"] == {
        "description": "Jitter.",
        "type": "integer",
        "minimum": 0,
        "maximum": 5,
        "default": 2,
    }
    assert guard["properties"]["verbose"] == {"description": "Verbose.", "type": "boolean", "default": False}
    assert guard["properties"]["probeHost"] == {"description": "Where.", **rules.TYPES["host"]}
    assert "jitterSeconds" in guard["required"]
    assert "verbose" not in guard["required"]


def test_builder_refuses_an_unknown_type(tmp_path: Path) -> None:
    chart = _chart_copy(tmp_path)
    _edit(chart / "values.yaml", "\n  guard:\n", "\n  guard:\n    # -- (portt) A port.\n    probePort: 80\n")
    with pytest.raises(build.SchemaSourceError, match=r"global\.guard\.probePort: unknown type \(portt\)"):
        build.generate(chart)


def test_builder_refuses_a_key_without_default_that_has_one(tmp_path: Path) -> None:
    chart = _chart_copy(tmp_path)
    _edit(chart / "values.yaml", "\n  guard:\n", "\n  guard:\n    # -- Probes.\n    #? attempts:\n")
    with pytest.raises(annotations.AnnotationError, match=r"global\.guard\.attempts is documented as a key without"):
        build.generate(chart)


def test_builder_refuses_a_description_of_a_key_every_section_has(tmp_path: Path) -> None:
    chart = _chart_copy(tmp_path)
    _edit(chart / "charts" / "gateway" / "values.yaml", "\nautoscaling:\n", "\n# -- Scale.\nautoscaling:\n")
    with pytest.raises(build.SchemaSourceError, match=r"gateway\.autoscaling is a key of every section"):
        build.generate(chart)


def test_builder_refuses_a_sizing_table_whose_profiles_name_different_containers(tmp_path: Path) -> None:
    chart = _chart_copy(tmp_path)
    values = chart / "charts" / "redis" / "values.yaml"
    text = values.read_text()
    prod = text.index("  prod:")
    values.write_text(text[:prod] + text[prod:].replace("    redis-acl:", "    redis-init:", 1))
    with pytest.raises(build.SchemaSourceError, match=r"charts/redis/values\.yaml: resources\.dev and resources\.prod"):
        build.generate(chart)


def test_builder_needs_each_dependencys_endpoint_key_marked(tmp_path: Path) -> None:
    chart = _chart_copy(tmp_path)
    _edit(chart / "values.yaml", "# -- (neo4jUri, endpoint) ", "# -- (neo4jUri) ")
    with pytest.raises(build.SchemaSourceError, match=r"global\.neo4j\.external needs exactly one key marked"):
        build.generate(chart)


def test_builder_reads_where_each_managed_dependency_is() -> None:
    """The endpoint keys the prod and completeness rules require are the ones values.yaml marks."""
    chart = build.chart_facts()
    assert set(chart.endpoints) == {name for name, kind in chart.subcharts.items() if kind == "dependency"}
    for dep, (key, credentials) in chart.endpoints.items():
        external = VALUES_SCHEMA_GLOBAL[dep]["properties"]["external"]["properties"]
        assert key in external, dep
        assert credentials == ("existingSecret" in external), dep


def test_builder_refuses_a_subchart_without_a_description(tmp_path: Path) -> None:
    chart = _chart_copy(tmp_path)
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    meta["dependencies"].append(
        {"name": "grafana", "version": "0.1.0", "repository": "", "condition": "grafana.enabled"}
    )
    (chart / "Chart.yaml").write_text(yaml.safe_dump(meta))
    (chart / "charts" / "grafana").mkdir()
    (chart / "charts" / "grafana" / "Chart.yaml").write_text("apiVersion: v2\nname: grafana\nversion: 0.1.0\n")
    with pytest.raises(build.SchemaSourceError, match=r"charts/grafana/Chart\.yaml has no description"):
        build.generate(chart)


def test_check_mode_reports_drift(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "values.schema.json"
    stale.write_text(json.dumps({"stale": True}))
    monkeypatch.setattr(build, "OUTPUT", stale)
    assert build.main(["--check"]) == 1
    assert build.REGENERATE in capsys.readouterr().err
    monkeypatch.setattr(build, "OUTPUT", COMMITTED)
    assert build.main(["--check"]) == 0


# --- prod: what each enabled service needs ----------------------------------------------------------------

ENDPOINT_KEYS = {
    "redis": "host",
    "postgres": "host",
    "neo4j": "uri",
    "questdb": "host",
    "minio": "endpoint",
    "controlbus": "brokers",
}


def _paths(values_schema: dict, values_file: Path, *layers: dict) -> set[str]:
    return schema.python_key_paths(values_schema, chart_values(values_file, extra=layers))


@pytest.mark.parametrize("dependency", sorted(ENDPOINT_KEYS))
def test_prod_requires_every_dependency_bundled_or_external(values_schema: dict, dependency: str) -> None:
    """Each of the six, with every service on (python-jsonschema; the matrix shows Helm agreeing)."""
    off = {"global": {dependency: {"enabled": False}}}
    paths = _paths(values_schema, PROD_FILE, off)
    assert f"global.{dependency}.external.{ENDPOINT_KEYS[dependency]}" in paths
    assert (f"global.{dependency}.external.existingSecret" in paths) == (dependency != "controlbus")
    assert _paths(values_schema, DEV_FILE, off) == set()


@pytest.mark.parametrize(
    ("services_off", "not_needed"),
    [
        (("dagmanager",), ("neo4j",)),
        (("gateway", "worldservice"), ("postgres",)),
        (("gateway", "dagmanager", "worldservice"), ("postgres", "neo4j", "controlbus")),
    ],
)
def test_prod_requires_what_the_enabled_services_need(
    values_schema: dict, services_off: tuple, not_needed: tuple
) -> None:
    """QMTL's own start-up checks: gateway needs Redis, PostgreSQL and the ControlBus; dagmanager Neo4j and the
    ControlBus; worldservice PostgreSQL, Redis and the ControlBus. Seamless needs Redis, QuestDB and S3 whatever
    runs: those stay required."""
    services = {s: {"enabled": False} for s in services_off}
    deps_off = {"global": {d: {"enabled": False} for d in (*not_needed, "redis")}}
    paths = _paths(values_schema, PROD_FILE, services, deps_off)
    assert not any(p.startswith(tuple(f"global.{d}." for d in not_needed)) for p in paths), paths
    assert "global.redis.external.host" in paths
