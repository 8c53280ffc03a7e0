"""The server creates the default pools and every pool the inventory's workers serve, unless
prefect_server_work_pools names them."""

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
        "tasks": [{"ansible.builtin.debug": {"var": "_prefect_server_pools"}}],
    }
]


def default_pools(tmp_path: Path, inventory: dict, *args: str) -> list[str]:
    (tmp_path / "play.yml").write_text(yaml.safe_dump(PLAY))
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    report = json_playbook(tmp_path / "play.yml", tmp_path / "hosts.yml", *args)
    return report["plays"][0]["tasks"][0]["hosts"]["localhost"]["_prefect_server_pools"]


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


def test_the_pools_named_in_prefect_server_work_pools(tmp_path: Path) -> None:
    inventory = {"linux_workers": {"hosts": {"lin1": {"prefect_worker_pools": ["x"]}}}}
    # As an extra variable: the play loads the role's defaults as play variables, which an
    # inventory variable would not override (in a real play, it does).
    named = '{"prefect_server_work_pools": ["linux", "gpu"]}'
    assert default_pools(tmp_path, inventory, "-e", named) == ["linux", "gpu"]
