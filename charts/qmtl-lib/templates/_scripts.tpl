{{/*
Scripts run in QMTL pods with the QMTL image's own python3 (QMTL images, images/qmtl's included,
have no curl): the config assembler and the coordinator guard (init containers)
and the gateway's TCP forwarder (sidecar). Standard library only. The umbrella ships them in ConfigMap
"qmtl-config"; the text of each is part of the checksum of the pods that run it
(qmtl.config.consumers). Tests extract them from the rendered ConfigMap and run them for real.
*/}}

{{- define "qmtl.script.assemble" -}}
"""Assemble one QMTL service's qmtl.yml from the chart's template and Secret-provided env vars.

usage: assemble_config.py TEMPLATE_JSON SECTIONS OUTPUT
  SECTIONS is a comma-separated list of config sections to keep (besides `profile`).
Placeholders: ${QMTL_SECRET_X} (raw) and ${QMTL_SECRET_X|url} (percent-encoded, for DSNs), from the
pod's Secret-provided env vars, and ${QMTL_POD_NAME}, the pod's own name (the downward API), for what
must differ per replica. QMTL itself interpolates nothing, so every value written here is final.
"""
import json
import os
import re
import sys
import urllib.parse

PLACEHOLDER = re.compile(r"\$\{(QMTL_SECRET_[A-Z0-9_]+|QMTL_POD_NAME)(\|url)?\}")


