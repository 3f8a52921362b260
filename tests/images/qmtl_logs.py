"""Tracebacks in a QMTL service's log: the ones QMTL logs for defects that do not stop the service are
known (README, "QMTL behaviours the chart works around"); any other one fails the test."""

from __future__ import annotations

# service -> (the log line before the traceback, the exception line that ends it)
KNOWN: dict[str, tuple[tuple[str, str], ...]] = {
    "worldservice": (
        # QMTL awaits aiokafka's synchronous subscribe(): the risk-hub ControlBus consumer never starts;
        # WorldService runs on without it.
        ("Failed to start risk hub consumer", "TypeError: object NoneType can't be used in 'await' expression"),
    ),
}


def tracebacks(log: str) -> list[tuple[str, str]]:
    """(line before, exception line) of every traceback in `log`."""
    lines = log.splitlines()
    found = []
    for i, line in enumerate(lines):
        if line.strip() != "Traceback (most recent call last):":
            continue
        before = lines[i - 1].strip() if i else ""
        end = i + 1
        while end < len(lines) and (lines[end].startswith((" ", "\t")) or not lines[end].strip()):
            end += 1
        found.append((before, lines[end].strip() if end < len(lines) else ""))
    return found


def unexpected_tracebacks(service: str, log: str) -> list[tuple[str, str]]:
    known = KNOWN.get(service, ())
    return [tb for tb in tracebacks(log) if not any(tb[0].endswith(k[0]) and tb[1] == k[1] for k in known)]
