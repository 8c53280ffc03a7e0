"""The lab tests drive the real lab (scripts/lab.sh) in file order (test_01_..., test_02_...)
and share it; the session starts and ends with `make lab-down`."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from lab.helpers import CONTROL, docker, lab, lab_hosts, now, online_since, wait_for


@pytest.fixture(scope="session", autouse=True)
def lab_session() -> Iterator[None]:
    """A lab of the session's own; ZP_LAB_REUSE=1 keeps a running one (to rerun one test)."""
    reuse = os.environ.get("ZP_LAB_REUSE") == "1"
    if not reuse:
        lab("down")
    yield
    if not reuse:
        lab("down")


@pytest.fixture(autouse=True)
def fleet_put_back() -> Iterator[None]:
    """After each test, whatever it did: every lab container that a fault test stopped or
    killed is started again and its worker is back ONLINE, so that one failure cannot
    cascade into the tests after it."""
    yield
    stopped = lab_hosts("status=exited")
    if not stopped:
        return
    since = now()
    docker("start", *stopped)
    workers = {name for name in stopped if "-worker-" in name}
    if CONTROL in stopped:
        workers |= set(lab_hosts("label=zoe-prefect.group=linux_workers"))
    wait_for(
        f"the workers ONLINE again after restarting {', '.join(stopped)}",
        lambda: workers <= online_since("linux", since),
        timeout=180,
        interval=2,
    )
