"""Run a shell command on a worker and stream its output into the flow run's logs.

Why prefect-shell's `ShellOperation` and not `subprocess.run`: `ShellOperation` reads the
command's stdout and stderr line by line while the command runs and sends every line to the run
logger, so a long command shows progress in the UI as it happens instead of one blob at the end.
Its synchronous `trigger()`/`wait_for_completion()` path reads each pipe in a thread that carries
a copy of the run's context, which is what makes those lines land in *this* run's logs (not just
on the worker's stdout).

Lines arrive as soon as the command writes them to its pipe. Programs that block-buffer when
stdout is not a terminal only show output when their buffer fills; Python children are made
unbuffered here (`PYTHONUNBUFFERED=1`), for others use e.g. `stdbuf -oL <program>`.

The command runs with bash on Linux workers (PowerShell on Windows workers, prefect-shell's
default there). Entrypoint: `flows/shell_command.py:shell_command`.
"""

from __future__ import annotations

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect_shell import ShellOperation

# Each streamed record is "[stream output] <line>" or "[stderr] <line>": one record per line,
# with where it came from, and without prefect-shell's default multi-line "PID ..." header.
LOG_PREFIX = "[{label}] "


class ShellCommandError(RuntimeError):
    """The command ran but exited with a non-zero code."""

    def __init__(self, command: str, exit_code: int) -> None:
        self.command = command
        self.exit_code = exit_code
        super().__init__(
            f"Command exited with code {exit_code}: {command!r} "
            "(its output is in this flow run's logs)"
        )


# NO_CACHE: running a command is a side effect; a cached result must never stand in for it.
@task(cache_policy=NO_CACHE)
def run_command(command: str, cwd: str | None = None) -> list[str]:
    """Run `command`, streaming each output line to the run logger; return the stdout lines.

    Raises `ShellCommandError` with the exit code when the command fails.
    """
    operation = ShellOperation(
        commands=[command],
        working_dir=cwd,
        env={"PYTHONUNBUFFERED": "1"},
        log_prefix=LOG_PREFIX,
    )
    with operation:
        process = operation.trigger()
        try:
            process.wait_for_completion()
        except RuntimeError as exc:
            # prefect-shell signals a non-zero exit with a bare RuntimeError; turn exactly that
            # case into an error that names the exit code, and let anything else through.
            if not process.return_code:
                raise
            raise ShellCommandError(command, process.return_code) from exc
        return process.fetch_result()


@flow(log_prints=True)
def shell_command(
    command: str = "echo hello from $(hostname)", cwd: str | None = None
) -> list[str]:
    """Run `command` in `cwd` (default: the run's working directory, the repository root on a
    worker) and return its stdout lines; the run fails when the command exits non-zero."""
    lines = run_command(command, cwd)
    print(f"Command finished with {len(lines)} line(s) of output")
    return lines


if __name__ == "__main__":
    shell_command()
