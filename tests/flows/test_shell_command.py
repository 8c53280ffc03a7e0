"""flows/shell_command.py: output is returned, streamed line by line into the run's logs, and a
non-zero exit fails the run with the exit code."""

from __future__ import annotations

from pathlib import Path

from prefect.client.orchestration import SyncPrefectClient

from .helpers import flow_run_logs, load_flow_module, messages

shell_command = load_flow_module("shell_command").shell_command


def test_returns_the_output_lines() -> None:
    assert shell_command("echo one; echo two words") == ["one", "two words"]


def test_output_lines_are_in_the_flow_run_logs(client: SyncPrefectClient) -> None:
    state = shell_command("echo alpha; echo beta >&2; echo gamma", return_state=True)

    assert state.is_completed()
    assert state.result() == ["alpha", "gamma"]  # stdout only; stderr is logged
    logged = messages(client, state.state_details.flow_run_id)
    assert "[stream output] alpha" in logged
    assert "[stream output] gamma" in logged
    assert "[stderr] beta" in logged


def test_runs_in_the_given_directory(tmp_path: Path) -> None:
    assert shell_command("pwd", cwd=str(tmp_path)) == [str(tmp_path)]


def test_non_zero_exit_fails_the_run_with_the_exit_code(client: SyncPrefectClient) -> None:
    state = shell_command("echo before failing; exit 3", return_state=True)

    assert state.is_failed()
    assert "exited with code 3" in state.message
    # what the command printed before failing is still in the logs
    assert "[stream output] before failing" in messages(client, state.state_details.flow_run_id)


def test_lines_are_logged_as_they_come_not_at_the_end(client: SyncPrefectClient) -> None:
    state = shell_command("echo first; sleep 2; echo second", return_state=True)

    assert state.is_completed()
    logs = {log.message: log for log in flow_run_logs(client, state.state_details.flow_run_id)}
    first = logs["[stream output] first"].timestamp
    second = logs["[stream output] second"].timestamp
    # Each log record is stamped when it is emitted: "first" must have been logged while the
    # command was still sleeping, not collected and logged after it ended.
    assert (second - first).total_seconds() >= 1.5