def fill(value, missing):
    if isinstance(value, str):
        def replace(match):
            name, encode = match.group(1), match.group(2)
            if name not in os.environ:
                missing.add(name)
                return match.group(0)
            secret = os.environ[name]
            return urllib.parse.quote(secret, safe="") if encode else secret

        return PLACEHOLDER.sub(replace, value)
    if isinstance(value, list):
        return [fill(item, missing) for item in value]
    if isinstance(value, dict):
        return {key: fill(item, missing) for key, item in value.items()}
    return value


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    template_path, sections, output_path = argv[1], argv[2].split(","), argv[3]
    with open(template_path, encoding="utf-8") as handle:
        template = json.load(handle)
    config = {"profile": template["profile"]}
    for section in sections:
        if section in template:
            config[section] = template[section]
    missing = set()
    config = fill(config, missing)
    if missing:
        print("qmtl-config: no value for " + ", ".join(sorted(missing))
              + ": the Secret keys (or, for QMTL_POD_NAME, the pod field) behind these env vars are missing",
              file=sys.stderr)
        return 1
    partial = output_path + ".partial"
    with open(partial, "w", encoding="utf-8") as handle:
        json.dump(config, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(partial, output_path)
    print("qmtl-config: wrote " + output_path + " (profile " + str(config["profile"])
          + "; sections " + ", ".join(s for s in sections if s in config) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
{{- end -}}

{{- define "qmtl.script.guard" -}}
"""Runtime guard: succeed only once the Seamless coordinator's /healthz answers 2xx.

usage: coordinator_guard.py (--url COORDINATOR_URL | --config QMTL_YML)
  The chart passes --url (global.seamless.coordinator_url); --config reads seamless.coordinator_url.
Bounded retries, no stub fallback: QMTL_GUARD_ATTEMPTS (3), QMTL_GUARD_INTERVAL_SECONDS (10),
QMTL_GUARD_TIMEOUT_SECONDS (5 per attempt). On failure it exits 1 naming the URL and the last error.
"""
import json
import os
import sys
import time
import urllib.error
import urllib.request


def coordinator_url(argv):
    if len(argv) == 3 and argv[1] == "--url":
        return argv[2]
    if len(argv) == 3 and argv[1] == "--config":
        with open(argv[2], encoding="utf-8") as handle:
            config = json.load(handle)
        return (config.get("seamless") or {}).get("coordinator_url") or ""
    print(__doc__, file=sys.stderr)
    sys.exit(2)


# Direct connections only: a proxy from the environment must not stand in for the coordinator.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def probe(url, timeout):
    try:
        with OPENER.open(url, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except Exception as error:  # connection refused, DNS, timeout, TLS: all are "not healthy"
        return False, type(error).__name__ + ": " + str(getattr(error, "reason", error))
    return 200 <= status < 300, "HTTP " + str(status)


def main(argv):
    base = coordinator_url(argv)
    if not base:
        print("coordinator guard: seamless.coordinator_url is empty; prod requires it", file=sys.stderr)
        return 1
    attempts = int(os.environ.get("QMTL_GUARD_ATTEMPTS", "3"))
    interval = float(os.environ.get("QMTL_GUARD_INTERVAL_SECONDS", "10"))
    timeout = float(os.environ.get("QMTL_GUARD_TIMEOUT_SECONDS", "5"))
    url = base.rstrip("/") + "/healthz"
    last = "not probed"
    for attempt in range(1, attempts + 1):
        healthy, last = probe(url, timeout)
        print("coordinator guard: attempt " + str(attempt) + "/" + str(attempts) + " " + url + ": " + last,
              flush=True)
        if healthy:
            return 0
        if attempt < attempts:
            time.sleep(interval)
    print("coordinator guard: " + url + " is not healthy after " + str(attempts) + " attempts; last error: "
          + last + ". Refusing to start (no stub fallback in prod).", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
{{- end -}}


{{- define "qmtl.script.forwarder" -}}
"""TCP forwarder for the gateway pod.

QMTL's gateway dials the DAG Manager's gRPC server at a hard-coded 127.0.0.1:50051 that no setting
changes. This sidecar listens there and pipes every connection, byte for byte in both directions, to
the dagmanager Service's gRPC port. Kubelet probes cannot reach a loopback listener, so a tiny HTTP
endpoint on a separate port answers 200 while the forwarder is listening (503 otherwise).

usage: tcp_forwarder.py LISTEN_HOST:PORT UPSTREAM_HOST:PORT HEALTH_HOST:PORT
env:   QMTL_FORWARDER_CONNECT_TIMEOUT_SECONDS (5): how long to wait for the upstream per connection.
A connection whose upstream can't be reached is closed at once (the gateway's gRPC client retries).
"""
import asyncio
import os
import signal
import sys

BUFFER = 65536


def log(message):
    print("forwarder: " + message, file=sys.stderr, flush=True)


def address(text):
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit("forwarder: bad address " + repr(text) + " (want HOST:PORT)")
    return host.strip("[]"), int(port)


async def pump(reader, writer):
    """Copy until EOF; True on a clean EOF (then half-close the other side), False on an error."""
    try:
        while True:
            chunk = await reader.read(BUFFER)
            if not chunk:
                break
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        return False
    try:
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        return False
    return True


class Forwarder:
    def __init__(self, upstream, timeout):
        self.upstream = upstream
        self.timeout = timeout
        self.server = None
        self.active = 0

    def serving(self):
        return self.server is not None and self.server.is_serving()

    async def handle(self, client_reader, client_writer):
        host, port = self.upstream
        try:
            upstream_reader, upstream_writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), self.timeout)
        except (OSError, asyncio.TimeoutError) as error:
            log("upstream " + host + ":" + str(port) + " unreachable: "
                + (type(error).__name__ + " " + str(error)).strip())
            client_writer.close()
            return
        self.active += 1
        tasks = [asyncio.ensure_future(pump(client_reader, upstream_writer)),
                 asyncio.ensure_future(pump(upstream_reader, client_writer))]
        try:
            pending = set(tasks)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if not all(task.result() for task in done):
                    break  # one side failed: tear both down instead of waiting for the other
        finally:
            for task in tasks:
                task.cancel()
            for writer in (client_writer, upstream_writer):
                writer.close()
            self.active -= 1

    async def health(self, reader, writer):
        try:
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            writer.close()
            return
        ok = self.serving()
        body = ("ok" if ok else "not listening") + " active=" + str(self.active) + "\n"
        head = "HTTP/1.1 " + ("200 OK" if ok else "503 Service Unavailable") + "\r\n"
        head += "Content-Type: text/plain\r\nContent-Length: " + str(len(body)) + "\r\nConnection: close\r\n\r\n"
        try:
            writer.write((head + body).encode())
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        writer.close()


async def run(listen, upstream, health, timeout):
    forwarder = Forwarder(upstream, timeout)
    forwarder.server = await asyncio.start_server(forwarder.handle, *listen)
    health_server = await asyncio.start_server(forwarder.health, *health)
    log("listening on " + listen[0] + ":" + str(listen[1]) + " -> " + upstream[0] + ":" + str(upstream[1])
        + "; health on " + health[0] + ":" + str(health[1]))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log("stopping")
    forwarder.server.close()
    health_server.close()
    await forwarder.server.wait_closed()
    await health_server.wait_closed()
    return 0


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    listen, upstream, health = address(argv[1]), address(argv[2]), address(argv[3])
    timeout = float(os.environ.get("QMTL_FORWARDER_CONNECT_TIMEOUT_SECONDS", "5"))
    return asyncio.run(run(listen, upstream, health, timeout))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
{{- end -}}
