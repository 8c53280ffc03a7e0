"""The server creates the default pools and every pool the inventory's workers serve."""

from __future__ import annotations

from pathlib import Path

import yaml

from conftest import ROOT, json_playbook

PLAY = [
    {
        "name": "Show the default work pools",
        "hosts": "localhost",
        "gather_facts": False,
        "vars_files": [
            str(ROOT / "roles" / "prefect" / "vars" / "main.yml"),
            str(ROOT / "roles" / "prefect_server" / "defaults" / "main.yml"),
        ],
        "tasks": [{"ansible.builtin.debug": {"var": "prefect_server_work_pools"}}],
    }
]


def default_pools(tmp_path: Path, inventory: dict) -> list[str]:
    (tmp_path / "play.yml").write_text(yaml.safe_dump(PLAY))
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    report = json_playbook(tmp_path / "play.yml", tmp_path / "hosts.yml")
    return report["plays"][0]["tasks"][0]["hosts"]["localhost"]["prefect_server_work_pools"]


def test_union_of_the_workers_pools_with_os_defaults(tmp_path: Path) -> None:
    inventory = {
        "all": {
            "children": {
                "linux_workers": {
                    "hosts": {
                        "lin1": {},
                        "lin2": {"prefect_worker_pools": ["linux", "gpu"]},
                        "lin3": {"prefect_worker_pools": ["builds"]},
                    }
                },
                "windows_workers": {"hosts": {"win1": {}, "win2": {}}},
            }
        }
    }
    assert default_pools(tmp_path, inventory) == ["builds", "gpu", "linux", "windows"]


def test_without_workers_the_default_pools(tmp_path: Path) -> None:
    assert default_pools(tmp_path, {"all": {"hosts": {"ctl": {}}}}) == ["linux", "windows"]
