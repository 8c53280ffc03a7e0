"""The repository root is the collection zoe.prefect: what its tarball holds, that a project of
a user's installs and runs it as docs/install.md says, and what that project is told when it
lacks a collection the roles need. No container: the checks stop before any host is reached."""

from __future__ import annotations

import json
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

import ansible_collections
import pytest
import yaml

from conftest import ROOT, consumer_playbook, consumer_project

GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text())
REQUIREMENTS = yaml.safe_load((ROOT / "requirements.yml").read_text())["collections"]
TARBALL = f"zoe-prefect-{GALAXY['version']}.tar.gz"
# Hosts that do not exist: a check that let a run through would fail at its first connection.
GHOST = {"ansible_connection": "community.docker.docker_api", "ansible_host": "zp-no-such-host"}
GHOST_INVENTORY = {
    "all": {
        "children": {
            "prefect_control": {"hosts": {"ctl": GHOST}},
            "prefect_workers": {
                "children": {"linux_workers": {"hosts": {"w1": GHOST}}, "windows_workers": {}}
            },
        }
    }
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = consumer_project(tmp_path_factory.mktemp("consumer") / "infra")
    (folder / "inventory").mkdir()
    (folder / "inventory" / "hosts.yml").write_text(yaml.safe_dump(GHOST_INVENTORY))
    yield folder


def test_galaxy_yml_depends_on_what_requirements_yml_lists() -> None:
    assert GALAXY["dependencies"] == {c["name"]: c["version"] for c in REQUIREMENTS}


def test_the_tarball_holds_the_collection_and_nothing_of_the_lab(project: Path) -> None:
    with tarfile.open(project / TARBALL) as tar:
        names = [member.name for member in tar.getmembers() if member.isfile()]
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    tops = {name.split("/")[0] for name in names}
    assert tops == {
        "CHANGELOG.md", "FILES.json", "LICENSE", "MANIFEST.json", "README.md", "changelogs",
        "docs", "inventory", "meta", "playbooks", "plugins", "requirements.yml", "roles", "scripts",
    }, tops  # fmt: skip
    assert {"playbooks/site.yml", "playbooks/decommission.yml", "meta/runtime.yml"} <= set(names)
    assert "inventory/example/hosts.yml" in names
    assert not [n for n in names if n.startswith(("inventory/lab", "lab/", "scripts/lab"))]
    assert [n for n in names if n.startswith("scripts/")] == [
        "scripts/windows/Enable-WinRMHttps.ps1"
    ]
    roles = {n.split("/")[1] for n in names if n.startswith("roles/") and n.count("/") > 1}
    assert roles == {p.name for p in (ROOT / "roles").iterdir()}
    assert manifest["collection_info"]["license"] == ["MIT"]
    assert manifest["collection_info"]["version"] == GALAXY["version"]


def test_the_installed_collection_runs_its_playbooks_by_fqcn(project: Path) -> None:
    """Every playbook of the tarball parses with the roles resolved from the installed
    collection only (the project's ansible.cfg, no path into this checkout)."""
    playbooks = [f"zoe.prefect.{p.stem}" for p in sorted((ROOT / "playbooks").glob("*.yml"))]
    done = consumer_playbook(project, *playbooks, "--syntax-check")
    assert done.returncode == 0, done.stdout + done.stderr
    parsed = [line for line in done.stdout.splitlines() if line.startswith("playbook: ")]
    assert len(parsed) == len(playbooks), done.stdout
    assert all(str(project / "collections") in line for line in parsed), done.stdout


def test_decommission_from_the_collection_without_a_limit_is_refused(project: Path) -> None:
    done = consumer_playbook(project, "zoe.prefect.decommission")
    out = " ".join((done.stdout + done.stderr).split())
    assert done.returncode != 0, out
    assert "this run targets 2 host(s) (no -l given)" in out, out
    assert "changed: [" not in out and "UNREACHABLE" not in out, out


def test_a_missing_or_wrong_collection_is_named_in_the_first_play(
    project: Path, tmp_path: Path
) -> None:
    """A project whose Ansible sees zoe.prefect but not community.postgresql, and an
    community.windows of the wrong major version: the first play names both and nothing else
    runs."""
    collections = tmp_path / "collections" / "ansible_collections"
    shutil.copytree(project / "collections" / "ansible_collections" / "zoe", collections / "zoe")
    bundled = Path(next(iter(ansible_collections.__path__)))
    for entry in REQUIREMENTS:
        namespace, name = entry["name"].split(".")
        if entry["name"] in ("community.postgresql", "community.windows"):
            continue
        (collections / namespace).mkdir(exist_ok=True)
        (collections / namespace / name).symlink_to(bundled / namespace / name)
    wrong = collections / "community" / "windows"
    wrong.mkdir(parents=True)
    (wrong / "MANIFEST.json").write_text(
        json.dumps({"collection_info": {"namespace": "community", "name": "windows",
                                        "version": "9.9.9"}})
    )  # fmt: skip
    done = consumer_playbook(
        project,
        "zoe.prefect.site",
        ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "collections"),
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
    )
    out = " ".join((done.stdout + done.stderr).split())
    assert done.returncode != 0, out
    assert "community.postgresql (>=4.0.0,<5.0.0) is not installed" in out, out
    assert "community.windows is at 9.9.9, and zoe.prefect needs >=3.0.0,<4.0.0" in out, out
    assert "ansible-galaxy collection install -r requirements.yml" in out, out
    assert "community.crypto" not in out.split("Nothing was changed:")[1].split(".")[0], out
    assert "PLAY [Reach every host]" not in out, out
