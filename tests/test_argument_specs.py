"""Every role documents exactly the variables it defaults, so docs and defaults never drift.

defaults/main.yml holds every public variable with its default; meta/argument_specs.yml holds
the same variables, typed and described. A variable in one and not the other, an undescribed
one, or a documented default that differs from the real one fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import ROOT

ROLES = sorted(p.parent.parent.name for p in ROOT.glob("roles/*/defaults/main.yml"))
TYPES = {"str", "int", "bool", "list", "dict", "path", "raw", "float"}


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


@pytest.fixture(params=ROLES)
def role(request: pytest.FixtureRequest) -> str:
    return request.param


def test_there_are_roles() -> None:
    assert {"prefect", "postgresql", "prefect_server"} <= set(ROLES)


def test_specs_and_defaults_name_the_same_variables(role: str) -> None:
    defaults = load(ROOT / "roles" / role / "defaults" / "main.yml")
    options = load(ROOT / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]["main"][
        "options"
    ]
    assert set(defaults) - set(options) == set(), "defaults without argument_specs"
    assert set(options) - set(defaults) == set(), "argument_specs without defaults"


def test_every_variable_is_typed_described_and_prefixed(role: str) -> None:
    options = load(ROOT / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]["main"][
        "options"
    ]
    for name, spec in options.items():
        assert name.startswith(f"{role}_"), f"{name} lacks the role prefix {role}_"
        assert spec.get("type") in TYPES, f"{name} has no valid type"
        assert spec.get("description"), f"{name} has no description"
        if spec["type"] == "list":
            assert "elements" in spec, f"{name}: say what the list holds"


def test_documented_defaults_are_the_real_ones(role: str) -> None:
    defaults = load(ROOT / "roles" / role / "defaults" / "main.yml")
    options = load(ROOT / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]["main"][
        "options"
    ]
    for name, spec in options.items():
        if "default" in spec:
            assert spec["default"] == defaults[name], f"{name}: documented default differs"


# The base role's main entry point is its preflight; the others have a separate one.
PREFLIGHT_ROLES = [
    r for r in ROLES if r != "prefect" and (ROOT / "roles" / r / "tasks" / "preflight.yml").exists()
]


@pytest.mark.parametrize("role", PREFLIGHT_ROLES)
def test_preflight_entry_points_check_the_same_variables(role: str) -> None:
    """The preflight play includes tasks_from: preflight.yml; Ansible validates that entry."""
    specs = load(ROOT / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]
    assert specs.get("preflight") == specs["main"]


def include_roles(task: dict) -> list[tuple[str, str]]:
    """(included role, tasks_from) of an include_role task; a templated tasks_from stands for
    each item of the task's loop."""
    include = task.get("ansible.builtin.include_role") or {}
    entry = include.get("tasks_from")
    if not entry:
        return []
    entries = task.get("loop", []) if "{{" in entry else [entry]
    assert include["name"].startswith("zoe.prefect."), f"not a FQCN: {include['name']}"
    return [(include["name"].removeprefix("zoe.prefect."), e) for e in entries]


def included_entry_points() -> set[tuple[str, str, str]]:
    """(including role or "playbooks", included role, tasks_from) for every include_role of
    the roles and of the playbooks."""
    found = set()
    for path in ROOT.glob("roles/*/tasks/*.yml"):
        for task in load(path) if isinstance(load(path), list) else []:
            found |= {(path.parts[-3], *pair) for pair in include_roles(task)}
    for path in ROOT.glob("playbooks/*.yml"):
        for play in load(path):
            for task in play.get("tasks", []):
                found |= {("playbooks", *pair) for pair in include_roles(task)}
    return found


def test_shared_task_files_declare_their_inputs() -> None:
    """A task file one role or a playbook includes from a role has an argument_specs entry
    point of that name (include_role validates its inputs against it), like
    prometheus-community's _common."""
    shared = {(role, entry) for owner, role, entry in included_entry_points() if owner != role}
    assert {("prefect", "venv"), ("prefect_server", "service"), ("postgresql", "dump")} <= shared
    for role, entry in sorted(shared):
        specs = load(ROOT / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]
        assert entry in specs, f"roles/{role}: no argument_specs entry point {entry!r}"
        for name, spec in specs[entry].get("options", {}).items():
            assert spec.get("description"), f"{role}:{entry}: {name} has no description"
