"""Design rule 6 (secrets), checked across the whole chart for every shipped values set:

- no generated credential appears outside a Secret (ConfigMaps, env values, args, annotations, labels);
- the values files that ship contain no password, secret key or token (only references to Secrets);
- every Secret the chart generates is referenced by name from somewhere (no orphan credentials), and
  every secretKeyRef into a chart-generated Secret names a key that Secret really has.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.harness import render_chart
from tests.harness.paths import REPO_ROOT, VALUES_DIR

# Secret values shorter than this are names or flags ("SCRAM-SHA-256", "qmtl-admin"), not credentials.
MIN_CREDENTIAL_LENGTH = 16


def _secret_values(secret: dict) -> Iterator[tuple[str, str]]:
    for key, value in (secret.get("data") or {}).items():
        yield key, base64.b64decode(value).decode("utf-8", errors="replace")
    for key, value in (secret.get("stringData") or {}).items():
        yield key, str(value)


def _credentials(rendered) -> dict[str, str]:
    """credential text -> "Secret/name:key" for every credential-looking value of every Secret."""
    found = {}
    for secret in rendered.by_kind("Secret"):
        for key, value in _secret_values(secret):
            for token in re.findall(rf"[A-Za-z0-9+/=]{{{MIN_CREDENTIAL_LENGTH},}}", value):
                # random-looking only (letters AND digits): not names or words inside a rendered file
                if re.search(r"[0-9]", token) and re.search(r"[A-Za-z]", token):
                    found[token] = f"Secret/{secret['metadata']['name']}:{key}"
    return found


def test_no_generated_credential_outside_a_secret(value_set) -> None:
    rendered = render_chart(values_files=value_set.files)
    credentials = _credentials(rendered)
    assert credentials or value_set.profile == "dev", "prod renders generated credentials: the scan must see them"
    for obj in rendered.objects:
        if obj["kind"] == "Secret":
            continue
        text = json.dumps(obj)
        leaked = sorted({where for token, where in credentials.items() if token in text})
        assert not leaked, f"{obj['kind']}/{obj['metadata']['name']} contains the value of {leaked}"


# Keys whose values would be credentials; *Key / *Secret / existingSecret name Secret keys and Secrets.
_CREDENTIAL_KEY = re.compile(r"(password|passwd|secret|token|access[-_]?key|private[-_]?key)$", re.I)
_REFERENCE_KEY = re.compile(r"(Key|Keys|existingSecret|SecretName|secretName)$")


def _walk(node, path=()) -> Iterator[tuple[tuple, object]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, (*path, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, (*path, str(index)))
    else:
        yield path, node


SHIPPED_VALUES = [
    REPO_ROOT / "values.yaml",
    *sorted((REPO_ROOT / "charts").glob("*/values.yaml")),
    *sorted(VALUES_DIR.glob("*.yaml")),
]


@pytest.mark.parametrize("path", SHIPPED_VALUES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_shipped_values_hold_no_credentials(path: Path) -> None:
    data = yaml.safe_load(path.read_text()) or {}
    for keys, value in _walk(data):
        if not keys or not isinstance(value, str) or not value:
            continue
        last = keys[-1]
        if _CREDENTIAL_KEY.search(last) and not _REFERENCE_KEY.search(last):
            raise AssertionError(f"{path.name}: {'.'.join(keys)} holds a value; credentials belong in Secrets")


def test_secret_references_resolve_within_the_release(value_set) -> None:
    rendered = render_chart(values_files=value_set.files)
    generated = {s["metadata"]["name"]: {k for k, _ in _secret_values(s)} for s in rendered.by_kind("Secret")}
    text_without_secrets = json.dumps([o for o in rendered.objects if o["kind"] != "Secret"])
    for name in generated:
        assert f'"{name}"' in text_without_secrets, f"Secret {name} is generated but nothing uses it"
    for obj in rendered.objects:
        for ref in _secret_key_refs(obj):
            if ref["name"] in generated:
                assert ref["key"] in generated[ref["name"]], (
                    f"{obj['kind']}/{obj['metadata']['name']} reads key {ref['key']!r} of Secret {ref['name']}, "
                    f"which has {sorted(generated[ref['name']])}"
                )


def _secret_key_refs(node) -> Iterator[dict]:
    if isinstance(node, dict):
        if "secretKeyRef" in node and isinstance(node["secretKeyRef"], dict):
            yield node["secretKeyRef"]
        for value in node.values():
            yield from _secret_key_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _secret_key_refs(value)
