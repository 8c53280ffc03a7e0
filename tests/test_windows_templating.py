"""The Windows path's service definition, rendered by Ansible exactly as the role renders it.

No Windows host exists here, so what can be checked without one is checked here: the worker
service's arguments, its environment block (PATH, encoding, API settings, health port per pool)
and the account logic (local user, domain account, gMSA, LocalSystem).
"""

from __future__ import annotations

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
# What install-Windows.yml hands the prefect role's venv-Windows entry point.
VENV_INPUTS = next(
    task["vars"]
    for task in yaml.safe_load(
        (ROOT / "roles" / "prefect_worker" / "tasks" / "install-Windows.yml").read_text()
    )
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


def render(tmp_path: Path, settings: dict | None = None) -> list[dict]:
    """The Windows variables for each pool of a Windows worker (item/index as in the role).

    The role's defaults and vars are loaded as play vars; `settings` are given as task vars,
    which take precedence over them as inventory variables take precedence over role defaults.
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
            "vars_files": [str(p) for p in VARS_FILES],
            "tasks": [
                {
                    "name": "Render",
                    "ansible.builtin.debug": {"msg": {name: f"{{{{ {name} }}}}" for name in SHOWN}},
                    "loop": "{{ prefect_worker_pools }}",
                    "loop_control": {"index_var": "index"},
                    "vars": {"ansible_facts": {"env": {"SystemRoot": "C:\\Windows"}}}
                    | PACKAGES_FACTS
                    | VENV_INPUTS
                    | (settings or {}),
                }
            ],
        }
    ]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    report = json_playbook(tmp_path / "play.yml", tmp_path / "hosts.yml")
    results = report["plays"][0]["tasks"][0]["hosts"]["win-01.example"]["results"]
    return [r["msg"] for r in results]


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
        ("NT SERVICE\\prefect-worker", "NT SERVICE\\prefect-worker", False),
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
    assert local["_prefect_worker_win_password"] == generated.read_text().strip()
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


@pytest.mark.parametrize(
    ("output", "version"),
    [
        (
            "NSSM: The non-sucking service manager\r\nVersion 2.24-101-g897c7ad 64-bit, 2017-04-26",
            "2.24.101",
        ),
        ("NSSM: The non-sucking service manager\r\nVersion 2.24 64-bit, 2014-08-31", "2.24.0"),
        ("'nssm.exe' is not recognized", ""),
    ],
)
def test_nssm_version_read_from_its_output(tmp_path: Path, output: str, version: str) -> None:
    """2.24 leaves services paused on recent Windows: the role refuses it, reading the version
    from `nssm version` (no version in the output: nothing to refuse)."""
    (pool,) = render(tmp_path, {"__prefect_worker_nssm_version": {"stdout": output, "stderr": ""}})
    assert pool["_prefect_worker_nssm_version"] == version
