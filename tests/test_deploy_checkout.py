"""The control host's checkout of the flows repository (roles/prefect_deploy/tasks/checkout.yml)
runs as root: a .gitmodules in the flows repository must not make it fetch the URLs it names,
unless the inventory turns submodules on. Against a real host (a systemd container)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import test_preflight
from conftest import ROOT, run_playbook
from test_preflight import LINEAR, SYSTEMD_HOST, docker, host

pytestmark = [pytest.mark.containers, pytest.mark.usefixtures("hosts")]
# The preflight cases' throwaway host (a systemd container).
hosts = test_preflight.hosts

# A flows repository whose commit holds a submodule, at a URL git refuses to fetch from
# (file:// is not allowed for submodules): a checkout that recursed into it fails.
MAKE_REPOS = """
set -e
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t
rm -rf /srv/zp-flows.git /srv/zp-sub.git /tmp/zp-work /tmp/zp-sub
git init -q -b main /tmp/zp-sub && git -C /tmp/zp-sub commit -q --allow-empty -m sub
git clone -q --bare /tmp/zp-sub /srv/zp-sub.git
git init -q -b main /tmp/zp-work
git -C /tmp/zp-work -c protocol.file.allow=always submodule -q add file:///srv/zp-sub.git sub
git -C /tmp/zp-work commit -q -m flows
git clone -q --bare /tmp/zp-work /srv/zp-flows.git
"""


def checkout(tmp_path: Path, **flows_repo: object) -> tuple[str, int]:
    """The role's checkout task file, with the roles' defaults and vars, on the container."""
    playbook = tmp_path / "checkout.yml"
    # After the roles' files: a play's vars_files win over its vars.
    settings = tmp_path / "settings.yml"
    repo = {"url": "file:///srv/zp-flows.git", "branch": "main"} | flows_repo
    settings.write_text(yaml.safe_dump({"prefect_flows_repo": repo}))
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "The control host's checkout of the flows repository",
                    "hosts": SYSTEMD_HOST,
                    "gather_facts": False,
                    "vars_files": [
                        *(
                            str(ROOT / "roles" / role / kind / "main.yml")
                            for role in ("prefect", "prefect_deploy")
                            for kind in ("defaults", "vars")
                        ),
                        str(settings),
                    ],
                    "tasks": [
                        {
                            "name": "Fetch the flows repository",
                            "ansible.builtin.include_tasks": str(
                                ROOT / "roles" / "prefect_deploy" / "tasks" / "checkout.yml"
                            ),
                        }
                    ],
                }
            ],
            sort_keys=False,
        )
    )
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": host()}}))
    result = run_playbook(playbook, inventory, **LINEAR)
    return result.stdout + result.stderr, result.returncode


def test_the_checkout_fetches_no_submodule_unless_asked(tmp_path: Path) -> None:
    docker("exec", SYSTEMD_HOST, "sh", "-c", "command -v git || (apt-get -qq update && "
           "apt-get -qq install -y git >/dev/null)")  # fmt: skip
    docker("exec", SYSTEMD_HOST, "sh", "-c", MAKE_REPOS)
    out, rc = checkout(tmp_path)
    assert rc == 0, out
    fetched = docker("exec", SYSTEMD_HOST, "ls", "-A", "/var/lib/prefect/deploy/repo/sub").stdout
    assert fetched.strip() == "", fetched  # the submodule's folder, never filled
    # Asked for, the submodule is fetched: here git refuses its file:// URL, so the task fails.
    out, rc = checkout(tmp_path, submodules=True)
    assert rc != 0 and "transport 'file' not allowed" in out, out
