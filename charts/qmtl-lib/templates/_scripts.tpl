{{/*
Scripts run by QMTL pods' init containers, with the QMTL image's own python3 (QMTL images are built
from python:3.11-slim and have no curl). The umbrella ships them in ConfigMap "qmtl-config"; their
text is part of every QMTL pod's config checksum. Tests extract them from the rendered ConfigMap and
run them for real.
*/}}

{{- define "qmtl.script.assemble" -}}
"""Assemble one QMTL service's qmtl.yml from the chart's template and Secret-provided env vars.

usage: assemble_config.py TEMPLATE_JSON SECTIONS OUTPUT
  SECTIONS is a comma-separated list of config sections to keep (besides `profile`).
Placeholders: ${QMTL_SECRET_X} (raw) and ${QMTL_SECRET_X|url} (percent-encoded, for DSNs).
QMTL itself interpolates nothing, so every value written here is final.
"""
import json
import os
import re
import sys
import urllib.parse

PLACEHOLDER = re.compile(r"\$\{(QMTL_SECRET_[A-Z0-9_]+)(\|url)?\}")


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
              + ": the Secret keys behind these env vars are missing", file=sys.stderr)
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

usage: coordinator_guard.py (--config QMTL_YML | --url COORDINATOR_URL)
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


def probe(url, timeout):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
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
