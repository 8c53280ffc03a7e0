"""Run several deployments at the same time and wait for all of them.

Why: it proves the fleet really spreads work. Each child is a separate flow run created from its
deployment, so any idle worker of the deployment's work pool can pick it up; the log of this
flow then says which worker ran which child.

How: one task per deployment calls `run_deployment`, and the tasks are submitted together to the
flow's thread pool, so all children are created at once and then polled until they end. Called
from inside a flow run, `run_deployment` links each child to this run as a *subflow* (the
child's `parent_task_run_id` is a task run of this flow run), so the UI shows them nested here.

Before triggering anything the flow checks that every named deployment exists, so a typo fails
the run instead of launching half of the children. A child still not finished after `timeout`
seconds counts as failed (it is left running; its state is reported as it was).

Entrypoint: `flows/parallel.py:run_in_parallel`.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_client, task
from prefect.cache_policies import NO_CACHE
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound

# "flow-name/deployment-name"; the deployments are declared in deployments/prefect.yaml.
DEFAULT_DEPLOYMENTS = [
    "hello/hello",
    "shell-command/shell-command",
    "verify-filenames/verify-filenames",
]

# Label a worker puts on every flow run it submits (Prefect 3 workers do this themselves).
WORKER_LABEL = "prefect.worker.name"


class ChildRunsFailedError(RuntimeError):
    """At least one child flow run did not end Completed."""


@task(cache_policy=NO_CACHE)
def check_deployments_exist(deployments: list[str]) -> None:
    """Fail, naming every missing one, unless all deployments exist."""
    missing = []
    with get_client(sync_client=True) as client:
        for name in deployments:
            try:
                client.read_deployment_by_name(name)
            except ObjectNotFound:
                missing.append(name)
    if missing:
        raise ValueError(
            f"Unknown deployment(s): {', '.join(missing)} "
            "(names are 'flow-name/deployment-name'; see `prefect deployment ls`)"
        )


# NO_CACHE and no retries: every call must create a new child run, never replay an old one.
@task(cache_policy=NO_CACHE, task_run_name="run {name}")
def run_child(name: str, timeout: float, poll_interval: float) -> dict[str, Any]:
    """Create a flow run of deployment `name`, wait up to `timeout` seconds for it to end and
    describe how it ended."""
    child = run_deployment(name, timeout=timeout, poll_interval=poll_interval)
    return {
        "flow_run_id": str(child.id),
        "flow_run_name": child.name,
        "state": child.state.name if child.state else "Unknown",
        "completed": bool(child.state and child.state.is_completed()),
        "finished": bool(child.state and child.state.is_final()),
        "work_pool": child.work_pool_name,
        "worker": child.labels.get(WORKER_LABEL),
    }


@flow(log_prints=True)
def run_in_parallel(
    deployments: list[str] = DEFAULT_DEPLOYMENTS,
    timeout: float = 600,
    poll_interval: float = 2,
) -> dict[str, str]:
    """Run all `deployments` concurrently as subflows; return each one's final state name.

    Fails, naming each failed child and its state, if any child does not end Completed
    within `timeout` seconds. `poll_interval` is how often each child's state is read.
    """
    names = list(dict.fromkeys(deployments))  # each deployment once, in the given order
    if len(names) < len(deployments):
        print(f"Ignoring repeated deployment names; running {names}")
    check_deployments_exist(names)

    futures = {name: run_child.submit(name, timeout, poll_interval) for name in names}
    children = {name: future.result() for name, future in futures.items()}

    for name, child in children.items():
        where = f"work pool {child['work_pool'] or '?'}, worker {child['worker'] or '?'}"
        print(f"{name}: {child['state']} (flow run {child['flow_run_name']}, {where})")

    failed = [
        f"{name} ({child['state']}"
        + ("" if child["finished"] else f", not finished after {timeout:g}s")
        + ")"
        for name, child in children.items()
        if not child["completed"]
    ]
    if failed:
        raise ChildRunsFailedError(
            f"{len(failed)} of {len(children)} child run(s) did not complete: " + ", ".join(failed)
        )
    return {name: child["state"] for name, child in children.items()}


if __name__ == "__main__":
    run_in_parallel()
