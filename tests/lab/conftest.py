"""The lab tests drive the real lab (scripts/lab.sh) in file order (test_01_..., test_02_...)
and share it; the session starts and ends with `make lab-down`."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from lab.helpers import lab


@pytest.fixture(scope="session", autouse=True)
def lab_session() -> Iterator[None]:
    """A lab of the session's own; ZP_LAB_REUSE=1 keeps a running one (to rerun one test)."""
    reuse = os.environ.get("ZP_LAB_REUSE") == "1"
    if not reuse:
        lab("down")
    yield
    if not reuse:
        lab("down")
