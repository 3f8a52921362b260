"""Where things are. The repository root is the umbrella chart."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT
VALUES_DIR = REPO_ROOT / "values"
TOOLS_BIN = REPO_ROOT / ".tools" / "bin"
CACHE_ROOT = REPO_ROOT / ".cache"
# What Helm loads from a chart directory to render it: these files and folders, nothing else of the
# repository (its harness, scripts, images and tool caches). Render caches key on their content; private
# copies of the chart hold exactly them.
CHART_FILES = ("Chart.yaml", "Chart.lock", "values.yaml", "values.schema.json", ".helmignore")
CHART_DIRS = ("templates", "charts", "files")
