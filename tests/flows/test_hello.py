"""flows/hello.py: the fleet's smoke test greets, logs the greeting and returns it."""

from __future__ import annotations

from prefect.client.orchestration import SyncPrefectClient

from .helpers import load_flow_module, messages

hello = load_flow_module("hello").hello


def test_returns_the_greeting() -> None:
    assert hello() == "Hello, world!"


def test_logs_the_greeting_to_the_flow_run(client: SyncPrefectClient) -> None:
    state = hello(name="fleet", return_state=True)

    assert state.is_completed()
    assert state.result() == "Hello, fleet!"
    assert "Hello, fleet!" in messages(client, state.state_details.flow_run_id)
