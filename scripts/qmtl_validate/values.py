"""Read the values files a user gives (a clear error for one that cannot be read). Merging them is Helm's
alone (qmtl_stack.render.helm_values)."""

from __future__ import annotations

from pathlib import Path

import yaml
from qmtl_stack.render import YAML_LOADER


class LoadError(Exception):
    """The values or the chart cannot be read (exit 2)."""


def load_file(path: Path) -> dict:
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise LoadError(f"{path}: cannot read: {error.strerror or error}") from error
    try:
        data = yaml.load(text, Loader=YAML_LOADER)
    except yaml.YAMLError as error:
        raise LoadError(f"{path}: not valid YAML: {error}") from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise LoadError(f"{path}: a values file must be a mapping at the top, got {type(data).__name__}")
    return data
