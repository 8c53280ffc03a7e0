"""The Windows path's service definition, rendered by Ansible exactly as the role renders it.

No Windows host exists here, so what can be checked without one is checked here: the worker
service's arguments, its environment block (PATH, encoding, API settings, health port per pool)
and the account logic (local user, domain account, gMSA, LocalSystem); and what the role reads
back from the host (NSSM's version, Chocolatey's packages, files waiting for a restart, the
processes of a drain), given as the modules return it.
"""

from __future__ import annotations

import string
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, json_playbook

VARS_FILES = [
    ROOT / "roles" / "prefect" / "defaults" / "main.yml",
    ROOT / "roles" / "prefect" / "vars" / "main.yml",
    ROOT / "roles" / "prefect_worker" / "defaults" / "main.yml",
    ROOT / "roles" / "prefect_worker" / "vars" / "main.yml",
]
SHOWN = [
    "_prefect_worker_win_arguments",
    "_prefect_worker_win_environment",
    "_prefect_worker_win_service_user",
    "_prefect_worker_win_account",
    "_prefect_worker_win_needs_password",
    "prefect_worker_pools",
    "_prefect_worker_win_dirs",
    "_prefect_worker_win_packages_target",
    "_prefect_win_unpack_argvs",
    "_prefect_win_venv_argv",
    "_prefect_win_install_argv",
    "_prefect_worker_win_nssm_values",
    "_prefect_worker_win_service_key",
    "_prefect_worker_win_key_acl",
    "_prefect_worker_win_dir_acl",
    "_prefect_worker_win_dir_acl_owners",
    "_prefect_worker_win_dir_acl_account",
    "_prefect_worker_win_password",
    "_prefect_worker_win_fingerprint",
    "_prefect_worker_win_state_key",
    "_prefect_worker_nssm_version",
    "_prefect_worker_win_venv",
    "_prefect_win_venv_dir",
]
# What the cases of the fixture `cases` show.
SHOWN_CASES = [
    "_prefect_worker_nssm_output",
    "_prefect_worker_nssm_version",
    "_prefect_worker_win_password",
    "_prefect_worker_win_needs_logon_right",
    "_prefect_worker_win_virtual_account_ok",
    "_prefect_worker_win_python_dir",
    "_prefect_worker_win_python_acl",
    "_prefect_worker_win_upgrades",
    "_prefect_worker_win_pending_renames",
    "_prefect_worker_win_putback_runs",
    "_prefect_worker_win_prune_argv",
]
INSTALL_TASKS = yaml.safe_load(
    (ROOT / "roles" / "prefect_worker" / "tasks" / "install-Windows.yml").read_text()
)


def assert_conditions(path: Path) -> list[str]:
    """Every condition the assert tasks of a task file check, as written."""
    conditions = []
    for task in yaml.safe_load(path.read_text()):
        that = task.get("ansible.builtin.assert", {}).get("that", [])
        conditions += that if isinstance(that, list) else [that]
    return conditions


PREFLIGHT_CONDITIONS = assert_conditions(
    ROOT / "roles" / "prefect_worker" / "tasks" / "preflight.yml"
)
# What install-Windows.yml hands the prefect role's venv-Windows entry point.
VENV_INPUTS = next(
    task["vars"]
    for task in INSTALL_TASKS
    if task.get("ansible.builtin.include_role", {}).get("tasks_from") == "venv-Windows"
)
# What the prefect role's packages.yml sets before the Windows tasks use it.
PACKAGES_FACTS = {
    "__prefect_venv_key": "0123456789ab",
    "__prefect_wheelhouse": {
        "tar": "/cache/windows-cp312-0123456789abcdef.tar",
        "uv_wheel": "uv-0.13.9-py3-none-win_amd64.whl",
    },
    "__prefect_packages_inputs": ["prefect-shell==0.3.7", "prefect==3.9.1", "uv==0.13.9"],
}


