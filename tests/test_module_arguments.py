"""Every call of a Windows module that the roles (and molecule/windows) make, checked against
the module's own argument spec, as far as it can be told without a Windows host.

ansible-lint checks the arguments of Python modules by running their argument spec; it skips
the PowerShell modules of ansible.windows, community.windows and chocolatey.chocolatey, whose
spec is PowerShell that only a Windows host runs. Here the specs come from `ansible-doc -j`,
one call for every module used: the modules' documented options, which the collections' own
sanity test (ansible-test's validate-modules) keeps equal to the spec of each module built on
Ansible.Basic. Modules built on the older Ansible.ModuleUtils.Legacy (`Get-AnsibleParam`)
ignore an option they do not know, so a misspelt one would pass unnoticed on the host; for
them the choices are read from their own source (`-validateset`), which is what they enforce.

What fails: an option the module does not have, a required option missing, a literal of the
wrong type (a string where a bool or an int is wanted, a list for a string), a literal outside
the choices, the same inside suboptions (a list of dicts such as win_service's
failure_actions), and each literal of a Jinja conditional (`{{ 'a' if x else 'b' }}`). A value
built by Jinja otherwise is left to the module on the host.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import jinja2
import pytest
import yaml
from jinja2 import nodes

from conftest import ROOT, VENV_BIN

# The collections whose modules are PowerShell.
WINDOWS_COLLECTIONS = ("ansible.windows.", "community.windows.", "chocolatey.chocolatey.")
# Where the Windows tasks are: the roles (tasks and handlers), the playbooks, molecule/windows.
TASK_FILES = sorted(
    [
        *ROOT.glob("roles/*/tasks/*.yml"),
        *ROOT.glob("roles/*/handlers/*.yml"),
        *ROOT.glob("playbooks/*.yml"),
        *ROOT.glob("molecule/windows/*.yml"),
    ]
)
PLAY_KEYS = ("pre_tasks", "tasks", "post_tasks", "handlers")
BLOCK_KEYS = ("block", "rescue", "always")
# What Ansible's boolean conversion takes (module_utils.parsing.convert_bool).
BOOLEANS = {"yes", "on", "1", "true", "y", "t", "no", "off", "0", "false", "n", "f"}


def tasks_in(data: object) -> Iterator[dict]:
    """Every task of a task file or playbook, blocks opened, plays' task lists followed."""
    for item in data if isinstance(data, list) else []:
        if not isinstance(item, dict):
            continue
        if "hosts" in item or "import_playbook" in item:
            for key in PLAY_KEYS:
                yield from tasks_in(item.get(key))
        elif any(key in item for key in BLOCK_KEYS):
            for key in BLOCK_KEYS:
                yield from tasks_in(item.get(key))
        else:
            yield item


def windows_calls(files: list[Path] = TASK_FILES) -> list[tuple[str, str, object]]:
    """(where, module, arguments) of every Windows module call in `files`."""
    calls = []
    for path in files:
        for task in tasks_in(yaml.safe_load(path.read_text())):
            for key, args in task.items():
                if key.startswith(WINDOWS_COLLECTIONS):
                    where = f"{path.relative_to(ROOT)}: {task.get('name', '(unnamed)')}"
                    calls.append((where, key, args))
    return calls


# Modules the cases below use besides the roles' own.
CASE_MODULES = {
    "ansible.windows.win_acl",
    "ansible.windows.win_command",
    "ansible.windows.win_file",
    "ansible.windows.win_regedit",
    "ansible.windows.win_service",
    "ansible.windows.win_service_info",
    "ansible.windows.win_uri",
    "ansible.windows.win_user_right",
    "chocolatey.chocolatey.win_chocolatey",
    "community.windows.win_scheduled_task",
}


