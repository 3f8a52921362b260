"""docs/values.md: generated from values.schema.json by scripts/gen-values-reference.py, committed, current.

The drift test fails with the command that regenerates the file. The other tests check the generator
against things it does not compute itself: values.yaml read directly, and small hand-written schemas."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.harness.paths import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "gen-values-reference.py"
REFERENCE = REPO_ROOT / "docs" / "values.md"
REGENERATE = ".venv/bin/python scripts/gen-values-reference.py"


def _load_generator():
    spec = importlib.util.spec_from_file_location("gen_values_reference", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


def test_values_reference_is_current() -> None:
    committed = REFERENCE.read_text() if REFERENCE.exists() else ""
    assert committed == gen.generate(), (
        f"docs/values.md is stale (values.schema.json, values.yaml or a subchart's values.yaml changed): "
        f"run `{REGENERATE}` and commit docs/values.md"
    )


def test_check_mode_reports_drift_with_the_command(tmp_path: Path) -> None:
    ok = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    # a copy of the chart with one description changed: --check must fail and say what to run
    copy = tmp_path / "chart"
    (copy / "docs").mkdir(parents=True)
    (copy / "scripts").mkdir()
    for name in ("values.yaml", "Chart.yaml"):
        (copy / name).write_text((REPO_ROOT / name).read_text())
    schema = json.loads((REPO_ROOT / "values.schema.json").read_text())
    schema["properties"]["global"]["properties"]["profile"]["description"] = "changed"
    (copy / "values.schema.json").write_text(json.dumps(schema))
    (copy / "docs" / "values.md").write_text(REFERENCE.read_text())
    (copy / "scripts" / SCRIPT.name).write_text(SCRIPT.read_text())
    (copy / "charts").symlink_to(REPO_ROOT / "charts")
    stale = subprocess.run(
        [sys.executable, str(copy / "scripts" / SCRIPT.name), "--check"], capture_output=True, text=True
    )
    assert stale.returncode == 1
    assert REGENERATE in stale.stderr
    assert "changed" in stale.stderr


def _rows() -> dict[str, list[str]]:
    rows = {}
    for line in REFERENCE.read_text().splitlines():
        m = re.match(r"^\| `([^`]+)` \|(.*)\|$", line)
        if m:
            rows[m.group(1)] = [c.strip() for c in re.split(r"(?<!\\)\|", m.group(2))]
    return rows


def _declared(schema: dict, path: list[str]) -> dict | None:
    """The schema node declaring `path`, or None (an undeclared key of an open map)."""
    node = schema
    for key in path:
        while "$ref" in node:
            node = schema["definitions"][node["$ref"].rsplit("/", 1)[-1]]
        props = node.get("properties") or {}
        if key in props:
            node = props[key]
        elif any(re.search(p, key) for p in node.get("patternProperties") or {}):
            return None  # a map entry: documented as <name>
        else:
            return None
    return node


def _leaves(data, path=()):
    if isinstance(data, dict) and data:
        for key, value in data.items():
            yield from _leaves(value, (*path, str(key)))
    else:
        yield path, data


def test_every_declared_key_of_values_yaml_has_a_row_with_its_default() -> None:
    """Read values.yaml directly (not through the generator): each declared leaf key is a row whose default
    cell shows values.yaml's value (or points at the long-defaults appendix)."""
    schema = json.loads((REPO_ROOT / "values.schema.json").read_text())
    values = yaml.safe_load((REPO_ROOT / "values.yaml").read_text())
    rows = _rows()
    checked = 0
    for path, value in _leaves(values):
        if _declared(schema, list(path)) is None:
            continue
        # the deepest documented key on the way (a key inside a shared type is documented by its parent)
        for cut in range(len(path), 0, -1):
            key = ".".join(path[:cut])
            if key in rows:
                break
        else:
            pytest.fail(f"values.yaml key {'.'.join(path)} has no row in docs/values.md")
        if cut != len(path):
            continue
        default = rows[key][1]
        if isinstance(value, str):
            expected = json.dumps(value)
        elif isinstance(value, bool):
            expected = str(value).lower()
        elif isinstance(value, int | float):
            expected = str(value)
        else:
            expected = None  # {} / [] in flow style
        if expected is not None and "see below" not in default:
            assert default == f"`{expected}`", f"{key}: default cell {default!r}, values.yaml has {value!r}"
        checked += 1
    assert checked > 50


def test_the_reference_names_the_prod_rules_of_the_schema() -> None:
    rows = _rows()
    assert rows["global.seamless.coordinator_url"][2].startswith("required, non-empty; not a loopback")
    assert "required" in rows["global.questdb.external.host"][2]
    assert "when `global.questdb.enabled` is `false`" in rows["global.questdb.external.host"][2]
    assert rows["global.replicas.prod.controlbus"][0].startswith("integer, 3 to ")
    text = REFERENCE.read_text()
    assert "not `latest` (any case)" in text


# --- the generator on hand-written schemas -------------------------------------------------------------

