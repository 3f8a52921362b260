"""Values sets, facts and helpers shared by the core-service tests.

The values sets are module-level constants so that every test asking for the same set shares one render
(the harness caches per distinct input). Expectations come from three places only: QMTL's facts
(QMTL_RUNTIME_FACTS.md: commands, health paths, the hard-coded DAG Manager address), the chart's own
values.yaml (ports, sizes, replicas: read here, never retyped), and the objects rendered in the same
release (Services that an endpoint must point at).
"""

from __future__ import annotations

import re
from pathlib import Path

from qmtl_stack.render import Rendered

from tests.harness import render_chart
from tests.harness.objects import chart_values, layered

SERVICES = ("gateway", "dagmanager", "worldservice")
DEPENDENCIES = ("controlbus", "redis", "postgres", "neo4j", "questdb", "minio")
BUNDLED_COORDINATOR_URL = "http://seamless-coordinator:8080"
EXTERNAL_COORDINATOR_URL = "https://coordinator.seamless.example.internal"


# values.yaml's own defaults: profile dev, every dependency bundled, the coordinator off.
DEFAULTS: dict = {}
# Dev with every dependency switched off: the services must run in their local modes.
DEV_LOCAL: dict = {"global": {dep: {"enabled": False} for dep in DEPENDENCIES}}
# Dev with the bundled coordinator switched on and pointed at.
DEV_COORDINATOR: dict = {
    "global": {"seamless": {"coordinator_url": BUNDLED_COORDINATOR_URL}},
    "seamless-coordinator": {"enabled": True},
}
# Prod, everything bundled.
PROD: dict = {
    "global": {"profile": "prod", "seamless": {"coordinator_url": BUNDLED_COORDINATOR_URL}},
    "seamless-coordinator": {"enabled": True},
}
# Prod against an external coordinator (the bundled one then is not deployed).
PROD_EXTERNAL_COORDINATOR: dict = layered(
    PROD,
    {
        "global": {
            "seamless": {"coordinator_url": EXTERNAL_COORDINATOR_URL},
            "networkPolicy": {"coordinatorCidrs": ["10.30.0.0/24"]},
        },
        "seamless-coordinator": {"enabled": False},
    },
)
# Prod with managed PostgreSQL, Neo4j, QuestDB and S3 (declared in values, credentials from Secrets).
PROD_MANAGED: dict = layered(
    PROD,
    {
        "global": {
            "postgres": {
                "enabled": False,
                "external": {
                    "host": "pg.db.example.internal",
                    "port": 6432,
                    "existingSecret": "managed-postgres",
                    "cidrs": ["10.20.0.0/24"],
                },
            },
            "neo4j": {
                "enabled": False,
                "external": {
                    "uri": "bolt://graph.db.example.internal:17687",
                    "existingSecret": "managed-neo4j",
                    "cidrs": ["10.20.1.0/24"],
                },
            },
            "questdb": {
                "enabled": False,
                "external": {
                    "host": "questdb.db.example.internal",
                    "port": 18812,
                    "existingSecret": "managed-questdb",
                    "cidrs": ["10.20.2.0/24"],
                },
            },
            "minio": {
                "enabled": False,
                "external": {
                    "endpoint": "https://s3.example.internal",
                    "existingSecret": "managed-s3",
                    "cidrs": ["10.20.3.0/24"],
                },
            },
        }
    },
)

# QMTL facts (QMTL_RUNTIME_FACTS.md), not read from the chart.
COMMANDS = {
    "gateway": ["qmtl", "gw", "--config", "/etc/qmtl/qmtl.yml"],
    "dagmanager": ["python3", "-m", "qmtl.services.dagmanager.server", "--config", "/etc/qmtl/qmtl.yml"],
}
HEALTH_PATHS = {
    "gateway": "/health",
    "dagmanager": "/status",
    "worldservice": "/metrics",
    "seamless-coordinator": "/healthz",
}
CONFIG_DIR = "/etc/qmtl"
CONFIG_FILE = "/etc/qmtl/qmtl.yml"
DATA_DIR = "/var/lib/qmtl"  # where a service keeps files: local-mode state, the gateway's working directory
GATEWAY_DAGMANAGER_DIAL = "127.0.0.1:50051"


def notes(chart: Path, values: dict) -> str:
    """NOTES.txt as `helm install` prints it for `values`, from the notes_chart fixture (tests/core/conftest.py)."""
    return render_chart(values, chart_dir=chart).get("ConfigMap", "notes-under-test")["data"]["notes"]


def effective(values: dict) -> dict:
    """values.yaml with the given overrides applied."""
    return chart_values(extra=(values,))


def render(values: dict) -> Rendered:
    return render_chart(values)


def deployment(rendered: Rendered, name: str) -> dict:
    return rendered.get("Deployment", name)


def pod_spec(rendered: Rendered, name: str) -> dict:
    return deployment(rendered, name)["spec"]["template"]["spec"]


def container(spec: dict, name: str, init: bool = False) -> dict:
    items = spec.get("initContainers" if init else "containers", [])
    for item in items:
        if item["name"] == name:
            return item
    raise KeyError(f"no {'init ' if init else ''}container {name!r}; have {[i['name'] for i in items]}")


def write_script(rendered: Rendered, key: str, directory: Path) -> Path:
    path = directory / key
    path.write_text(rendered.get("ConfigMap", "qmtl-config")["data"][key])
    return path


def checksum(rendered: Rendered, name: str) -> str:
    return deployment(rendered, name)["spec"]["template"]["metadata"]["annotations"]["checksum/qmtl-config"]


def service_ports(rendered: Rendered) -> set[tuple[str, int]]:
    """(name, port) of every Service the release renders."""
    return {(s["metadata"]["name"], int(p["port"])) for s in rendered.by_kind("Service") for p in s["spec"]["ports"]}


_URL = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*)://(?:[^@/]*@)?(?P<host>[^/:?#]+)(?::(?P<port>\d+))?")
_DEFAULT_PORTS = {
    "http": 80,
    "https": 443,
    "redis": 6379,
    "rediss": 6379,
    "postgresql": 5432,
    "bolt": 7687,
    "neo4j": 7687,
    "ws": 80,
    "wss": 443,
}


def endpoints_in(value: object, path: str = "") -> list[tuple[str, str, str, int]]:
    """Every network endpoint a config value names: (path, scheme, host, port).

    URLs/DSNs (scheme://[user:pw@]host[:port]...) and Kafka broker lists (host:port[,host:port]).
    sqlite: DSNs are local files, not endpoints.
    """
    found: list[tuple[str, str, str, int]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found += endpoints_in(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += endpoints_in(item, f"{path}[{index}]")
    elif isinstance(value, str):
        if value.startswith("sqlite:"):
            return found
        match = _URL.match(value)
        if match:
            scheme = match["scheme"]
            port = int(match["port"]) if match["port"] else _DEFAULT_PORTS[scheme]
            found.append((path, scheme, match["host"], port))
        elif re.fullmatch(r"[A-Za-z0-9.-]+:\d+(,[A-Za-z0-9.-]+:\d+)*", value):
            for broker in value.split(","):
                host, port = broker.rsplit(":", 1)
                found.append((path, "kafka", host, int(port)))
    return found
