"""The per-profile render of the bundled stores' tests: `profile` ("dev", "prod") and `rendered` (that
profile's render, common.PROFILES). A test module that needs other renders defines its own fixtures of
these names (pytest then uses the module's)."""

from __future__ import annotations

import pytest

from tests.dependencies.common import PROFILES
from tests.harness import Rendered, render_chart


@pytest.fixture(params=sorted(PROFILES), scope="module")
def profile(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def rendered(profile: str) -> Rendered:
    return render_chart(PROFILES[profile])