NOT_LATEST = {"type": "string", "pattern": "^[Ll][Aa][Tt][Ee][Ss][Tt]$"}
TOY = {
    "type": "object",
    "properties": {
        "global": {
            "type": "object",
            "description": "wiring",
            "additionalProperties": False,
            "properties": {
                "profile": {"type": "string", "enum": ["dev", "prod"], "description": "the profile", "default": "dev"},
                "port": {"$ref": "#/definitions/port", "description": "a port", "default": 80},
                "db": {
                    "type": "object",
                    "description": "a dependency",
                    "additionalProperties": False,
                    "properties": {
                        "enabled": {"type": "boolean", "description": "on", "default": True},
                        "host": {"type": "string", "description": "where"},
                    },
                },
            },
        },
        "app": {
            "type": "object",
            "description": "an app",
            "additionalProperties": True,
            "properties": {"image": {"$ref": "#/definitions/image", "description": "its image"}},
        },
    },
    "allOf": [
        {
            "if": {
                "properties": {"global": {"properties": {"profile": {"const": "prod"}}, "required": ["profile"]}},
                "required": ["global"],
            },
            "then": {
                "allOf": [
                    {
                        "properties": {
                            "global": {
                                "properties": {
                                    "db": {
                                        "if": {"properties": {"enabled": {"const": False}}, "required": ["enabled"]},
                                        "then": {
                                            "required": ["host"],
                                            "properties": {"host": {"type": "string", "minLength": 1}},
                                        },
                                    }
                                }
                            }
                        }
                    },
                    {
                        "properties": {
                            "app": {
                                "properties": {"tag": {"not": NOT_LATEST}},
                                "additionalProperties": {"properties": {"tag": {"not": NOT_LATEST}}},
                            }
                        }
                    },
                ]
            },
        }
    ],
    "definitions": {
        "port": {"type": "integer", "minimum": 1, "maximum": 65535, "description": "A TCP port."},
        "image": {
            "type": "object",
            "description": "An image.",
            "additionalProperties": False,
            "properties": {
                "repository": {"type": "string", "description": "repo"},
                "tag": {"type": "string", "description": "tag"},
            },
        },
    },
}


def test_generator_on_a_toy_schema() -> None:
    text = gen.render(TOY, {"app": {"image": {"repository": "r", "tag": "1"}}})
    lines = text.splitlines()
    assert '| `global.profile` | string, one of `"dev"`, `"prod"` | `"dev"` |  | the profile |' in lines
    assert "| `global.port` | integer, 1 to 65535 | `80` |  | a port |" in lines
    assert "| `global.db.host` | string |  | required, non-empty when `global.db.enabled` is `false` | where |" in lines
    # a default the schema lacks comes from the effective values; a shared object type is a link
    assert "| `app.image` | [image](#type-image) | `{repository: r, tag: '1'}` |  | its image |" in lines
    assert "| `repository` | string | repo |" in lines  # the shared type's own table
    assert "- `tag` at any depth under `app`: not `latest` (any case)" in lines
    assert "When `global.profile` is `prod`:" in lines


def test_generator_on_alternatives_and_at_least_one_rules() -> None:
    schema = {
        "type": "object",
        "properties": {
            "db": {
                "type": "object",
                "description": "a store",
                "additionalProperties": False,
                "properties": {
                    "size": {
                        "description": "volume size",
                        "anyOf": [
                            {"type": "string", "minLength": 1},
                            {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {
                                    "dev": {"type": "string", "description": "in dev"},
                                    "prod": {"type": "string", "description": "in prod"},
                                },
                            },
                        ],
                    },
                    "dns": {
                        "type": "object",
                        "description": "dns",
                        "properties": {
                            "namespace": {"type": "string", "description": "ns"},
                            "cidrs": {"type": "array", "items": {"type": "string"}, "description": "ranges"},
                        },
                    },
                    "prefix": {"type": "string", "description": "a prefix"},
                    "ack": {"type": "boolean", "description": "acknowledged"},
                },
            }
        },
        "allOf": [
            {
                "if": {
                    "properties": {
                        "db": {"properties": {"prefix": {"type": "string", "minLength": 1}}, "required": ["prefix"]}
                    },
                    "required": ["db"],
                },
                "then": {"properties": {"db": {"required": ["ack"], "properties": {"ack": {"const": True}}}}},
            },
            {
                "then": {
                    "properties": {
                        "db": {
                            "properties": {
                                "dns": {
                                    "not": {"properties": {"namespace": {"maxLength": 0}, "cidrs": {"maxItems": 0}}}
                                }
                            }
                        }
                    }
                },
                "if": {"properties": {"db": {"properties": {"size": {"type": "object"}}}}},
            },
        ],
        "definitions": {},
    }
    lines = gen.render(schema, {}).splitlines()
    assert "| `db.size` | string, non-empty or object |  |  | volume size |" in lines
    assert "| `db.size.dev` | string |  |  | in dev |" in lines
    assert "When `db.prefix` is set:" in lines
    assert "- `db.ack`: must be `true`" in lines
    assert "When `db.size` is a map:" in lines
    assert "- `db.dns`: at least one of `namespace`, `cidrs` set and not empty" in lines