def render_cases(
    folder: Path, cases: dict[str, dict], shown: list[str] = SHOWN
) -> dict[str, list[dict]]:
    """The Windows variables for each pool of a Windows worker (item/index as in the role), for
    each case in one ansible-playbook run: {case: [variables of each pool]}.

    The role's defaults and vars are loaded as play vars; a case's settings are given as task
    vars, which take precedence over them as inventory variables take precedence over role
    defaults (and stand for what the role registers from the host).
    """
    host = {"ansible_connection": "local"}
    inventory = {
        "all": {
            "children": {
                "prefect_control": {"hosts": {"ctl.example": {"ansible_host": "192.0.2.10"}}},
                "windows_workers": {"hosts": {"win-01.example": host}},
            }
        }
    }
    play = [
        {
            "name": "Render the Windows worker variables",
            "hosts": "win-01.example",
            "gather_facts": False,
            # Ansible's own strategy: the tests' default, Mitogen, costs more per task on a local
            # host, and a run renders many cases, a task each.
            "strategy": "ansible.builtin.linear",
            "vars_files": [str(p) for p in VARS_FILES],
            "tasks": [
                {
                    "name": name,
                    "ansible.builtin.debug": {"msg": {v: f"{{{{ {v} }}}}" for v in shown}},
                    "loop": "{{ prefect_worker_pools }}",
                    "loop_control": {"index_var": "index"},
                    "vars": {"ansible_facts": {"env": {"SystemRoot": "C:\\Windows"}}}
                    | PACKAGES_FACTS
                    | VENV_INPUTS
                    | settings,
                }
                for name, settings in cases.items()
            ],
        }
    ]
    (folder / "play.yml").write_text(yaml.safe_dump(play))
    (folder / "hosts.yml").write_text(yaml.safe_dump(inventory))
    report = json_playbook(folder / "play.yml", folder / "hosts.yml")
    return {
        task["task"]["name"]: [r["msg"] for r in task["hosts"]["win-01.example"]["results"]]
        for task in report["plays"][0]["tasks"]
    }


def render(tmp_path: Path, settings: dict | None = None) -> list[dict]:
    """The Windows variables for each pool of a Windows worker, for one case."""
    return render_cases(tmp_path, {"Render": settings or {}})["Render"]


def test_default_windows_worker(tmp_path: Path) -> None:
    (pool,) = render(tmp_path)
    assert pool["prefect_worker_pools"] == ["windows"]
    assert pool["_prefect_worker_win_arguments"] == [
        "worker", "start", "--pool", "windows", "--type", "process", "--name", "win-01.example",
        "--limit", "4", "--with-healthcheck", "--install-policy", "never",
    ]  # fmt: skip
    env = pool["_prefect_worker_win_environment"]
    assert env["PYTHONIOENCODING"] == "UTF-8"
    assert env["PREFECT_API_URL"] == "http://192.0.2.10:4200/api"
    assert env["PREFECT_HOME"] == "C:\\ProgramData\\Prefect\\home"
    assert env["PREFECT_WORKER_WEBSERVER_HOST"] == "127.0.0.1"
    assert env["PREFECT_WORKER_WEBSERVER_PORT"] == "8080"
    # The system's PATH after the venv and Git (NSSM expands %PATH%): PowerShell, which
    # prefect-shell runs, is in System32\WindowsPowerShell\v1.0, and OpenSSH, Wbem are there too.
    assert env["PATH"] == (
        "C:\\ProgramData\\Prefect\\venv-3.9.1-0123456789ab\\Scripts;"
        "C:\\Program Files\\Git\\cmd;%PATH%"
    )
    assert (env["GIT_TERMINAL_PROMPT"], env["GCM_INTERACTIVE"]) == ("0", "never")
    user, password = env["PREFECT_API_AUTH_STRING"].split(":", 1)
    assert user == "admin"
    assert password == (tmp_path / ".credentials" / "api_auth_password").read_text().strip()
    # Every value is a string: NSSM's environment block holds text only.
    assert all(isinstance(v, str) for v in env.values())
    # A local account, created by the role, named the way NSSM wants it.
    assert pool["_prefect_worker_win_account"] == "prefect"
    assert pool["_prefect_worker_win_service_user"] == ".\\prefect"
    assert pool["_prefect_worker_win_needs_password"] is True
    assert pool["_prefect_worker_win_dirs"] == [
        "C:\\ProgramData\\Prefect",
        "C:\\ProgramData\\Prefect\\bin",
        "C:\\ProgramData\\Prefect\\home",
        "C:\\ProgramData\\Prefect\\logs",
        "C:\\ProgramData\\Prefect\\work",
        "C:\\ProgramData\\Prefect\\work\\windows",
    ]


