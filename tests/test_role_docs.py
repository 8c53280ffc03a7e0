"""The role READMEs' variable tables match the argument_specs Ansible enforces."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def test_role_readme_tables_are_current() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/role_docs.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
