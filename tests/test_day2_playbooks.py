"""drain.yml and decommission.yml refuse what they must not do before anything changes.

The hosts are containers that do not exist: the checks run on the controller, and a check
that wrongly let a run through would fail at its first connection, having changed nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import run_playbook

GHOST = {
    "ansible_connection": "community.docker.docker_api",
    "ansible_host": "zp-test-no-such-host",
}
INVENTORY = {
    "all": {
        "children": {
            "prefect_control": {"hosts": {"ctl": GHOST}},
            "prefect_workers": {
                "children": {
                    "linux_workers": {"hosts": {"w1": GHOST, "w2": GHOST}},
                    "windows_workers": {},
                }
            },
        }
    }
}

CASES = [
    (
        "decommission-without-limit",
        ["playbooks/decommission.yml"],
        "this run targets 3 host(s) (no -l given)",
    ),
    (
        "decommission-two-hosts",
        ["playbooks/decommission.yml", "-l", "w1,w2"],
        "this run targets 2 host(s). Name one host (-l HOST), or confirm several",
    ),
    (
        "decommission-the-control-host",
        ["playbooks/decommission.yml", "-l", "ctl"],
        "ctl is a control host: decommission takes worker hosts",
    ),
    (
        "drain-the-control-host",
        ["playbooks/drain.yml", "-l", "ctl"],
        "ctl is not a worker host (not in linux_workers or windows_workers), so there is nothing"
        " to drain on it; nothing was changed",
    ),
]


@pytest.mark.parametrize(("args", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused_before_any_change(tmp_path: Path, args: list[str], message: str) -> None:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump(INVENTORY))
    result = run_playbook(args[0], inventory, *args[1:])
    out = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, out
    assert message in out, out
    # Stopped in the checks: no host was reached, none changed.
    assert "changed: [" not in out and "UNREACHABLE" not in out, out