def test_one_service_per_pool_with_its_own_health_port(tmp_path: Path) -> None:
    pools = render(
        tmp_path, {"prefect_worker_pools": ["windows", "gpu"], "prefect_worker_limit": 2}
    )
    assert [p["_prefect_worker_win_arguments"][3] for p in pools] == ["windows", "gpu"]
    assert [p["_prefect_worker_win_arguments"][9] for p in pools] == ["2", "2"]
    assert [
        p["_prefect_worker_win_environment"]["PREFECT_WORKER_WEBSERVER_PORT"] for p in pools
    ] == [
        "8080",
        "8081",
    ]


@pytest.mark.parametrize(
    ("account", "service_user", "needs_password"),
    [
        ("EXAMPLE\\svc-prefect", "EXAMPLE\\svc-prefect", True),
        ("EXAMPLE\\gmsa-prefect$", "EXAMPLE\\gmsa-prefect$", False),
        ("LocalSystem", "LocalSystem", False),
        ("NT AUTHORITY\\LocalService", "NT AUTHORITY\\LocalService", False),
        # A virtual account: Windows manages it, no password, no user right to grant.
        ("NT SERVICE\\prefect-worker-windows", "NT SERVICE\\prefect-worker-windows", False),
    ],
)
def test_service_accounts(
    tmp_path: Path, account: str, service_user: str, needs_password: bool
) -> None:
    (pool,) = render(tmp_path, {"prefect_worker_windows_service_account": account})
    assert pool["_prefect_worker_win_service_user"] == service_user
    assert pool["_prefect_worker_win_needs_password"] is needs_password


def test_auth_off_and_extra_environment(tmp_path: Path) -> None:
    (pool,) = render(
        tmp_path,
        {
            "prefect_api_auth_enabled": False,
            "prefect_worker_env": {"HTTPS_PROXY": "http://proxy.example:3128"},
            "prefect_worker_windows_base_dir": "D:\\Prefect",
        },
    )
    env = pool["_prefect_worker_win_environment"]
    assert "PREFECT_API_AUTH_STRING" not in env
    assert env["HTTPS_PROXY"] == "http://proxy.example:3128"
    assert env["PATH"].startswith("D:\\Prefect\\venv-3.9.1-0123456789ab\\Scripts;")


def test_wheelhouse_install_steps(tmp_path: Path) -> None:
    """The wheelhouse is unpacked with tar.exe, uv comes from its own wheel, the venv is
    versioned, and the install is offline, hash-checked and compiled."""
    (pool,) = render(tmp_path)
    assert pool["_prefect_worker_win_packages_target"] == "windows-cp312"
    base = "C:\\ProgramData\\Prefect"
    uv = f"{base}\\wheelhouse\\uv\\uv-0.13.9.data\\scripts\\uv.exe"
    assert pool["_prefect_win_unpack_argvs"] == [
        ["tar.exe", "-x", "-f", f"{base}\\wheelhouse.tar", "-C", f"{base}\\wheelhouse"],
        ["tar.exe", "-x", "-f", f"{base}\\wheelhouse\\uv-0.13.9-py3-none-win_amd64.whl",
         "-C", f"{base}\\wheelhouse\\uv"],
    ]  # fmt: skip
    venv = f"{base}\\venv-3.9.1-0123456789ab"
    # The services run the venv the prefect role builds.
    assert pool["_prefect_worker_win_venv"] == pool["_prefect_win_venv_dir"] == venv
    assert pool["_prefect_win_venv_argv"] == [
        uv, "venv", "--quiet", "--python", "C:\\Python312\\python.exe", venv,
    ]  # fmt: skip
    assert pool["_prefect_win_install_argv"] == [
        uv, "pip", "install", "--quiet", "--python", f"{venv}\\Scripts\\python.exe",
        "--offline", "--no-index", "--find-links", f"{base}\\wheelhouse", "--require-hashes",
        "--compile-bytecode", "--no-cache",
        "--requirement", f"{base}\\wheelhouse\\requirements.txt",
    ]  # fmt: skip


