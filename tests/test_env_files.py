"""Settings files (KEY=VALUE, systemd's EnvironmentFile=): every value the roles write is read
back as given, whatever it holds. The roles quote values with the filter zoe.prefect.env_value;
the registration script reads deploy.env with its own reader; systemd, sh and that reader must
all read the same value."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import test_preflight
from conftest import ROOT, run_playbook
from test_preflight import LINEAR, SYSTEMD_HOST, docker, host

sys.path.insert(0, str(ROOT / "plugins" / "filter"))
from environment import env_value  # noqa: E402

spec = importlib.util.spec_from_file_location(
    "deploy_all_from_git", ROOT / "roles" / "prefect_deploy" / "files" / "deploy_all_from_git.py"
)
deploy = importlib.util.module_from_spec(spec)
sys.modules.setdefault(spec.name, deploy)
spec.loader.exec_module(deploy)

# Each of ' " $ \ space % newline, and what sh or systemd would otherwise take for syntax.
VALUES = {
    "ZP_SINGLE": "it's",
    "ZP_DOUBLE": 'say "hi"',
    "ZP_DOLLAR": "p$ss${HOME}$(id)",
    "ZP_BACKSLASH": "C:\\new\\table\\",
    "ZP_SPACES": " two  spaces ",
    "ZP_PERCENT": "100%h %i %%",
    "ZP_NEWLINE": "line one\nline two",
    "ZP_BACKQUOTE": "`id`",
    "ZP_HASH": "#not a comment",
    "ZP_URL": "http://user:pa;ss@proxy.example:3128/?a=1&b=2",
    "ZP_PLAIN": "https://prefect.example:4200/api",
    "ZP_EMPTY": "",
}


def env_text(values: dict[str, str]) -> str:
    return "".join(f"{k}={env_value(v)}\n" for k, v in values.items())


def test_plain_values_stay_as_they_are() -> None:
    assert env_value("https://prefect.example:4200/api") == "https://prefect.example:4200/api"
    assert env_value(30) == "30"
    assert env_value(True) == "true"
    assert env_value("a b") == '"a b"'


def test_sh_and_the_scripts_reader_read_every_value_back(tmp_path: Path) -> None:
    path = tmp_path / "settings.env"
    path.write_text("# a comment, it's ignored\n" + env_text(VALUES))
    assert deploy.read_env_file(path) == VALUES
    for name, value in VALUES.items():
        done = subprocess.run(
            ["sh", "-c", f'. "$1" && printf %s "${name}"', "sh", str(path)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert done.stdout == value, name


# A Fernet key (32 bytes, URL-safe base64), as prefect_server_encryption_key takes.
KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="


@pytest.mark.containers
@pytest.mark.usefixtures("hosts")
def test_systemd_reads_the_roles_settings_files_back(tmp_path: Path) -> None:
    """The roles' own templates (worker.env, server.env) with every kind of value in
    prefect_worker_env, prefect_server_env and the API user, read by systemd on a real host."""
    auth = "ad min'\"$%\\:pass word"
    base = {
        "prefect_group": "prefect",
        "ansible_managed": "Managed by Ansible",
        "_prefect_worker_environment": VALUES,
        "prefect_monitoring": False,
        "_prefect_scaled_out": False,
        "_prefect_server_mode": "all",
        "_prefect_server_environment": {"PREFECT_HOME": "/var/lib/prefect/server"},
        "_prefect_server_redis_environment": {},
        "_prefect_server_docket_environment": {},
        "_prefect_database_hosts": [],
        "_prefect_server_database_tls_environment": {},
        "_prefect_server_database_tls": False,
        "prefect_server_env": VALUES,
        "prefect_api_auth_enabled": True,
        "_prefect_api_auth_string": auth,
        # What server.env holds is the role's own expression (vars/main.yml).
        "_prefect_server_settings": yaml.safe_load(
            (ROOT / "roles" / "prefect_server" / "vars" / "main.yml").read_text()
        )["_prefect_server_settings"],
        "_prefect_server_encryption_key": KEY,
    }
    templates = {
        "worker": ROOT / "roles" / "prefect_worker" / "templates" / "worker.env.j2",
        "server": ROOT / "roles" / "prefect_server" / "templates" / "server.env.j2",
    }
    playbook = tmp_path / "render.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "Render the roles' settings files",
                    "hosts": SYSTEMD_HOST,
                    "gather_facts": False,
                    "vars": base,
                    "tasks": [
                        {
                            "name": f"Render {name}.env",
                            "ansible.builtin.template": {
                                "src": str(src), "dest": f"/tmp/zp-{name}.env", "mode": "0600",
                            },
                        }
                        for name, src in templates.items()
                    ],
                }
            ],
            sort_keys=False,
        )
    )  # fmt: skip
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": host()}}))
    rendered = run_playbook(playbook, inventory, **LINEAR)
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr
    for name in templates:
        done = docker(
            "exec", SYSTEMD_HOST, "systemd-run", "--quiet", "--wait", "--pipe",
            f"--property=EnvironmentFile=/tmp/zp-{name}.env", "/usr/bin/env", "-0",
        )  # fmt: skip
        seen = dict(item.split("=", 1) for item in done.stdout.split("\0") if "=" in item)
        for key, value in VALUES.items():
            assert seen.get(key) == value, (name, key, seen.get(key))
    assert seen["PREFECT_SERVER_API_AUTH_STRING"] == auth
    assert seen["PREFECT_SERVER_ENCRYPTION_KEY"] == KEY


hosts = test_preflight.hosts
