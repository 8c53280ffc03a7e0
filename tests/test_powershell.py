"""Every line of PowerShell the project ships parses, checked on Linux with a PowerShell parser.

No Windows host or pwsh is here; tree-sitter-powershell (a PowerShell grammar for tree-sitter,
from the package index) parses what the roles and scripts hand to PowerShell:
- the scripts, scripts/windows/*.ps1;
- the roles' PowerShell templates, roles/*/templates/*.ps1.j2;
- the inline scripts of the roles' and molecule/windows' tasks: ansible.windows.win_powershell's
  `script`, and ansible.windows.win_shell's command (PowerShell unless `executable` names
  another shell).
A parse error (an unclosed brace, string or parenthesis, an operator without its operand, a
`catch` without its type's closing bracket) fails, with the line and the text around it.

Jinja in a script is replaced before parsing, as it renders before PowerShell sees it: each
`{{ ... }}` by the variable `$zpJinja` (a value: it stands wherever the rendered text is an
argument, an operand or part of a string, the only places the roles put Jinja in PowerShell),
and `{# ... #}` comments by nothing. A `{% ... %}` statement is refused: logic in Jinja around
PowerShell cannot be parsed without rendering every branch, so scripts take their data as
parameters (win_powershell's `parameters`) or from rendered values instead.

tree-sitter-powershell does not parse every valid script: a comma list of bare words as a
command's argument (`Get-Item a, b`) is an error there, although PowerShell takes it. The
scripts quote such lists ('a', 'b'), which PowerShell reads the same way.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tree_sitter_powershell
import yaml
from test_module_arguments import TASK_FILES, tasks_in
from tree_sitter import Language, Node, Parser

from conftest import ROOT

PARSER = Parser(Language(tree_sitter_powershell.language()))
SCRIPT_FILES = sorted([*ROOT.glob("scripts/windows/*.ps1"), *ROOT.glob("roles/*/templates/*.ps1*")])
JINJA_PLACEHOLDER = "$zpJinja"


def without_jinja(text: str) -> str:
    """The script as PowerShell will read it once rendered, Jinja replaced (module docstring)."""
    assert "{%" not in text, "a Jinja statement ({% ... %}) in PowerShell; pass the data instead"
    text = re.sub(r"\{#.*?#\}", "", text, flags=re.S)
    return re.sub(r"\{\{.*?\}\}", lambda _: JINJA_PLACEHOLDER, text, flags=re.S)


def parse_errors(text: str) -> list[str]:
    """Where the parser found an error or a missing token: 'line N: text' each."""
    source = text.encode()
    tree = PARSER.parse(source)
    found: list[str] = []

    def walk(node: Node) -> None:
        if node.type == "ERROR" or node.is_missing:
            line = node.start_point[0] + 1
            what = "missing " + node.type if node.is_missing else "cannot parse"
            snippet = source[node.start_byte : node.end_byte][:60].decode(errors="replace")
            found.append(f"line {line}: {what}: {snippet!r}")
        elif node.has_error:
            for child in node.children:
                walk(child)

    walk(tree.root_node)
    if tree.root_node.has_error and not found:
        found.append("the parse has an error")
    return found


def inline_scripts() -> list[tuple[str, str]]:
    """(where, script) of each inline PowerShell of the roles' and molecule/windows' tasks."""
    scripts = []
    for path in TASK_FILES:
        for task in tasks_in(yaml.safe_load(path.read_text())):
            where = f"{path.relative_to(ROOT)}: {task.get('name', '(unnamed)')}"
            powershell = task.get("ansible.windows.win_powershell")
            if isinstance(powershell, dict) and "script" in powershell:
                scripts.append((where, powershell["script"]))
            shell = task.get("ansible.windows.win_shell")
            if shell is not None:
                args = shell if isinstance(shell, dict) else {"cmd": shell}
                executable = str(args.get("executable", "powershell"))
                if "powershell" in executable.lower() or "pwsh" in executable.lower():
                    scripts.append((where, args.get("cmd") or args.get("_raw_params") or ""))
    return scripts


def test_there_is_powershell_to_parse() -> None:
    names = {p.name for p in SCRIPT_FILES}
    assert {"Enable-WinRMHttps.ps1", "prune-logs.ps1.j2"} <= names
    assert len(inline_scripts()) >= 4


@pytest.mark.parametrize("path", SCRIPT_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_script_files_parse(path: Path) -> None:
    text = path.read_text()
    # Windows PowerShell 5.1 reads a script without a byte order mark in the system's code
    # page: anything but ASCII would be read as other characters.
    assert text.isascii(), [line for line in text.splitlines() if not line.isascii()]
    assert parse_errors(without_jinja(text)) == []


@pytest.mark.parametrize(
    ("where", "script"), inline_scripts(), ids=[w for w, _ in inline_scripts()]
)
def test_inline_scripts_parse(where: str, script: str) -> None:
    assert parse_errors(without_jinja(script)) == [], where


@pytest.mark.parametrize(
    ("script", "error"),
    [
        ("foreach ($pool in $Pools) {\n    Remove-Item -LiteralPath $pool\n", "missing }"),
        ("$rotated = '^worker-\\d{8}\n", "line 1"),
        ("Get-ChildItem -LiteralPath (Join-Path $Folder 'logs'\n", "line 1"),
        ("$a = 1 +\n", "line 1"),
        ("try { Get-Item x } catch [ArgumentException { }\n", "line 1"),
        ("param([string]$Folder,)\n", "line 1"),
    ],
)
def test_a_broken_script_is_caught(script: str, error: str) -> None:
    errors = parse_errors(script)
    assert errors and error in " ".join(errors), errors


def test_jinja_is_replaced_by_a_value() -> None:
    rendered = without_jinja(
        "{# the pool #}\n$name = 'worker-{{ item }}'\nGet-Item -LiteralPath {{ path }} | Out-Null\n"
    )
    assert rendered == "\n$name = 'worker-$zpJinja'\nGet-Item -LiteralPath $zpJinja | Out-Null\n"
    assert parse_errors(rendered) == []
    with pytest.raises(AssertionError, match="Jinja statement"):
        without_jinja("{% if x %}Get-Item a{% endif %}")