def test_index_install_steps_and_python_kind(tmp_path: Path) -> None:
    """With prefect_packages_source index, pip in a venv of the host's Python resolves from
    the index; another Python version asks for another lock."""
    (pool,) = render(
        tmp_path,
        {
            "prefect_packages_source": "index",
            "prefect_pip_index_url": "https://pypi.example/simple",
            "prefect_worker_windows_python_version": "3.13.1",
        },
    )
    assert pool["_prefect_worker_win_packages_target"] == "windows-cp313"
    venv = "C:\\ProgramData\\Prefect\\venv-3.9.1-0123456789ab"
    assert pool["_prefect_win_venv_argv"] == [
        "C:\\Python312\\python.exe", "-m", "venv", venv,
    ]  # fmt: skip
    assert pool["_prefect_win_install_argv"] == [
        f"{venv}\\Scripts\\python.exe", "-m", "pip", "install", "--disable-pip-version-check",
        "prefect-shell==0.3.7", "prefect==3.9.1", "uv==0.13.9",
        "--index-url", "https://pypi.example/simple",
    ]  # fmt: skip


def test_nssm_settings_append_the_log_and_leave_flow_runs_alone(tmp_path: Path) -> None:
    """What NSSM reads from the service's Parameters key: the worker's program, arguments and
    folder; the log appended to across restarts (not overwritten: the traceback of a crash
    stays), rotated by size only; a stop that ends the worker alone; the environment."""
    (pool,) = render(tmp_path)
    assert pool["_prefect_worker_win_service_key"] == (
        "HKLM:\\SYSTEM\\CurrentControlSet\\Services\\prefect-worker-windows"
    )
    values = {v["name"]: (v["type"], v["data"]) for v in pool["_prefect_worker_win_nssm_values"]}
    base = "C:\\ProgramData\\Prefect"
    log = f"{base}\\logs\\worker-windows.log"
    assert values["Application"] == (
        "expandstring",
        f"{base}\\venv-3.9.1-0123456789ab\\Scripts\\prefect.exe",
    )
    assert values["AppParameters"] == (
        "expandstring",
        "worker start --pool windows --type process --name win-01.example --limit 4 "
        "--with-healthcheck --install-policy never",
    )
    assert values["AppDirectory"] == ("expandstring", f"{base}\\work\\windows")
    assert values["AppStdout"] == values["AppStderr"] == ("expandstring", log)
    # 4 is OPEN_ALWAYS (append); win_nssm would set 2 (CREATE_ALWAYS) at every run.
    assert values["AppStdoutCreationDisposition"] == values["AppStderrCreationDisposition"]
    assert values["AppStdoutCreationDisposition"] == ("dword", 4)
    assert [values[k] for k in ("AppRotateFiles", "AppRotateOnline", "AppRotateSeconds")] == [
        ("dword", 1), ("dword", 1), ("dword", 0),
    ]  # fmt: skip
    assert values["AppRotateBytes"] == ("dword", 10485760)
    assert (values["AppStopMethodSkip"], values["AppKillProcessTree"]) == (
        ("dword", 7), ("dword", 0),
    )  # fmt: skip
    # NSSM 2.24-101 checks the size at start with AppRotateDelay in place of the high word of
    # the size (io.cpp: rotate_file(..., rotate_seconds, rotate_bytes_low, rotate_bytes_high,
    # rotate_delay, ...) against io.h's (..., seconds, delay, low, high, ...)): 0 there rotates
    # the log at every start, 1 only at 4 GiB.
    assert values["AppRotateDelay"] == ("dword", 1)
    kind, lines = values["AppEnvironmentExtra"]
    assert kind == "multistring"
    env = pool["_prefect_worker_win_environment"]
    assert sorted(lines) == sorted(f"{k}={v}" for k, v in env.items())
    assert any(line.startswith("PREFECT_API_AUTH_STRING=admin:") for line in lines)


