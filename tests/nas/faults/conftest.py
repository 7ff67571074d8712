"""The fault scenarios' fixture: every fleet a test started is killed at its end, also when it fails."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.nas.faults.fleet import Fleet


@pytest.fixture
def fleets() -> Iterator[list[Fleet]]:
    made: list[Fleet] = []
    yield made
    for f in made:
        f.stop_all()
