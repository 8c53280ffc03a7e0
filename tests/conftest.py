"""Shared helpers for the project's tests: where the project is, how to run Ansible."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(os.environ.get("VENV", ROOT / ".venv")).resolve() / "bin"


# The prefix of the Docker names a test run gives its hosts and networks (`make test` sets a new
# one per run, so that two runs, or a run beside `make lab`, never touch each other's hosts).
RUN = os.environ.get("ZP_RUN") or "zp"
# Under pytest-xdist each worker process has hosts of its own.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")


def container(name: str) -> str:
    """Docker's name of the test host (or network) `name`: zp- becomes the run's prefix (and
    the pytest-xdist worker's name, under xdist)."""
    return re.sub(r"^zp-", f"{RUN}-{WORKER}-" if WORKER else f"{RUN}-", name)


# The lab the tests drive: `make lab`'s own (zp-lab, inventory/lab) unless ZP_LAB_NAME names
# another, as `make test` does (scripts/lab.sh keeps that one's inventory in .cache/labs/NAME).
LAB = os.environ.get("ZP_LAB_NAME") or "zp-lab"
LAB_INVENTORY = Path(
    os.environ.get("LAB_INVENTORY")
    or (ROOT / "inventory" / "lab" if LAB == "zp-lab" else ROOT / ".cache" / "labs" / LAB)
)
LAB_CREDENTIALS = LAB_INVENTORY / ".credentials"
LAB_UI_PORT = int(os.environ.get("LAB_UI_PORT") or 4200)
LAB_PROMETHEUS_PORT = int(os.environ.get("LAB_PROMETHEUS_PORT") or 9090)
LAB_VAULT_PASS = LAB_CREDENTIALS / "vault_pass"


def ansible_env(**extra: str) -> dict[str, str]:
    """Environment for ansible-playbook runs: the project's config, plain output, the lab's
    vault password once the lab has one (scripts/lab.sh makes it), and Mitogen, which the lab
    and the tests opt in to as scripts/common.sh does (ZP_MITOGEN=0 runs Ansible's linear)."""
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
    if env.get("ZP_MITOGEN", "1") == "1":
        env.setdefault("ANSIBLE_STRATEGY_PLUGINS", str(ROOT / "lab" / "strategy"))
        env.setdefault("ANSIBLE_STRATEGY", "mitogen_linear")
    elif "ANSIBLE_STRATEGY" not in extra:
        # Not the one a calling shell exported (scripts/common.sh) either.
        env.pop("ANSIBLE_STRATEGY", None)
        env.pop("ANSIBLE_STRATEGY_PLUGINS", None)
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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "containers: needs the Docker engine and test hosts (make test); `make check` runs the"
        " cases without this mark",
    )


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


def docs_file(marker: str) -> str:
    """The file docs/install.md shows after `<!-- consumer: MARKER -->`, as a user copies it."""
    text = (ROOT / "docs" / "install.md").read_text()
    found = re.search(rf"<!-- consumer: {re.escape(marker)} -->\n```\w*\n(.*?)\n```", text, re.S)
    assert found, f"docs/install.md shows no {marker} for a project of your own"
    return found.group(1) + "\n"


def consumer_env(project: Path, **extra: str) -> dict[str, str]:
    """A user's shell in their own project: its ansible.cfg, none of this checkout's Ansible
    settings (no Mitogen, no collections path into the checkout)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "MOLECULE_"))}
    env.update(
        ANSIBLE_CONFIG=str(project / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    env.update(extra)
    return env


def consumer_project(project: Path) -> Path:
    """An empty project of a user's, set up as docs/install.md says: its ansible.cfg and
    requirements.yml, the collection's tarball (built from this checkout) and
    `ansible-galaxy collection install -r requirements.yml`. Returns the project folder."""
    project.mkdir(parents=True, exist_ok=True)
    (project / "ansible.cfg").write_text(docs_file("ansible.cfg"))
    (project / "requirements.yml").write_text(docs_file("requirements.yml"))
    for command in (
        [
            "ansible-galaxy",
            "collection",
            "build",
            "--force",
            "--output-path",
            str(project),
            str(ROOT),
        ],
        ["ansible-galaxy", "collection", "install", "-r", "requirements.yml"],
    ):
        done = subprocess.run(
            [str(VENV_BIN / command[0]), *command[1:]],
            cwd=project,
            env=consumer_env(project),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    assert (project / "collections" / "ansible_collections" / "zoe" / "prefect").is_dir()
    return project


def consumer_playbook(
    project: Path, playbook: str, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """ansible-playbook as a user runs it in their own project (cwd, ansible.cfg)."""
    return subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), playbook, *args],
        cwd=project,
        env=consumer_env(project, **env),
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