def test_who_may_read_the_settings_and_the_folders(tmp_path: Path) -> None:
    """The Parameters key holds the API auth string: Administrators, SYSTEM and the service's
    account (NSSM reads it as that account), not Users. The base folder: the service's
    account may read and run, not write (it writes in home, logs and work only)."""
    (pool,) = render(tmp_path)
    admins, system = "S-1-5-32-544", "S-1-5-18"
    assert pool["_prefect_worker_win_key_acl"] == [
        {"user": admins, "rights": "FullControl"},
        {"user": system, "rights": "FullControl"},
        {"user": "prefect", "rights": "ReadKey"},
    ]
    assert pool["_prefect_worker_win_dir_acl"] == [
        {"user": admins, "rights": "FullControl"},
        {"user": system, "rights": "FullControl"},
        {"user": "prefect", "rights": "ReadAndExecute"},
    ]
    # Administrators and SYSTEM before the venv is built; the account once its service exists.
    assert pool["_prefect_worker_win_dir_acl_owners"] == pool["_prefect_worker_win_dir_acl"][:2]
    assert pool["_prefect_worker_win_dir_acl_account"] == pool["_prefect_worker_win_dir_acl"][2:]
    assert pool["_prefect_worker_win_state_key"] == "HKLM:\\SOFTWARE\\zoe-prefect\\worker"
    (local_system,) = render(tmp_path, {"prefect_worker_windows_service_account": "LocalSystem"})
    assert local_system["_prefect_worker_win_dir_acl_account"] == []


def test_passwords_generated_given_and_their_fingerprint(tmp_path: Path) -> None:
    """The local user gets a generated password; a given one wins; the fingerprint that says
    whether the services must be given the password again changes with the password and the
    account, and does not hold the password."""
    (local,) = render(tmp_path)
    generated = tmp_path / ".credentials" / "windows_service_password_win-01.example"
    # The stored one, with a kind of character it lacks appended (Windows' complexity rule).
    assert local["_prefect_worker_win_password"].startswith(generated.read_text().strip())
    assert all(
        any(c in local["_prefect_worker_win_password"] for c in kind)
        for kind in (string.digits, string.ascii_lowercase, string.ascii_uppercase)
    )
    (given,) = render(tmp_path, {"prefect_worker_windows_service_password": "Rotated-1"})
    assert given["_prefect_worker_win_password"] == "Rotated-1"
    (again,) = render(tmp_path, {"prefect_worker_windows_service_password": "Rotated-1"})
    (domain,) = render(
        tmp_path,
        {
            "prefect_worker_windows_service_account": "EXAMPLE\\svc-prefect",
            "prefect_worker_windows_service_password": "Rotated-1",
        },
    )
    (gmsa,) = render(tmp_path, {"prefect_worker_windows_service_account": "EXAMPLE\\gmsa$"})
    prints = [p["_prefect_worker_win_fingerprint"] for p in (local, given, again, domain, gmsa)]
    assert prints[1] == prints[2]
    assert len(set(prints)) == 4
    assert all(len(p) == 64 and "Rotated" not in p for p in prints)
    # A gMSA has no password to generate.
    assert gmsa["_prefect_worker_win_password"] == ""


