"""The collections zoe.prefect needs that this run of Ansible cannot load, or loads at a
version outside the range its requirements.yml gives, in words an operator can act on."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import yaml
from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

DOCUMENTATION = r"""
name: missing_collections
author: zoe-prefect contributors
version_added: 0.1.0
short_description: The required collections that are missing or of the wrong version
description:
  - Reads the C(requirements.yml) at the root of the zoe.prefect collection and returns one
    sentence per collection listed there that this run of Ansible cannot load, or loads at a
    version outside the listed range. An empty list means every requirement is met.
  - The first play of the collection's playbooks uses it, so that a project that lacks a
    collection gets a message naming it instead of a module-not-found error mid-run.
options:
  _terms:
    description: Unused.
    required: false
"""

EXAMPLES = r"""
- name: Check the controller's collections
  ansible.builtin.assert:
    that: lookup('zoe.prefect.missing_collections', wantlist=true) | length == 0
"""

RETURN = r"""
_raw:
  description: One sentence per unmet requirement.
  type: list
  elements: str
"""

ROOT = Path(__file__).resolve().parent.parent.parent


def installed_version(name: str) -> str | None:
    """The version of collection `name` that Ansible's collection loader finds, "" when it
    has no metadata (a source checkout without galaxy.yml), None when it finds none."""
    try:
        package = importlib.import_module(f"ansible_collections.{name}")
    except ImportError:
        return None
    for folder in map(Path, getattr(package, "__path__", [])):
        manifest = folder / "MANIFEST.json"
        if manifest.is_file():
            return str(json.loads(manifest.read_text())["collection_info"]["version"])
        galaxy = folder / "galaxy.yml"
        if galaxy.is_file():
            return str((yaml.safe_load(galaxy.read_text()) or {}).get("version", ""))
    return ""


def meets(version: str, requirement: str) -> bool:
    # ansible-galaxy's own comparison of a version with a range such as ">=3.0.0,<4.0.0".
    from ansible.galaxy.dependency_resolution.versioning import meets_requirements

    return meets_requirements(version, requirement)


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        requirements = ROOT / "requirements.yml"
        try:
            listed = yaml.safe_load(requirements.read_text())["collections"]
        except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
            raise AnsibleLookupError(f"cannot read {requirements}: {exc}") from exc
        problems = []
        for entry in listed:
            name, wanted = entry["name"], str(entry.get("version", "*"))
            version = installed_version(name)
            if version is None:
                problems.append(f"{name} ({wanted}) is not installed")
            elif version and wanted != "*" and not meets(version, wanted):
                problems.append(f"{name} is at {version}, and zoe.prefect needs {wanted}")
        return problems
