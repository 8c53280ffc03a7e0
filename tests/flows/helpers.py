"""Helpers for the flow tests: load flows the way a worker does, read a run's logs back."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from uuid import UUID

from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
from prefect.client.schemas.objects import Log
from prefect.client.schemas.sorting import LogSort
from prefect.logging.handlers import APILogHandler

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "flows"


def load_flow_module(name: str) -> ModuleType:
    """Import flows/<name>.py from its file, as workers do with an entrypoint.

    The module gets a name of its own (`zoe_flows_<name>`) so it cannot clash with this test
    package (`flows`) or anything else on sys.path.
    """
    module_name = f"zoe_flows_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, FLOWS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def flow_run_logs(client: SyncPrefectClient, flow_run_id: UUID) -> list[Log]:
    """All logs of a flow run (its tasks' included), oldest first, as the API returns them.

    Logs reach the API in batches from a background worker; flush it first so that
    everything the run logged is there.
    """
    APILogHandler().flush()
    return client.read_logs(
        log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])),
        sort=LogSort.TIMESTAMP_ASC,
    )


def messages(client: SyncPrefectClient, flow_run_id: UUID) -> list[str]:
    """The messages of a flow run's logs, oldest first."""
    return [log.message for log in flow_run_logs(client, flow_run_id)]