# `nssm version` as NSSM's source prints it (github.com/kirillkovalenko/nssm, a mirror of
# git.nssm.cc). 2.24-101-g897c7ad, nssm.cpp: _tprintf(_T("%s %s %s %s\n"), NSSM, NSSM_VERSION,
# NSSM_CONFIGURATION, NSSM_DATE), with NSSM "NSSM" and NSSM_CONFIGURATION "64-bit" (nssm.h),
# NSSM_VERSION from `git describe` and NSSM_DATE the build's %DATE% (version.cmd); stdout in
# text mode writes "\n" as CRLF.
NSSM_2_24_101 = "NSSM 2.24-101-g897c7ad 64-bit 2017-04-26\r\n"
# 2.24 (commit 220d2b0, "NSSM 2.24.") has no version command: `nssm version` ends in usage(1),
# which prints NSSM_MESSAGE_USAGE of messages.mc (its first three lines here; "Version %s %s, %s"
# is NSSM_VERSION, NSSM_CONFIGURATION, NSSM_DATE) to stderr after
# _setmode(_fileno(stderr), _O_U16TEXT): UTF-16LE, which win_command reads as UTF-8
# (ansible.windows' Process.cs: outputEncoding defaults to "utf-8").
NSSM_2_24_STDERR = (
    (
        "NSSM: The non-sucking service manager\r\n"
        "Version 2.24 64-bit, 2014-08-31\r\n"
        "Usage: nssm <option> [<args> ...]\r\n"
    )
    .encode("utf-16-le")
    .decode("utf-8")
)
# A password file of the kind the password lookup writes, without a digit: 24 letters and
# digits drawn at random are so for about 1.5 % of hosts ((52/62)**24).
NO_DIGIT_PASSWORD = "QwErTyUiOpAsDfGhJkLzXcVb"
# Chocolatey's packages as win_chocolatey_facts returns them (its RETURN:
# ansible_facts.ansible_chocolatey.packages, each with package and version).
CHOCO_PYTHON_OLDER = {
    "ansible_facts": {
        "ansible_chocolatey": {
            "packages": [
                {"package": "chocolatey", "version": "2.4.1"},
                {"package": "git", "version": "2.47.1"},
                {"package": "Git.install", "version": "2.47.1"},
                {"package": "nssm", "version": "2.24.101.20180116"},
                {"package": "python312", "version": "3.12.7"},
            ]
        }
    }
}
# The Session Manager's PendingFileRenameOperations as win_reg_stat returns a REG_MULTI_SZ (a
# list): pairs of source and target in the NT path form MoveFileEx records, an empty target
# for a deletion.
PENDING_RENAMES = [
    "\\??\\C:\\Python312\\python312.dll",
    "",
    "\\??\\C:\\Python3120\\not-ours.dll",
    "",
    "\\??\\c:\\program files\\git\\mingw64\\bin\\libcurl-4.dll",
    "",
    "\\??\\C:\\Windows\\Temp\\setup.tmp",
    "",
]


def flow_run(run_id: str, state: str, pid: str | None, worker: str = "win-01.example") -> dict:
    """A flow run as POST /flow_runs/filter returns it (Prefect's FlowRun, the fields the drain
    reads): the worker that claimed it names itself in the label prefect.worker.name
    (workers/base.py), and records the process it started as infrastructure_pid, str(pid)."""
    return {
        "id": run_id,
        "name": f"run-{run_id}",
        "state_type": state,
        "infrastructure_pid": pid,
        "labels": {"prefect.worker.name": worker, "prefect.flow.id": "f-1"},
    }


DRAIN_RUNS = [
    flow_run("alive", "PENDING", "4242"),  # its process runs: left alone
    flow_run("dead", "PENDING", "999"),  # its process is gone: put back
    flow_run("unrecorded", "PENDING", None),  # no process recorded
    flow_run("running", "RUNNING", "5151"),
    flow_run("elsewhere", "PENDING", None, worker="win-02.example"),  # another host's
]
# What zoe.prefect.flow_runs returns for win-01.example: its own runs (it drops the others).
DRAIN_ANSWER = {
    "status": 200,
    "pages": 1,
    "runs": [r for r in DRAIN_RUNS if r["labels"]["prefect.worker.name"] == "win-01.example"],
}
CASES = {
    "nssm 2.24-101": {"__prefect_worker_nssm_version": {"stdout": NSSM_2_24_101, "stderr": ""}},
    "nssm 2.24": {
        "__prefect_worker_nssm_version": {"rc": 1, "stdout": "", "stderr": NSSM_2_24_STDERR}
    },
    "nssm silent": {"__prefect_worker_nssm_version": {"rc": 1, "stdout": "", "stderr": ""}},
    "gmsa": {"prefect_worker_windows_service_account": "EXAMPLE\\gmsa-prefect$"},
    "virtual account": {
        "prefect_worker_windows_service_account": "NT SERVICE\\prefect-worker-windows"
    },
    "virtual account, two pools": {
        "prefect_worker_windows_service_account": "NT SERVICE\\prefect-worker-windows",
        "prefect_worker_pools": ["windows", "gpu"],
    },
    "virtual account of another service": {
        "prefect_worker_windows_service_account": "NT SERVICE\\prefect-worker"
    },
    "local system": {"prefect_worker_windows_service_account": "LocalSystem"},
    "python upgrade": {
        "__prefect_worker_choco": CHOCO_PYTHON_OLDER,
        "__prefect_worker_win_renames": {
            "exists": True,
            "type": "REG_MULTI_SZ",
            "value": PENDING_RENAMES,
        },
    },
    "pinned versions installed": {
        "__prefect_worker_choco": CHOCO_PYTHON_OLDER,
        "prefect_worker_windows_python_version": "3.12.7",
    },
    "no pending renames": {"__prefect_worker_win_renames": {"exists": False}},
    "drain": {
        "__prefect_worker_draining": DRAIN_ANSWER,
        "__prefect_worker_win_processes": {"result": ["4242", "5151"]},
    },
    "drain with an unrecorded process": {
        "__prefect_worker_draining": DRAIN_ANSWER,
        "__prefect_worker_win_processes": {"result": ["4242", "5151", "6161"]},
    },
}


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    """Every case of CASES rendered in one ansible-playbook run (a run costs seconds)."""
    folder = tmp_path_factory.mktemp("cases")
    (folder / ".credentials").mkdir(mode=0o700)
    (folder / ".credentials" / "windows_service_password_win-01.example").write_text(
        NO_DIGIT_PASSWORD + "\n"
    )
    return render_cases(folder, {"default": {}} | CASES, SHOWN_CASES)


