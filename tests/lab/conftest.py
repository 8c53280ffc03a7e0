"""The lab tests drive the real lab (scripts/lab.sh) in file order (test_01_..., test_02_...)
and share it; the session starts and ends with `make lab-down`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lab.helpers import lab


@pytest.fixture(scope="session", autouse=True)
def lab_session() -> Iterator[None]:
    lab("down")
    yield
    lab("down")
