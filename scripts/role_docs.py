"""Write (or check) the variables table of each role's README from its argument_specs.

The table sits between the markers `<!-- BEGIN VARIABLES -->` and `<!-- END VARIABLES -->`
of roles/<role>/README.md, so the README never drifts from the specs that Ansible enforces.

usage: python scripts/role_docs.py [--check]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- BEGIN VARIABLES -->", "<!-- END VARIABLES -->"


def cell(text: str) -> str:
    """Markdown-table-safe text: one line, pipes escaped, Ansible's C()/I() markup as code."""
    text = " ".join(str(text).split()).replace("|", "\\|")
    # One level of parentheses inside: C(http(s)://host) is one piece of code.
    return re.sub(r"\b[CIV]\(((?:[^()]|\([^()]*\))*)\)", r"`\1`", text)


def default_of(name: str, spec: dict, defaults: dict) -> str:
    value = defaults.get(name, spec.get("default"))
    if "{{" in str(value) or "{%" in str(value):
        return "(computed, see description)"
    return f"`{yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}`"


def table(role: Path) -> str:
    specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text()) or {}
    rows = ["| Variable | Type | Default | Description |", "| --- | --- | --- | --- |"]
    for name, spec in options.items():
        description = spec["description"]
        if isinstance(description, list):
            description = " ".join(description)
        kind = spec["type"] + (f" of {spec['elements']}" if "elements" in spec else "")
        rows.append(
            f"| `{name}` | {kind} | {default_of(name, spec, defaults)} | {cell(description)} |"
        )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a README is stale")
    args = parser.parse_args()
    stale = []
    for role in sorted(p.parent.parent for p in ROOT.glob("roles/*/meta/argument_specs.yml")):
        readme = role / "README.md"
        text = readme.read_text()
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        new = f"{head}{BEGIN}\n{table(role)}\n{END}{tail}"
        if new != text:
            stale.append(str(readme.relative_to(ROOT)))
            if not args.check:
                readme.write_text(new)
    if args.check and stale:
        print("stale variable tables (run python scripts/role_docs.py):", *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