def test_nssm_version_read_from_what_nssm_prints(cases: dict[str, list[dict]]) -> None:
    """2.24 leaves services paused on recent Windows: the role reads the version from both
    outputs and refuses 2.24, and refuses an NSSM whose version it cannot read."""
    assert cases["nssm 2.24-101"][0]["_prefect_worker_nssm_version"] == "2.24.101"
    assert cases["nssm 2.24"][0]["_prefect_worker_nssm_version"] == "2.24.0"
    assert cases["nssm 2.24"][0]["_prefect_worker_nssm_output"].startswith("NSSM: The non-sucking")
    assert cases["nssm silent"][0]["_prefect_worker_nssm_version"] == ""
    task = next(t for t in INSTALL_TASKS if t["name"] == "Check that NSSM is 2.24-101 or newer")
    # No `when` that skips the check when nothing was read.
    assert "when" not in task
    assert task["ansible.builtin.assert"]["that"][0] == "_prefect_worker_nssm_version | length > 0"


def test_a_generated_password_meets_windows_complexity(cases: dict[str, list[dict]]) -> None:
    assert cases["default"][0]["_prefect_worker_win_password"] == NO_DIGIT_PASSWORD + "7"
    # A given password is the operator's, as given.
    assert cases["gmsa"][0]["_prefect_worker_win_password"] == ""


def test_who_gets_log_on_as_a_service(cases: dict[str, list[dict]]) -> None:
    """Every account but the built-in and virtual ones needs the right; a gMSA too."""
    rights = {
        name: cases[name][0]["_prefect_worker_win_needs_logon_right"]
        for name in ("default", "gmsa", "virtual account", "local system")
    }
    assert rights == {
        "default": True,
        "gmsa": True,
        "virtual account": False,
        "local system": False,
    }
    task = next(t for t in INSTALL_TASKS if t.get("ansible.windows.win_user_right"))
    assert task["when"] == "_prefect_worker_win_needs_logon_right | bool"


def test_a_virtual_account_serves_its_own_service_only(cases: dict[str, list[dict]]) -> None:
    ok = {
        name: cases[name][0]["_prefect_worker_win_virtual_account_ok"]
        for name in (
            "default",
            "gmsa",
            "virtual account",
            "virtual account, two pools",
            "virtual account of another service",
        )
    }
    assert ok == {
        "default": True,
        "gmsa": True,
        "virtual account": True,
        "virtual account, two pools": False,
        "virtual account of another service": False,
    }
    assert "_prefect_worker_win_virtual_account_ok | bool" in PREFLIGHT_CONDITIONS


