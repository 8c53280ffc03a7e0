r"""Create a text file with cmd.exe on a Windows worker.

Why cmd.exe and not Python's `open()`: this flow exists to prove that a Windows worker really
runs native Windows tooling under the account the worker service uses (permissions, working
directory, environment). Python only decides whether to write and checks the result.

How the content reaches the file literally. cmd.exe gives a special meaning to
`& | < > ^ ( ) % !` and `"`, and no quoting scheme protects all of them on a command line. So
the content (and the path) never appear on the command line: they travel in environment
variables, and the command line is a constant::

    cmd.exe /d /s /v:on /c "echo(!ZOE_PREFECT_FILE_CONTENT!>"!ZOE_PREFECT_FILE_PATH!""

* `/v:on` enables delayed expansion. `!VAR!` is expanded *after* cmd.exe has parsed the line
  for operators, redirections, carets and `%`, and the expanded text is not parsed again, so
  every character of the value is written as is (including `!`, `^` and `%`).
* `echo(` (no space) is the form of `echo` known to print any text as is: plain
  `echo <text>` shows help for `/?`, switches echo for `on`/`off` and prints "ECHO is on."
  for blank text.
  Whatever cmd.exe writes is read back and compared, so a surprise cannot go unnoticed.
* `/s` makes cmd.exe strip exactly the outer pair of quotes after `/c`; `/d` skips AutoRun
  commands from the registry, which could print into the file.
* The command line is passed to CreateProcess as one string, untouched: Python's list-to-
  command-line quoting follows the C runtime's rules, which are not cmd.exe's.

Limits that follow from `echo`: the content is one line of printable ASCII (cmd.exe writes in
the OEM code page, so other characters would not round-trip), and the file gets a Windows line
ending (CRLF) after it. Empty content makes an empty file (`type nul>` instead of `echo`).

Idempotent: if the file already holds exactly those bytes, nothing is run; otherwise the file is
(re)written and read back to prove the bytes are right. The default path is
`prefect_windows_file.txt` in the run's working directory (the worker's clone of this
repository), not `C:\`, which a worker service account usually may not write.

Entrypoint: `flows/windows_file.py:create_windows_file`, deployed to the 'windows' work pool.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

DEFAULT_FILE_NAME = "prefect_windows_file.txt"
CONTENT_VAR = "ZOE_PREFECT_FILE_CONTENT"
PATH_VAR = "ZOE_PREFECT_FILE_PATH"
WINDOWS_POOL = "windows"
# What cmd.exe runs: the only variable parts are the two environment variable references.
ECHO_TO_FILE = f'echo(!{CONTENT_VAR}!>"!{PATH_VAR}!"'
EMPTY_FILE = f'type nul>"!{PATH_VAR}!"'


class WrongPlatformError(RuntimeError):
    """The flow runs on a worker that is not Windows."""


def require_windows(system: str) -> None:
    """Fail unless `system` (a `platform.system()` value) is Windows."""
    if system != "Windows":
        raise WrongPlatformError(
            f"create_windows_file needs Windows (cmd.exe); this worker runs "
            f"{system or 'an unknown OS'} — deploy it to the {WINDOWS_POOL!r} work pool"
        )


def validate_content(content: str) -> None:
    """Reject content that cmd.exe's `echo` cannot write back byte for byte."""
    bad = sorted({c for c in content if not (c == "\t" or " " <= c <= "~")})
    if bad:
        raise ValueError(
            "content must be one line of printable ASCII (cmd.exe's echo writes one line in "
            f"the OEM code page); unsupported characters: {', '.join(map(repr, bad))}"
        )


def resolve_path(path: str | None, cwd: Path | None = None) -> Path:
    """The file to write: `path`, relative to `cwd` (default: the current directory) unless
    absolute; `prefect_windows_file.txt` in `cwd` when `path` is None or empty."""
    base = Path.cwd() if cwd is None else cwd
    if not path:
        return base / DEFAULT_FILE_NAME
    target = Path(path)
    return target if target.is_absolute() else base / target


def expected_bytes(content: str) -> bytes:
    """The exact bytes the cmd.exe command leaves in the file for `content`."""
    return b"" if content == "" else content.encode("ascii") + b"\r\n"


def needs_write(path: Path, content: str) -> bool:
    """Whether the file must be (re)written: it is missing or holds other bytes."""
    try:
        return path.read_bytes() != expected_bytes(content)
    except FileNotFoundError:
        return True


def cmd_command_line(content: str, comspec: str = "cmd.exe") -> str:
    """The complete cmd.exe command line, for `subprocess.run` as one string.

    It never contains the content or the path, only references to CONTENT_VAR and PATH_VAR
    (see `cmd_environment`): the same constant line for every content.
    """
    inner = ECHO_TO_FILE if content else EMPTY_FILE
    return f'"{comspec}" /d /s /v:on /c "{inner}"'


def cmd_environment(path: Path, content: str, base: dict[str, str]) -> dict[str, str]:
    """The environment for the cmd.exe process: `base` plus the path and content variables."""
    if '"' in str(path):
        raise ValueError(f"a Windows path cannot contain double quotes: {path}")
    env = dict(base)
    env[PATH_VAR] = str(path)
    env[CONTENT_VAR] = content
    return env


# NO_CACHE: writing a file is a side effect; a cached result must never replace it.
@task(cache_policy=NO_CACHE)
def write_with_cmd(path: Path, content: str) -> None:
    """Write `content` to `path` with cmd.exe, then read it back to prove the bytes."""
    comspec = os.environ.get("COMSPEC", "cmd.exe")
    completed = subprocess.run(
        cmd_command_line(content, comspec),
        env=cmd_environment(path, content, dict(os.environ)),
        capture_output=True,
        check=False,
    )
    if completed.returncode != 0:
        stderr = completed.stderr.decode(errors="replace").strip()
        raise RuntimeError(f"cmd.exe exited with code {completed.returncode}: {stderr}")
    written = path.read_bytes()
    if written != expected_bytes(content):
        raise RuntimeError(
            f"cmd.exe wrote {written!r} to {path}, expected {expected_bytes(content)!r}"
        )


@flow(log_prints=True)
def create_windows_file(
    path: str | None = None, content: str = "Created by Prefect"
) -> dict[str, str | bool]:
    """Make sure the text file at `path` holds `content` (one line), writing it with cmd.exe
    only when needed; return `{"path": <absolute path>, "created": <whether it was written>}`.
    """
    require_windows(platform.system())  # first: a Linux worker must not do anything
    validate_content(content)
    target = resolve_path(path)
    if not needs_write(target, content):
        print(f"{target} already holds the content; nothing to do")
        return {"path": str(target), "created": False}
    write_with_cmd(target, content)
    print(f"Created {target} with cmd.exe")
    return {"path": str(target), "created": True}


if __name__ == "__main__":
    create_windows_file()
