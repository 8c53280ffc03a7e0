"""Shared helpers for the project's tests: where the project is, how to run Ansible."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(os.environ.get("VENV", ROOT / ".venv")).resolve() / "bin"


LAB_VAULT_PASS = ROOT / "inventory" / "lab" / ".credentials" / "vault_pass"


def ansible_env(**extra: str) -> dict[str, str]:
    """Environment for ansible-playbook runs: the project's config, plain output, and the lab's
    vault password once the lab has one (scripts/lab.sh makes it)."""
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    if LAB_VAULT_PASS.is_file():
        env["ANSIBLE_VAULT_PASSWORD_FILE"] = str(LAB_VAULT_PASS)
    env.update(extra)
    return env


def run_playbook(
    playbook: Path | str, inventory: Path | str, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run ansible-playbook from the project root and capture its output."""
    return subprocess.run(
        [
            str(VENV_BIN / "ansible-playbook"),
            "-i",
            str(inventory),
            str(playbook),
            *args,
        ],
        cwd=ROOT,
        env=ansible_env(**env),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def json_playbook(playbook: Path | str, inventory: Path | str, *args: str) -> dict:
    """Run a playbook with the JSON callback and return its parsed report."""
    result = run_playbook(
        playbook,
        inventory,
        *args,
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        # Only the JSON report on stdout (the project's config adds a timing callback).
        ANSIBLE_CALLBACKS_ENABLED="ansible.posix.json",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