def test_python_folder_closed_to_users(cases: dict[str, list[dict]]) -> None:
    (pool,) = cases["default"]
    assert pool["_prefect_worker_win_python_dir"] == "C:\\Python312"
    assert pool["_prefect_worker_win_python_acl"] == [
        {"user": "S-1-5-32-544", "rights": "FullControl"},
        {"user": "S-1-5-18", "rights": "FullControl"},
        {"user": "S-1-5-32-545", "rights": "ReadAndExecute"},
    ]
    names = [t["name"] for t in INSTALL_TASKS]
    # Closed after the installers ran, before the venv is built from it.
    assert (
        names.index("Install Git and Python from their installers")
        < names.index("Stop Python's folder inheriting C:\\'s access")
        < names.index("Build the versioned venv with this host's packages (prefect role)")
    )


def test_an_upgrade_of_python_waits_for_a_drained_host(cases: dict[str, list[dict]]) -> None:
    """The pinned package installed at another version is an upgrade, checked for running
    programs first; a fresh host or the pinned versions are none. Files left for the next
    boot under Python's or Git's folder (and only there) stop the run."""
    assert cases["python upgrade"][0]["_prefect_worker_win_upgrades"] == [
        {
            "package": "python312",
            "version": "3.12.8",
            "pin": "python312==3.12.8",
            "folder": "C:\\Python312",
        }
    ]
    assert cases["pinned versions installed"][0]["_prefect_worker_win_upgrades"] == []
    assert cases["default"][0]["_prefect_worker_win_upgrades"] == []
    assert cases["python upgrade"][0]["_prefect_worker_win_pending_renames"] == [
        "\\??\\C:\\Python312\\python312.dll",
        "\\??\\c:\\program files\\git\\mingw64\\bin\\libcurl-4.dll",
    ]
    assert cases["no pending renames"][0]["_prefect_worker_win_pending_renames"] == []


def test_drain_puts_back_the_runs_no_process_took(cases: dict[str, list[dict]]) -> None:
    """A Pending run whose recorded process runs stays; one whose process is gone goes back to
    Scheduled; one without a recorded process too, unless a process runs that no run records."""
    ids = {
        name: [run["id"] for run in cases[name][0]["_prefect_worker_win_putback_runs"]]
        for name in ("drain", "drain with an unrecorded process")
    }
    assert ids == {"drain": ["dead", "unrecorded"], "drain with an unrecorded process": ["dead"]}
    assert cases["default"][0]["_prefect_worker_win_putback_runs"] == []


def test_the_log_pruning_command(cases: dict[str, list[dict]]) -> None:
    assert cases["default"][0]["_prefect_worker_win_prune_argv"] == [
        "powershell.exe", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass",
        "-File", "C:\\ProgramData\\Prefect\\bin\\prune-logs.ps1",
        "-Folder", "C:\\ProgramData\\Prefect\\logs", "-Keep", "10",
    ]  # fmt: skip


def test_the_windows_pythons_have_their_locks() -> None:
    """Every Windows Python the preflight accepts has a lock and a target in packages.py, and
    the entry points take it (3.12 alone was accepted before)."""
    targets = yaml.safe_load((ROOT / "roles" / "prefect" / "vars" / "main.yml").read_text())[
        "_prefect_packages_windows_targets"
    ]
    specs = yaml.safe_load((ROOT / "roles" / "prefect" / "meta" / "argument_specs.yml").read_text())
    entry = specs["argument_specs"]
    assert targets == ["windows-cp311", "windows-cp312", "windows-cp313"]
    assert entry["venv-Windows"]["options"]["_prefect_packages_target"]["choices"] == targets
    assert set(targets) <= set(entry["packages"]["options"]["_prefect_packages_target"]["choices"])
    assert "_prefect_worker_win_packages_target in _prefect_packages_windows_targets" in (
        PREFLIGHT_CONDITIONS
    )
    locks = ROOT / "roles" / "prefect" / "files" / "locks"
    packages = (ROOT / "roles" / "prefect" / "files" / "packages.py").read_text()
    for target in targets:
        assert (locks / f"{target}.txt").is_file(), target
        assert f'"{target}": Target("3.{target[-2:]}", "windows"' in packages, target
