"""Values sets and checks shared by the dependency tests (tests/dependencies).

The values sets are module-level constants so that every test asking for the same set shares one render
(the harness caches per distinct input). Helpers that read rendered objects live in tests/harness/objects.py.
"""

from __future__ import annotations

from qmtl_stack.render import Rendered

from tests.core.common import PROD, PROD_EXTERNAL_COORDINATOR
from tests.harness.objects import chart_values, subchart_values

__all__ = ["DEV_PROFILE", "PROD", "PROD_EXTERNAL_COORDINATOR", "PROFILES", "QMTL_OFF", "check_sizing"]

# The three QMTL services off: a render of the dependencies (and the coordinator) alone.
QMTL_OFF = {"gateway": {"enabled": False}, "dagmanager": {"enabled": False}, "worldservice": {"enabled": False}}
DEV_PROFILE = {"global": {"profile": "dev"}}
# PROD_EXTERNAL_COORDINATOR (the core tests' set): prod whose coordinator runs outside the release.
# The per-profile renders of the bundled stores' tests (the `profile` and `rendered` fixtures in conftest.py):
# values.yaml's own defaults (dev), and prod with everything bundled (PROD, the core tests' prod set).
PROFILES = {"dev": {}, "prod": PROD}


def check_sizing(rendered: Rendered, profile: str, store: str) -> None:
    """The store's StatefulSet is sized per profile: its one container from <store>.resources.<profile>.<store>,
    its one volume claim from <store>.persistence.size.<profile>."""
    values = chart_values(extra=(PROFILES[profile],))
    sts = rendered.get("StatefulSet", store)
    (c,) = sts["spec"]["template"]["spec"]["containers"]
    assert c["resources"] == values[store]["resources"][profile][store]
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == subchart_values(store)["persistence"]["size"][profile]
