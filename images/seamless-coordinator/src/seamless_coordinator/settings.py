"""Settings: environment variables only, each listed once in ENV with its default and meaning.

The chart renders these variables (charts/seamless-coordinator); tests compare ENV with the rendered
env in both directions, and the README's settings table is this list.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Mapping
from urllib.parse import urlsplit


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable and what to do."""


@dataclasses.dataclass(frozen=True)
class Var:
    name: str
    default: str | None  # None: required
    help: str


ENV: tuple[Var, ...] = (
    Var("COORDINATOR_ID", "", "This replica's name in logs and metadata rows; empty: the host name."),
    Var("BIND_ADDR", "0.0.0.0:8080", "host:port of the lease API (and /healthz)."),
    Var("PROMETHEUS_PORT", "9102", "Port of the Prometheus /metrics endpoint (same host as BIND_ADDR); 0: off."),
    Var(
        "REDIS_DSN",
        None,
        "redis:// or rediss:// URL of the lease store: host, port and DB index (credentials may be in it, or in "
        "REDIS_USER and REDIS_PASSWORD).",
    ),
    Var("REDIS_USER", "", "Redis ACL user; overrides a user inside REDIS_DSN."),
    Var("REDIS_PASSWORD", "", "Password of the Redis user; overrides a password inside REDIS_DSN."),
    Var(
        "QUESTDB_DSN",
        "",
        "postgresql:// URL of QuestDB's PG wire for the lease journal and coverage; empty: no metadata, "
        "and completion_ratio is never answered.",
    ),
    Var("QUESTDB_USER", "", "QuestDB user; overrides a user inside QUESTDB_DSN."),
    Var("QUESTDB_PASSWORD", "", "QuestDB password; overrides a password inside QUESTDB_DSN."),
    Var("LEASE_MAX_MS", "3600000", "Largest lease_ms a claim may ask for; larger claims get 422."),
    Var(
        "LEASE_RECORD_TTL_S",
        "604800",
        "How long a key's lease record lives in Redis after its last change; after that the key is "
        "unknown again (404 on complete/fail). Must exceed LEASE_MAX_MS.",
    ),
    Var("LOG_LEVEL", "info", "debug, info, warning or error."),
)

ENV_NAMES = frozenset(v.name for v in ENV)
LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclasses.dataclass(frozen=True)
class Settings:
    coordinator_id: str
    host: str
    port: int
    metrics_port: int
    redis_dsn: str
    redis_user: str | None
    redis_password: str | None
    questdb_dsn: str
    questdb_user: str | None
    questdb_password: str | None
    lease_max_ms: int
    record_ttl_s: int
    log_level: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        raw = {v.name: env.get(v.name, v.default) for v in ENV}
        for var in ENV:
            if var.default is None and not (raw[var.name] or "").strip():
                raise SettingsError(f"{var.name} is not set: {var.help}")
        host, port = _bind(raw["BIND_ADDR"])
        lease_max = _integer("LEASE_MAX_MS", raw["LEASE_MAX_MS"], 1, 2**31 - 1)
        ttl = _integer("LEASE_RECORD_TTL_S", raw["LEASE_RECORD_TTL_S"], 1, 10 * 365 * 86400)
        if ttl * 1000 <= lease_max:
            raise SettingsError(
                f"LEASE_RECORD_TTL_S ({ttl} s) must exceed LEASE_MAX_MS ({lease_max} ms): a lease record must "
                "outlive the longest lease, or completing it would answer 404 instead of 409"
            )
        redis_dsn = _url("REDIS_DSN", raw["REDIS_DSN"], ("redis", "rediss"))
        questdb_dsn = raw["QUESTDB_DSN"].strip()
        if questdb_dsn:
            _url("QUESTDB_DSN", questdb_dsn, ("postgresql", "postgres"))
        level = raw["LOG_LEVEL"].strip().lower()
        if level not in LOG_LEVELS:
            raise SettingsError(f"LOG_LEVEL {raw['LOG_LEVEL']!r} is not one of {', '.join(LOG_LEVELS)}")
        return cls(
            coordinator_id=raw["COORDINATOR_ID"].strip() or socket.gethostname(),
            host=host,
            port=port,
            metrics_port=_integer("PROMETHEUS_PORT", raw["PROMETHEUS_PORT"], 0, 65535),
            redis_dsn=redis_dsn,
            redis_user=raw["REDIS_USER"] or None,
            redis_password=raw["REDIS_PASSWORD"] or None,
            questdb_dsn=questdb_dsn,
            questdb_user=raw["QUESTDB_USER"] or None,
            questdb_password=raw["QUESTDB_PASSWORD"] or None,
            lease_max_ms=lease_max,
            record_ttl_s=ttl,
            log_level=level,
        )


def _integer(name: str, text: str, low: int, high: int) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise SettingsError(f"{name} {text!r} is not an integer") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} {value} is outside {low}..{high}")
    return value


def _bind(text: str) -> tuple[str, int]:
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host:
        raise SettingsError(f"BIND_ADDR {text!r} is not host:port (e.g. 0.0.0.0:8080)")
    return host.strip("[]"), _integer("BIND_ADDR port", port, 1, 65535)


def _url(name: str, text: str, schemes: tuple[str, ...]) -> str:
    url = text.strip()
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.hostname:
        raise SettingsError(f"{name} {_redact(url)!r} is not a {' or '.join(s + '://' for s in schemes)}host URL")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise SettingsError(f"{name} {_redact(url)!r} has an invalid port") from None
    return url


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def describe() -> str:
    """The settings as a Markdown table (README)."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for var in ENV:
        default = "(required)" if var.default is None else f"`{var.default}`" if var.default else "empty"
        rows.append(f"| `{var.name}` | {default} | {var.help} |")
    return "\n".join(rows)
