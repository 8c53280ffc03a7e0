"""flows/windows_file.py: refuses non-Windows workers at once; its cmd.exe command line, paths
and idempotence decision are pure functions, tested here on Linux."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from .helpers import load_flow_module

module = load_flow_module("windows_file")
create_windows_file = module.create_windows_file

# Every character cmd.exe treats specially, plus a reference to a real variable.
NASTY = 'a & b | c < d > e ^ f %PATH% g !PATH! h "quoted" (paren) ; , = 100% done!'


@pytest.mark.skipif(platform.system() == "Windows", reason="checks the non-Windows refusal")
def test_fails_at_once_on_a_non_windows_worker(
    client: SyncPrefectClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    state = create_windows_file(return_state=True)

    assert state.is_failed()
    assert (
        f"create_windows_file needs Windows (cmd.exe); this worker runs {platform.system()} "
        "— deploy it to the 'windows' work pool"
    ) in state.message
    assert list(tmp_path.iterdir()) == []  # nothing written
    flow_run_id = state.state_details.flow_run_id
    tasks = client.read_task_runs(
        flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
    )
    assert tasks == []  # and nothing even started


def test_require_windows() -> None:
    module.require_windows("Windows")
    with pytest.raises(module.WrongPlatformError, match="this worker runs Darwin"):
        module.require_windows("Darwin")


def test_default_path_is_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    assert module.resolve_path(None) == tmp_path / "prefect_windows_file.txt"
    assert module.resolve_path("") == tmp_path / "prefect_windows_file.txt"


def test_relative_paths_start_at_the_working_directory(tmp_path: Path) -> None:
    assert module.resolve_path("out/x.txt", cwd=tmp_path) == tmp_path / "out" / "x.txt"
    assert module.resolve_path(str(tmp_path / "abs.txt"), cwd=Path("/elsewhere")) == (
        tmp_path / "abs.txt"
    )


def test_the_command_line_never_contains_the_content() -> None:
    line = module.cmd_command_line(NASTY)

    assert line == (
        '"cmd.exe" /d /s /v:on /c "echo(!ZOE_PREFECT_FILE_CONTENT!>"!ZOE_PREFECT_FILE_PATH!""'
    )
    assert line == module.cmd_command_line("plain")  # one constant line for any content
    # nothing on it that cmd.exe would expand or escape before delayed expansion
    assert "%" not in line and "^" not in line and "&" not in line


def test_empty_content_makes_an_empty_file() -> None:
    line = module.cmd_command_line("", comspec=r"C:\Windows\system32\cmd.exe")

    assert line == (
        r'"C:\Windows\system32\cmd.exe" /d /s /v:on /c "type nul>"!ZOE_PREFECT_FILE_PATH!""'
    )
    assert module.expected_bytes("") == b""


def test_content_and_path_travel_verbatim_in_the_environment(tmp_path: Path) -> None:
    target = tmp_path / "a & b ^ 100% !x!.txt"

    env = module.cmd_environment(target, NASTY, {"SYSTEMROOT": r"C:\Windows"})

    assert env == {
        "SYSTEMROOT": r"C:\Windows",
        "ZOE_PREFECT_FILE_CONTENT": NASTY,
        "ZOE_PREFECT_FILE_PATH": str(target),
    }


def test_a_path_with_double_quotes_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="double quotes"):
        module.cmd_environment(tmp_path / 'a"b.txt', "x", {})


@pytest.mark.parametrize("content", ["Created by Prefect", NASTY, "  leading", "/?", "off", ""])
def test_content_echo_can_write_is_accepted(content: str) -> None:
    module.validate_content(content)


@pytest.mark.parametrize("content", ["two\nlines", "cr\r", "caf\u00e9", "nul\x00"])
def test_content_echo_cannot_write_is_refused(content: str) -> None:
    with pytest.raises(ValueError, match="one line of printable ASCII"):
        module.validate_content(content)


def test_expected_bytes_end_with_a_windows_line_ending() -> None:
    assert module.expected_bytes(NASTY) == NASTY.encode() + b"\r\n"


def test_idempotence_decision(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    assert module.needs_write(target, "hello")  # missing

    target.write_bytes(b"hello\r\n")
    assert not module.needs_write(target, "hello")  # already right: do nothing

    assert module.needs_write(target, "hello!")  # other content
    target.write_bytes(b"hello\n")
    assert module.needs_write(target, "hello")  # same text, wrong line ending
    target.write_bytes(b"")
    assert not module.needs_write(target, "")
