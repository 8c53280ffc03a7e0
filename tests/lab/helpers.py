"""Helpers for the lab tests, which drive the real lab (scripts/lab.sh) and its API."""

from __future__ import annotations

import functools
import json
import os
import re
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import yaml

from conftest import LAB, LAB_CREDENTIALS, LAB_INVENTORY, LAB_UI_PORT, ROOT, VENV_BIN, ansible_env

CLIENT_ENV = LAB_CREDENTIALS / "client.env"
VAULT = LAB_INVENTORY / "group_vars" / "all" / "vault.yml"
CONTROL = f"{LAB}-control"
# The lab serves its API over HTTPS (prefect_api_tls), published on this machine's loopback;
# its certificate is checked against the lab's CA, as a user's client does.
API = f"https://127.0.0.1:{LAB_UI_PORT}/api"
# Moments one test records for a later one to check (tests run in file order).
MARKS: dict[str, datetime] = {}
RECAP = re.compile(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def lab(
    *args: str, workers: int = 2, smoke: bool = True
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run scripts/lab.sh (with or without its smoke run) and return its result and duration."""
    start = time.monotonic()
    result = subprocess.run(
        ["scripts/lab.sh", *args],
        cwd=ROOT,
        env=ansible_env(LAB_LINUX_WORKERS=str(workers), LAB_SMOKE="1" if smoke else "0"),
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    return result, time.monotonic() - start


def failures(output: str) -> str:
    """What a failed ansible-playbook run says about its failures (the failed tasks and their
    messages), then the end of its output."""
    lines = output.splitlines()
    found = [
        "\n".join(lines[max(0, i - 3) : i + 8])
        for i, line in enumerate(lines)
        if line.startswith(("fatal:", "failed:")) or "[ERROR]" in line
    ]
    return "\n---\n".join(found)[-6000:] + "\n...\n" + output[-2500:]


def site_recap(output: str) -> dict[str, tuple[int, int, int]]:
    """Host -> (changed, unreachable, failed) from the last PLAY RECAP (site.yml's)."""
    last = output.rsplit("PLAY RECAP", 1)[-1]
    return {h: (int(c), int(u), int(f)) for h, c, u, f in RECAP.findall(last)}


def changed_tasks(output: str, host: str) -> list[str]:
    """The tasks of an ansible-playbook output that report changed on `host`."""
    found, task = [], ""
    for line in output.splitlines():
        if line.startswith(("TASK [", "RUNNING HANDLER [")):
            task = line.split("[", 1)[1].rsplit("]", 1)[0]
        elif line.startswith(f"changed: [{host}]"):
            found.append(task)
    return found


def docker(*args: str, check: bool = True, input: str | None = None) -> str:  # noqa: A002
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=check, timeout=300, input=input
    ).stdout.strip()


def lab_hosts(*filters: str) -> list[str]:
    """The names of this lab's containers (label zoe-prefect.lab), running ones unless a
    filter says otherwise (docker ps --filter), e.g. lab_hosts("status=exited", all=True)."""
    args = [f"--filter=label=zoe-prefect.lab={LAB}", *(f"--filter={f}" for f in filters)]
    return docker("ps", "-a", *args, "--format", "{{.Names}}").split()


def active_since(container: str, unit: str) -> str:
    return docker("exec", container, "systemctl", "show", unit, "-p", "ActiveEnterTimestamp")


def run_deployment(name: str, *params: str) -> dict:
    """scripts/run_deployment.py's JSON answer; the auth string from auth(), since the lab's
    client.env holds none (its password is a vaulted one)."""
    result = subprocess.run(
        [sys.executable, "scripts/run_deployment.py", name, "--json"]
        + ["--client-env", str(CLIENT_ENV)]
        + [f"--param={p}" for p in params],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "PREFECT_API_AUTH_STRING": ":".join(auth())},
    )
    lines = result.stdout.strip().splitlines()
    assert lines, f"run_deployment.py {name}: exit {result.returncode}\n{result.stderr[-3000:]}"
    return json.loads(lines[-1])


def figure(text: str) -> None:
    print(f"\n[figure] {text}", flush=True)


def client_env() -> dict[str, str]:
    """The settings of the client.env the prefect_server role writes on the controller."""
    lines = CLIENT_ENV.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


@functools.cache
def vault_secrets() -> dict[str, str]:
    """The passwords the lab keeps in its ansible-vault file, decrypted."""
    shown = subprocess.run(
        [str(VENV_BIN / "ansible-vault"), "view", str(VAULT)],
        env=ansible_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return yaml.safe_load(shown)


def auth() -> tuple[str, str]:
    """The API's user and password: the lab's password is a vaulted one, so client.env holds
    no auth string (prefect_server_client_env_auth), and it is read from the vault."""
    string = client_env().get("PREFECT_API_AUTH_STRING")
    if string is None:
        return "admin", vault_secrets()["vault_prefect_api_auth_password"]
    user, _, password = string.partition(":")
    return user, password


def tls() -> ssl.SSLContext:
    """Trust in the lab's CA (the one that signed the API's certificate), as client.env names
    it, and in nothing else."""
    return ssl.create_default_context(cafile=client_env()["PREFECT_API_SSL_CERT_FILE"])


def api(method: str, path: str, body: Any = None, timeout: float = 10) -> Any:
    """One call to the lab's API (published on 127.0.0.1:LAB_UI_PORT) with the auth string."""
    response = httpx.request(
        method, f"{API}{path}", json=body, auth=auth(), timeout=timeout, verify=tls()
    )
    response.raise_for_status()
    return response.json() if response.content else None


def flow_run_ids() -> set[str]:
    """The ids of every flow run the server holds, page by page (the API gives 200 at most)."""
    ids: set[str] = set()
    while True:
        body = {"sort": "ID_DESC", "limit": 200, "offset": len(ids)}
        page = {r["id"] for r in api("POST", "/flow_runs/filter", body)}
        if not page - ids:
            return ids
        ids |= page


def wait_for(what: str, check: Callable[[], Any], timeout: float, interval: float = 1) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (httpx.HTTPError, subprocess.CalledProcessError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout:.0f} s (last: {last!r})")


def online_since(pool: str, since: datetime) -> set[str]:
    """Workers of `pool` listed ONLINE whose last heartbeat is after `since`."""
    workers = api("POST", f"/work_pools/{pool}/workers/filter", {})
    return {
        w["name"]
        for w in workers
        if w["status"] == "ONLINE" and datetime.fromisoformat(w["last_heartbeat_time"]) > since
    }


def now() -> datetime:
    return datetime.now(UTC)
