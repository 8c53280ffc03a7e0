"""The lab's strategy (lab/strategy/mitogen_linear.py, an opt-in: scripts/common.sh and the
tests' ansible_env set it): Mitogen when it loads, Ansible's linear strategy with a warning when
it does not. The project's ansible.cfg alone, as a user runs it, keeps Ansible's linear.

Which one ran shows on the host: under Mitogen the modules of a play's tasks run in one Python
interpreter that stays for the run, so two tasks' shells have the same parent process; under
linear each task starts a Python of its own.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from conftest import VENV_BIN, run_playbook

SAY = {"name": "Say", "ansible.builtin.debug": {"msg": "{{ run1.stdout }} {{ run2.stdout }}"}}
PLAYBOOK = [
    {
        "name": "Which strategy runs",
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": [
            {
                "name": f"Print the module's process ({n})",
                "ansible.builtin.command": "sh -c 'echo parent=$PPID'",
                "register": f"run{n}",
                "changed_when": False,
            }
            for n in (1, 2)
        ]
        + [SAY],
    }
]


def run(tmp_path: Path, **env: str) -> tuple[str, bool]:
    """The run's output, and whether both tasks ran in the same interpreter."""
    playbook = tmp_path / "strategy.yml"
    playbook.write_text(yaml.safe_dump(PLAYBOOK, sort_keys=False))
    inventory = tmp_path / "hosts.yml"
    local = {"ansible_connection": "local", "ansible_python_interpreter": str(VENV_BIN / "python")}
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"localhost": local}}}))
    result = run_playbook(playbook, inventory, **env)
    out = result.stdout + result.stderr
    assert result.returncode == 0 and "ok=3" in out, out
    said = next(line for line in out.splitlines() if "msg: parent=" in line).split()
    parents = [word for word in said if word.startswith("parent=")]
    assert len(parents) == 2, out
    return " ".join(out.split()), parents[0] == parents[1]


def test_ansible_cfg_alone_runs_ansibles_linear_strategy(tmp_path: Path) -> None:
    out, shared = run(tmp_path, ZP_MITOGEN="0")
    assert not shared, out
    assert "Mitogen could not be loaded" not in out


def test_the_lab_runs_its_plays_under_mitogen(tmp_path: Path) -> None:
    out, shared = run(tmp_path)
    assert shared, out
    assert "Mitogen could not be loaded" not in out


def test_without_mitogen_the_plays_run_under_linear_with_a_warning(tmp_path: Path) -> None:
    """An ansible_mitogen that fails to import, as a missing or too old Mitogen would."""
    broken = tmp_path / "site"
    (broken / "ansible_mitogen").mkdir(parents=True)
    (broken / "ansible_mitogen" / "__init__.py").write_text(
        "raise ImportError('this Mitogen is broken on purpose')\n"
    )
    out, shared = run(tmp_path, PYTHONPATH=str(broken))
    assert "Mitogen could not be loaded (ImportError: this Mitogen is broken on purpose)" in out
    assert "running with Ansible's linear strategy" in out
    assert not shared, out


def test_linear_on_request_runs_without_mitogen_and_without_a_warning(tmp_path: Path) -> None:
    out, shared = run(tmp_path, ANSIBLE_STRATEGY="linear")
    assert not shared, out
    assert "Mitogen could not be loaded" not in out