@functools.cache
def module_docs() -> dict[str, dict]:
    """`ansible-doc -j` of every module checked here, in one call (each costs Ansible's start)."""
    modules = sorted({module for _, module, _ in windows_calls()} | CASE_MODULES)
    done = subprocess.run(
        [str(VENV_BIN / "ansible-doc"), "-j", *modules],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(done.stdout)


def legacy_params(module_doc: dict) -> dict[str, dict] | None:
    """For a module on Ansible.ModuleUtils.Legacy, what its `Get-AnsibleParam` calls enforce:
    {option: {"choices": [...] or None, "required": bool}}; None for an Ansible.Basic module."""
    source = Path(module_doc["doc"]["filename"]).with_suffix(".ps1")
    if not source.is_file():
        return None
    text = source.read_text()
    if "Get-AnsibleParam" not in text:
        return None
    params = {}
    for line in text.splitlines():
        found = re.search(r"Get-AnsibleParam\b.*?-name\s+[\"'](\w+)[\"'](.*)", line, re.I)
        if not found:
            continue
        rest = found.group(2)
        choices = re.search(r"-validateset\s+((?:[\"'][^\"']*[\"']\s*,?\s*)+)", rest, re.I)
        params[found.group(1)] = {
            # A set named by a variable ($logon_options) is the documented one.
            "choices": re.findall(r"[\"']([^\"']*)[\"']", choices.group(1)) if choices else None,
            "variable_choices": bool(re.search(r"-validateset\s+\$", rest, re.I)),
            "required": bool(re.search(r"-failifempty\s+\$true", rest, re.I)),
        }
    return params


def spec_of(module: str, module_doc: dict) -> dict[str, dict]:
    """The module's options as checked here: the documented ones, with a legacy module's
    choices and required options as its source enforces them."""
    options = json.loads(json.dumps(module_doc["doc"].get("options") or {}))
    legacy = legacy_params(module_doc)
    if legacy is not None:
        for name, option in options.items():
            enforced = legacy.get(name)
            if enforced is None:
                continue  # read by the module's code itself, or by its action plugin
            if not enforced["variable_choices"]:
                option["choices"] = enforced["choices"]
            option["required"] = option.get("required", False) or enforced["required"]
    return options


def jinja_literals(value: str) -> tuple[bool, list]:
    """(is Jinja, the literals it can evaluate to): the constants of a template that is one
    expression made of constants and conditionals (`{{ 'a' if x else 'b' }}`); a branch that
    is anything else (`omit`, a variable, a filter) adds none."""
    if "{{" not in value and "{%" not in value:
        return False, [value]
    try:
        body = jinja2.Environment().parse(value).body
    except jinja2.TemplateSyntaxError:
        return True, []
    if len(body) != 1 or not isinstance(body[0], nodes.Output):
        return True, []
    parts = [
        n for n in body[0].nodes if not (isinstance(n, nodes.TemplateData) and not n.data.strip())
    ]
    if len(parts) != 1 or isinstance(parts[0], nodes.TemplateData):
        return True, []

    def leaves(node: nodes.Node) -> list:
        if isinstance(node, nodes.Const):
            return [node.value]
        if isinstance(node, nodes.CondExpr):
            return leaves(node.expr1) + (leaves(node.expr2) if node.expr2 is not None else [])
        return []

    return True, leaves(parts[0])


def type_problem(value: object, kind: str | None) -> str | None:
    """Why a literal cannot be an option of type `kind` (None: it can, or it cannot be told)."""
    if kind in (None, "raw", "json"):
        return None
    if kind in ("str", "path", "sid"):
        if isinstance(value, (bool, list, dict)) or value is None:
            return f"{value!r} is not a string"
    elif kind == "int":
        if isinstance(value, bool) or not re.fullmatch(r"-?\d+", str(value)):
            return f"{value!r} is not an int"
    elif kind == "float":
        if isinstance(value, bool) or not re.fullmatch(r"-?\d+(\.\d*)?", str(value)):
            return f"{value!r} is not a float"
    elif kind == "bool":
        if not isinstance(value, bool) and str(value).lower() not in BOOLEANS:
            return f"{value!r} is not a bool"
    elif kind == "list":
        if isinstance(value, dict):
            return f"{value!r} is not a list"
    elif kind == "dict" and not isinstance(value, dict):
        return f"{value!r} is not a dict"
    return None


def check_value(where: str, value: object, option: dict) -> list[str]:
    kind = option.get("type")
    if isinstance(value, str):
        templated, literals = jinja_literals(value)
        if templated:
            # Each literal a conditional may give, else nothing that can be told here.
            problems = []
            for literal in literals:
                problems += check_value(where, literal, option)
            return problems
    problem = type_problem(value, kind)
    if problem:
        return [f"{where}: {problem} ({kind})"]
    problems = []
    elements = [] if kind != "list" else (value if isinstance(value, list) else [value])
    choices = option.get("choices")
    if choices:
        for item in elements if kind == "list" else [value]:
            if isinstance(item, str) and jinja_literals(item)[0]:
                continue
            if str(item) not in [str(c) for c in choices]:
                problems.append(f"{where}: {item!r} is not one of {choices}")
    if kind == "list" and option.get("elements"):
        element = {k: v for k, v in option.items() if k not in ("type", "elements", "choices")}
        element["type"] = option["elements"]
        for i, item in enumerate(elements):
            problems += check_value(f"{where}[{i}]", item, element)
    elif kind == "dict" and option.get("suboptions") and isinstance(value, dict):
        problems += check_args(where, value, option["suboptions"])
    return problems


def check_args(where: str, args: object, options: dict[str, dict]) -> list[str]:
    """What is wrong with `args` against `options` (empty: nothing that can be told here)."""
    if isinstance(args, str):
        if "_raw_params" in options:
            return []
        return [f"{where}: free-form arguments, but the module takes none"]
    if args is None:
        args = {}
    if not isinstance(args, dict):
        return [f"{where}: arguments are {args!r}, not a mapping"]
    names = {}
    for name, option in options.items():
        names[name] = name
        for alias in option.get("aliases") or []:
            names[alias] = name
    problems = []
    for key, value in args.items():
        if key not in names:
            problems.append(f"{where}: no option {key!r} (it has {', '.join(sorted(options))})")
            continue
        problems += check_value(f"{where}: {key}", value, options[names[key]])
    given = {names[k] for k in args if k in names}
    for name, option in options.items():
        if option.get("required") and name not in given:
            problems.append(f"{where}: the required option {name!r} is missing")
    return problems


def check_calls(calls: list[tuple[str, str, object]]) -> list[str]:
    docs = module_docs()
    problems = []
    for where, module, args in calls:
        if module not in docs:
            problems.append(f"{where}: no module {module} in the installed collections")
            continue
        problems += check_args(f"{where} ({module})", args, spec_of(module, docs[module]))
    return problems


def test_the_windows_module_calls_fit_the_modules() -> None:
    calls = windows_calls()
    # The roles' Windows path is there to be checked.
    assert len(calls) > 40, calls
    assert check_calls(calls) == []


# Built-in principals whose names Windows translates (a French system's Users group is
# "Utilisateurs"): a task names them by their well-known SID.
TRANSLATED_PRINCIPALS = {
    "administrators",
    "authenticated users",
    "creator owner",
    "everyone",
    "guests",
    "local service",
    "network service",
    "system",
    "users",
}
PRINCIPAL_OPTIONS = ("user", "users", "username", "group", "groups")


def translated_principals(calls: list[tuple[str, str, object]]) -> list[str]:
    """Where a call names a built-in principal by its (English) name."""
    found = []
    for where, module, args in calls:
        for key in PRINCIPAL_OPTIONS:
            value = args.get(key) if isinstance(args, dict) else None
            for name in value if isinstance(value, list) else [value]:
                if isinstance(name, str) and "{{" not in name:
                    bare = name.lower().split("\\")[-1]
                    if bare in TRANSLATED_PRINCIPALS:
                        found.append(f"{where} ({module}): {key} {name!r}")
    return found


def test_built_in_principals_are_named_by_their_sid() -> None:
    assert translated_principals(windows_calls()) == []
    assert translated_principals(
        [("case", "ansible.windows.win_user", {"name": "prefect", "groups": ["Users"]})]
    ) == ["case (ansible.windows.win_user): groups 'Users'"]


# Mistakes the check must catch, each as a task would be written; with a call that is right.
WRONG = [
    ("ansible.windows.win_service", {"name": "x", "start_mode": "automatic"}, "is not one of"),
    ("ansible.windows.win_service", "name=x state=started", "free-form arguments"),
    (
        "ansible.windows.win_service",
        {"name": "x", "failure_actions": [{"type": "restart", "delay_sec": 5}]},
        "no option 'delay_sec'",
    ),
    ("ansible.windows.win_regedit", {"path": "HKLM:\\X", "delete_key": "maybe"}, "not a bool"),
    ("ansible.windows.win_service_info", {"name": ["a", "b"]}, "is not a string"),
    ("ansible.windows.win_user_right", {"users": ["x"]}, "required option 'name'"),
    (
        "chocolatey.chocolatey.win_chocolatey",
        {"name": "git", "state": "{{ 'upgraded' if pin else 'present' }}"},
        "'upgraded' is not one of",
    ),
    # Legacy modules: an unknown option would be ignored on the host; the source's choices.
    (
        "ansible.windows.win_acl",
        {
            "path": "C:\\",
            "user": "x",
            "rights": "Read",
            "type": "allow",
            "inheirt": "ContainerInherit",
        },
        "no option 'inheirt'",
    ),
    (
        "ansible.windows.win_acl",
        {"path": "C:\\", "user": "x", "rights": "Read", "type": "allow", "state": "presnt"},
        "is not one of",
    ),
    (
        "community.windows.win_scheduled_task",
        {"name": "x", "triggers": [{"type": "hourly"}]},
        "'hourly' is not one of",
    ),
    (
        "community.windows.win_scheduled_task",
        {"name": "x", "multiple_instances": "ignore"},
        "not an int",
    ),
]


@pytest.mark.parametrize(("module", "args", "problem"), WRONG)
def test_a_wrong_call_is_caught(module: str, args: object, problem: str) -> None:
    problems = check_calls([("case", module, args)])
    assert len(problems) == 1 and problem in problems[0], problems


def test_what_the_modules_take_passes() -> None:
    """Aliases, Jinja, free-form where taken, a legacy module's flags outside its documented
    choices (win_acl's inherit is cast to a flags enum), numbers as strings."""
    calls = [
        (
            "ok",
            "ansible.windows.win_file",
            {"dest": "C:\\x", "state": "{{ 'absent' if x else omit }}"},
        ),
        ("ok", "ansible.windows.win_command", "whoami /all"),
        (
            "ok",
            "ansible.windows.win_acl",
            {
                "path": "C:\\",
                "user": "x",
                "rights": "Read",
                "type": "allow",
                "inherit": "ContainerInherit, ObjectInherit",
            },
        ),
        ("ok", "ansible.windows.win_uri", {"url": "http://x/{{ y }}", "status_code": [200, "201"]}),
        ("ok", "ansible.windows.win_service", {"name": "x", "failure_reset_period_sec": "86400"}),
    ]
    assert check_calls(calls) == []
