"""flows/parallel.py against real child deployments.

The children are deployments registered on the test API from their entrypoints, as
deployments/prefect.yaml declares them, and served by a `prefect.runner.Runner` in a background
thread of this process. Like a process worker, the runner polls the API for scheduled runs and
starts each one as `python -m prefect.engine` in a subprocess that loads the flow from its
entrypoint (`flows/hello.py:hello`, ...) relative to the working directory, which is the
repository root here as on the fleet's workers.

(`Runner.add_flow` would be shorter but is not the same thing: for a flow object it has in
memory, the runner pickles that object into a spawned process instead of loading the entrypoint.)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterParentFlowRunId,
)
from prefect.deployments.runner import RunnerDeployment
from prefect.runner import Runner

from .helpers import ROOT, load_flow_module, messages

run_in_parallel = load_flow_module("parallel").run_in_parallel

HELLO = "hello/hello"
SHELL = "shell-command/shell-command"
FAILING = "fail-on-purpose/fail-on-purpose"
FAST = {"timeout": 60, "poll_interval": 0.5}
ENTRYPOINTS = {
    "hello": "flows/hello.py:hello",
    "shell-command": "flows/shell_command.py:shell_command",
    "fail-on-purpose": "tests/flows/child_flows.py:fail_on_purpose",
}


@pytest.fixture(scope="module")
def children(prefect_api: None) -> Iterator[None]:
    """Deploy the ENTRYPOINTS, each as "<flow name>/<its name>", and serve them for the module."""
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.chdir(ROOT)  # entrypoints are relative to the repository root
    runner = Runner(name="pytest-children", query_seconds=1, pause_on_shutdown=False)
    ready = threading.Event()

    async def serve() -> None:
        for name, entrypoint in ENTRYPOINTS.items():
            await runner.aadd_deployment(RunnerDeployment.from_entrypoint(entrypoint, name))
        ready.set()
        await runner.start()

    with ThreadPoolExecutor(1, thread_name_prefix="children-runner") as pool:
        served = pool.submit(asyncio.run, serve())
        while not ready.wait(0.1):
            if served.done():
                served.result()  # raises whatever stopped the runner
                pytest.fail("the runner stopped before it registered the deployments")
        try:
            yield
        finally:
            if runner.started:
                runner.execute_in_background(runner.astop).result(timeout=30)
            served.result(timeout=30)
            monkeypatch.undo()


def child_runs(client: SyncPrefectClient, parent_id: Any) -> dict[str, Any]:
    """The subflow runs of a flow run, by the name of their deployment."""
    runs = client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent_id])
        )
    )
    names = {}
    for run in runs:
        deployment = client.read_deployment(run.deployment_id)
        flow = client.read_flow(deployment.flow_id)
        names[f"{flow.name}/{deployment.name}"] = run
    return names


def test_completes_when_every_child_completes(children: None, client: SyncPrefectClient) -> None:
    state = run_in_parallel([HELLO, SHELL], return_state=True, **FAST)

    assert state.is_completed(), state.message
    assert state.result() == {HELLO: "Completed", SHELL: "Completed"}

    parent_id = state.state_details.flow_run_id
    runs = child_runs(client, parent_id)
    assert set(runs) == {HELLO, SHELL}
    for run in runs.values():
        # a subflow run: its parent task run belongs to the parent flow run, and the server
        # keeps that task run's state in step with the child's
        parent_task_run = client.read_task_run(run.parent_task_run_id)
        assert parent_task_run.flow_run_id == parent_id
        assert run.state.is_completed()
        assert parent_task_run.state.is_completed()

    # both children were waited for at the same time, not one after the other
    waits = [
        task
        for task in client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[parent_id]))
        )
        if task.name.startswith("run ")
    ]
    assert len(waits) == 2
    assert max(t.start_time for t in waits) < min(t.end_time for t in waits)

    logged = messages(client, parent_id)
    assert any(m.startswith(f"{HELLO}: Completed (flow run ") for m in logged)


def test_fails_naming_the_failed_child(children: None, client: SyncPrefectClient) -> None:
    state = run_in_parallel([HELLO, FAILING], return_state=True, **FAST)

    assert state.is_failed()
    assert f"1 of 2 child run(s) did not complete: {FAILING} (Failed)" in state.message
    assert HELLO not in state.message
    runs = child_runs(client, state.state_details.flow_run_id)
    assert runs[HELLO].state.is_completed()  # the good child still ran to the end
    assert runs[FAILING].state.is_failed()


def test_unknown_deployments_fail_before_anything_runs(client: SyncPrefectClient) -> None:
    state = run_in_parallel([HELLO, "nope/nope", "typo/hello"], return_state=True, **FAST)

    assert state.is_failed()
    assert "Unknown deployment(s): nope/nope, typo/hello" in state.message
    assert child_runs(client, state.state_details.flow_run_id) == {}
