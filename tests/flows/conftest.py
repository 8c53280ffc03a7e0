"""Every flow test runs against a throwaway Prefect API (SQLite, loopback only)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prefect import get_client
from prefect.client.orchestration import SyncPrefectClient
from prefect.settings import (
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
    PREFECT_SERVER_ANALYTICS_ENABLED,
    temporary_settings,
)
from prefect.testing.utilities import prefect_test_harness


@pytest.fixture(scope="session", autouse=True)
def prefect_api() -> Iterator[None]:
    """One temporary Prefect server for the whole session: starting one takes seconds.

    Flow run heartbeats are off: a synchronous flow run joins its heartbeat thread on exit,
    which sleeps in 1 s steps, so with them on every run in these tests takes a second longer.
    Server analytics are off: there is no internet to send them to, and the server's attempt
    only adds noise ("database is locked", "Name or service not known") to the output.
    """
    settings = {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None, PREFECT_SERVER_ANALYTICS_ENABLED: False}
    with (
        temporary_settings(updates=settings),
        prefect_test_harness(server_startup_timeout=60),
    ):
        yield


@pytest.fixture
def client(prefect_api: None) -> Iterator[SyncPrefectClient]:
    """A synchronous client of the test API, to read back runs and logs."""
    with get_client(sync_client=True) as api_client:
        yield api_client
