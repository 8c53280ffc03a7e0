"""What must stay private stays private; a backup brings every deployment and past run back
onto a fresh control host."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import yaml

from conftest import (
    LAB,
    LAB_CREDENTIALS,
    LAB_INVENTORY,
    LAB_VAULT_PASS,
    ROOT,
    VENV_BIN,
    ansible_env,
    consumer_playbook,
    consumer_project,
    run_playbook,
)
from lab.helpers import (
    CONTROL,
    MARKS,
    VAULT,
    api,
    auth,
    changed_tasks,
    docker,
    failures,
    figure,
    flow_run_ids,
    lab,
    now,
    online_since,
    site_recap,
    vault_secrets,
    wait_for,
)

CREDENTIALS = LAB_CREDENTIALS
PRIVATE_URL = f"http://{CONTROL}/git/zoe-prefect.git"
WORKERS = [f"{LAB}-worker-1", f"{LAB}-worker-2", f"{LAB}-worker-3"]
# The lab's group_vars: the committed settings, scripts/lab.sh's lab.yml and the vault.
LAB_GROUP_VARS = ("main.yml", "lab.yml", "vault.yml")


def git_token() -> str:
    return (CREDENTIALS / "git_token").read_text().strip()


def git_header() -> str:
    """The Authorization header the lab's token makes (user x-access-token)."""
    credentials = base64.b64encode(f"x-access-token:{git_token()}".encode()).decode()
    return f"Authorization: Basic {credentials}"


def pem_line(path: Path) -> str:
    """The second base64 line of a PEM (or OpenSSH) key file: 64 or 70 characters of it."""
    lines = [line for line in path.read_text().splitlines() if not line.startswith("-----")]
    assert len(lines) > 2 and len(lines[1]) >= 64, path
    return lines[1]


def test_the_lab_keeps_its_passwords_in_a_vault() -> None:
    """The lab's passwords and the CA key's passphrase come from the lab's vault file,
    encrypted; none of them is anywhere in plain text on the controller, no secret is made
    that the fleet does not use, and a wrong vault password stops site.yml before any host
    changes, with Ansible's message."""
    assert VAULT.read_text().startswith("$ANSIBLE_VAULT;1.1;AES256")
    secrets = vault_secrets()
    assert set(secrets) == {
        "vault_prefect_api_auth_password",
        "vault_prefect_database_password",
        "vault_prefect_monitoring_password",
        "vault_prefect_api_tls_ca_passphrase",
        "vault_prefect_server_encryption_key",
    }
    assert all(value not in VAULT.read_text() for value in secrets.values())
    # The server runs with them: the API takes the vault's password.
    assert auth()[1] == secrets["vault_prefect_api_auth_password"]
    assert oct((CREDENTIALS / "vault_pass").stat().st_mode & 0o777) == "0o600"
    # Not in any file of the credentials folder (client.env has no auth string), no Redis
    # password for a fleet without Redis, and the CA's key encrypted with the passphrase.
    plain = [
        (path.name, name)
        for path in CREDENTIALS.iterdir()
        if path.is_file() and path.name != "vault_pass"
        for name, value in secrets.items()
        if value in path.read_text(errors="replace")
    ]
    assert plain == [], plain
    assert "PREFECT_API_AUTH_STRING" not in (CREDENTIALS / "client.env").read_text()
    assert not (CREDENTIALS / "redis_password").exists()
    key = (CREDENTIALS / "tls-ca.key").read_text()
    assert key.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----"), key.splitlines()[0]

    wrong = CREDENTIALS.parent / ".wrong-vault-pass"
    wrong.write_text("not the password\n")
    try:
        result = run_playbook(
            "site.yml", str(LAB_INVENTORY), ANSIBLE_VAULT_PASSWORD_FILE=str(wrong)
        )
    finally:
        wrong.unlink()
    out = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0
    assert "Decryption failed" in out, out[-2000:]
    assert "changed: [" not in out and "ok: [" not in out, out[-2000:]


def test_the_flows_token_stays_out_of_command_lines_and_clones() -> None:
    """The lab's flows repository is private (HTTP basic auth). A run clones it with the token,
    yet no process's command line on any worker shows the token, nor does the clone's
    .git/config; without the token the repository cannot be read."""
    anonymous = subprocess.run(
        ["docker", "exec", "-e", "GIT_TERMINAL_PROMPT=0", f"{LAB}-worker-1",
         "git", "ls-remote", PRIVATE_URL],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert anonymous.returncode != 0, anonymous.stdout
    assert "401" in anonymous.stderr or "could not read Username" in anonymous.stderr
    header = [
        "-e", "GIT_CONFIG_COUNT=1", "-e", f"GIT_CONFIG_KEY_0=http.{PRIVATE_URL}.extraHeader",
        "-e", f"GIT_CONFIG_VALUE_0={git_header()}",
    ]  # fmt: skip
    authorized = docker("exec", *header, f"{LAB}-worker-1", "git", "ls-remote", PRIVATE_URL)
    assert "refs/heads/main" in authorized

    # Every command line on every worker, sampled as fast as ps goes, for the whole run.
    sampler = (
        "rm -f /run/zp-argv.stop; while [ ! -e /run/zp-argv.stop ]; do ps -eo args; done"
        " > /run/zp-argv.log 2>&1"
    )
    workers = [w for w in WORKERS if docker("ps", "-q", "--filter", f"name=^{w}$")]
    for worker in workers:
        docker("exec", "-d", worker, "sh", "-c", sampler)
    hold = "/var/lib/prefect/zp-token-hold"
    command = f"while [ ! -e {hold} ]; do sleep 0.2; done; git -C . log -1 --format=%H"
    deployment = api("GET", "/deployments/name/shell-command/shell-command")
    run = api(
        "POST", f"/deployments/{deployment['id']}/create_flow_run",
        {"parameters": {"command": command}},
    )  # fmt: skip
    try:
        # The run's process (infrastructure_pid: its PID on the worker that runs it) works
        # in its clone.
        pid = wait_for(
            "the run Running on a worker",
            lambda: (
                (r := api("GET", f"/flow_runs/{run['id']}"))["state_type"] == "RUNNING"
                and r.get("infrastructure_pid")
            ),
            timeout=120,
        )

        def in_clone() -> tuple[str, str] | None:
            for worker in workers:
                # As the run's own user: root in the container lacks CAP_SYS_PTRACE.
                cwd = docker(
                    "exec", "-u", "prefect", worker, "readlink", f"/proc/{pid}/cwd", check=False
                )
                if cwd.endswith("/zoe-prefect-main"):
                    return worker, cwd
            return None

        host, cwd = wait_for("the run's process inside its clone", in_clone, timeout=60)
        config = docker("exec", "-u", "prefect", host, "cat", f"{cwd}/.git/config")
        assert f"url = {PRIVATE_URL}" in config, config
        assert git_token() not in config and git_header().split()[-1] not in config
        assert "extraheader" not in config.lower(), config
    finally:
        for worker in workers:
            docker("exec", worker, "touch", hold, "/run/zp-argv.stop")
    wait_for(
        "the run Completed",
        lambda: api("GET", f"/flow_runs/{run['id']}")["state_type"] == "COMPLETED",
        timeout=120,
    )
    samples = {w: docker("exec", w, "cat", "/run/zp-argv.log") for w in workers}
    for worker in workers:
        docker("exec", worker, "rm", "-f", hold, "/run/zp-argv.log", "/run/zp-argv.stop")
    clones = [line for line in samples[host].splitlines() if PRIVATE_URL in line]
    assert any(line.startswith("git clone") for line in clones), (
        "the sampler never saw the clone's command line"
    )
    leaked = [w for w, text in samples.items() if git_token() in text or git_header() in text]
    assert leaked == [], f"the token in a command line on {leaked}"
    figure(
        f"command lines sampled during a private-repository run: "
        f"{sum(t.count(chr(10)) for t in samples.values())} lines, "
        f"{len(clones)} with the repository's URL, 0 with the token"
    )


def test_a_host_key_that_changed_is_refused() -> None:
    """The lab's known_hosts with worker-1's entry holding worker-2's key, as if worker-1 had
    been swapped behind the lab's back: Ansible refuses to talk to it (host key checking stays
    on), the other workers answer."""
    known = CREDENTIALS / "known_hosts"
    saved = known.read_text()
    keys = dict(line.split(" ", 1) for line in saved.splitlines())
    assert set(WORKERS) <= set(keys), keys
    keys[f"{LAB}-worker-1"] = keys[f"{LAB}-worker-2"]
    known.write_text("".join(f"{name} {key}\n" for name, key in keys.items()))
    try:
        result = subprocess.run(
            [str(VENV_BIN / "ansible"), "-i", str(LAB_INVENTORY), "linux_workers", "-m", "ping"],
            cwd=ROOT,
            # A fresh connection: an open ControlPersist master would skip the key exchange.
            env=ansible_env(ANSIBLE_SSH_ARGS="-o ControlMaster=no -o ControlPath=none"),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        known.write_text(saved)
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert f"{LAB}-worker-1 | UNREACHABLE!" in out, out
    # OpenSSH's words under Ansible's linear strategy, Mitogen's under the project's default.
    assert (
        "REMOTE HOST IDENTIFICATION HAS CHANGED" in out
        or "SSH reported an unrecognized or mismatching host key" in out
    ), out
    assert f"{LAB}-worker-2 | SUCCESS" in out and f"{LAB}-worker-3 | SUCCESS" in out, out


def test_a_verbose_run_with_an_unreachable_windows_host(tmp_path: Path) -> None:
    """One -vvv site.yml with a Git token and a Windows host that does not answer: the Linux
    hosts converge all the same, and no secret is in the output or a readable file."""
    ghost = tmp_path / "ghost.yml"
    ghost.write_text(
        yaml.safe_dump(
            {
                "windows_workers": {
                    "hosts": {
                        "win-ghost": {
                            "ansible_host": "127.0.0.1",
                            "ansible_port": 1,
                            "ansible_connection": "winrm",
                            "ansible_winrm_transport": "ntlm",
                            "ansible_user": "nobody",
                            "ansible_password": "unused",
                        }
                    }
                }
            }
        )
    )
    # Whatever happens, the lab gets its own settings back (the finally below), so that a
    # failure here cannot change what the backup test sees.
    try:
        start = time.monotonic()
        result = run_playbook("site.yml", str(LAB_INVENTORY), "-i", str(ghost), "-vvv")
        out = result.stdout + result.stderr
        seconds = time.monotonic() - start

        # The unreachable host fails alone; the Linux hosts converge.
        recap = site_recap(out)
        assert result.returncode != 0
        assert "win-ghost does not answer over winrm (127.0.0.1:1)" in " ".join(out.split())
        assert recap["win-ghost"][2] == 1, recap
        linux = {h: v for h, v in recap.items() if h != "win-ghost"}
        assert len(linux) == 4 and all(v[1:] == (0, 0) for v in linux.values()), (
            f"{recap}\n{failures(out)}"
        )
        assert all(v[0] == 0 for h, v in linux.items() if h != CONTROL), recap
        # With a host in windows_workers the windows pool counts as served: its deployment is
        # unpaused.
        # The registration's summary line ("created: ...; updated: ...; unchanged: ..."), not
        # the script's JSON that -vvv prints before it (its retry notes say "updated: NAME").
        shown = re.findall(r"created: [^;]*; updated: ([^;]*);", " ".join(out.split()))
        assert shown, failures(out)
        updated = shown[-1].split(", ")
        assert "create-windows-file/create-windows-file" in updated, shown[-1]
        secrets = vault_secrets() | {
            "vault password": (CREDENTIALS / "vault_pass").read_text().strip(),
            "git token": git_token(),
            "git header": git_header().split()[-1],
            # A line from the middle of each TLS key (any part of one printed is a leak).
            **{
                name: pem_line(CREDENTIALS / name)
                for name in ("tls-ca.key", "tls-api.key", "ssh_deploy")
            },
        }
        leaked = [name for name, value in secrets.items() if value in out]
        assert leaked == [], f"in the -vvv output: {leaked}"
        # The token is in the Secret block, not in any deployment.
        deployments = json.dumps(api("POST", "/deployments/filter", {}))
        assert git_token() not in deployments and git_header().split()[-1] not in deployments
        assert "{{ prefect.blocks.secret.flows-repo-token }}" in deployments
        figure(
            f"site.yml -vvv with an unreachable Windows host: {seconds:.0f} s, "
            f"{len(out.splitlines())} lines, 0 of {len(secrets)} secrets in them"
        )

        # Modes: the controller's credentials, the hosts' settings files.
        # Secrets and keys 0600; the TLS certificates and the SSH public key (public: the CA is
        # what a user gives their browser) may be 0644, inside the folder only its owner can
        # enter.
        assert oct(CREDENTIALS.stat().st_mode & 0o777) == "0o700"
        modes = {p.name: oct(p.stat().st_mode & 0o777) for p in CREDENTIALS.iterdir()}
        expected = {"tls-ca.crt", "tls-ca.key", "tls-api.crt", "tls-api.key", "ssh_deploy"}
        assert expected | {"ssh_deploy.pub", "known_hosts"} <= set(modes), modes
        public = {n: m for n, m in modes.items() if n.endswith((".crt", ".pub"))}
        assert all(m == "0o600" for n, m in modes.items() if n not in public), modes
        assert all(m in {"0o600", "0o644"} for m in public.values()), modes
        token_files = ["/etc/prefect/flows-repo.token", "/etc/prefect/flows-repo.git-credentials"]
        modes = docker("exec", CONTROL, "stat", "-c", "%n %a %U:%G", *[
            "/etc/prefect/server.env", "/etc/prefect/deploy.env", *token_files,
        ])  # fmt: skip
        assert modes.splitlines() == [
            "/etc/prefect/server.env 640 root:prefect",
            "/etc/prefect/deploy.env 600 root:root",
            "/etc/prefect/flows-repo.token 600 root:root",
            "/etc/prefect/flows-repo.git-credentials 600 root:root",
        ]

        # The repository made public (git://, no token), registered as the README says
        # (playbooks/deploy.yml, the last play of site.yml): the pull steps lose the token
        # reference; the Secret block, the token file and the Git credentials file are gone;
        # and without the Windows host its pool's deployment is paused again.
        public = {"url": f"git://{CONTROL}/zoe-prefect.git", "branch": "main"}
        plain = run_playbook(
            "playbooks/deploy.yml",
            str(LAB_INVENTORY),
            "-e",
            json.dumps({"prefect_flows_repo": public}),
        )
        assert plain.returncode == 0, failures(plain.stdout + plain.stderr)
        assert api("GET", "/deployments/name/create-windows-file/create-windows-file")["paused"]
        assert "{{ prefect.blocks.secret" not in json.dumps(api("POST", "/deployments/filter", {}))
        blocks = api(
            "POST", "/block_documents/filter", {"block_types": {"slug": {"any_": ["secret"]}}}
        )
        assert "flows-repo-token" not in [b["name"] for b in blocks]
        left = docker("exec", CONTROL, "ls", "/etc/prefect").split()
        assert not {"flows-repo.token", "flows-repo.git-credentials"} & set(left), left
    finally:
        # Back to the lab's own settings (the private repository, no Windows host).
        back = run_playbook("playbooks/deploy.yml", str(LAB_INVENTORY))
    assert back.returncode == 0, failures(back.stdout + back.stderr)
    assert "{{ prefect.blocks.secret.flows-repo-token }}" in json.dumps(
        api("POST", "/deployments/filter", {})
    )

    # Every process of every service the roles run is a non-root user's, whatever its name
    # (the exporter is a python process, as its own account; the flows' registration, git's as
    # nobody, is gone).
    services = {
        CONTROL: {
            "prefect-server.service": {"prefect"},
            "prefect-exporter.service": {"prefect-exporter"},
            "postgresql@15-main.service": {"postgres"},
            "prometheus.service": {"prometheus"},
            "prometheus-node-exporter.service": {"prometheus"},
        },
        f"{LAB}-worker-1": {
            "prefect-worker@linux.service": {"prefect"},
            "prometheus-node-exporter.service": {"prometheus"},
        },
    }
    for host, expected in services.items():
        seen: dict[str, set[str]] = {}
        for line in docker("exec", host, "ps", "-eo", "user:32=,unit=").splitlines():
            user, _, unit = line.strip().partition(" ")
            seen.setdefault(unit.strip(), set()).add(user)
        assert {unit: seen.get(unit) for unit in expected} == expected, (host, seen)


def psql(query: str, database: str = "postgres") -> str:
    """A query's rows on the control host, as postgres (psql's unaligned, tuples-only output)."""
    return docker("exec", CONTROL, "runuser", "-u", "postgres", "--", "psql", "-d", database,
                  "-tAc", query)  # fmt: skip


def dump_text(dump: Path) -> str:
    """A controller's dump as SQL (pg_restore on the control host, the dump on its stdin)."""
    shown = subprocess.run(
        ["docker", "exec", "-i", CONTROL, "runuser", "-u", "postgres", "--",
         "pg_restore", "-f", "-"],
        input=dump.read_bytes(), capture_output=True, check=True,
    )  # fmt: skip
    return shown.stdout.decode(errors="replace")


def test_the_secret_blocks_key_is_adopted_and_kept_out_of_the_dumps() -> None:
    """Every server runs with the vault's PREFECT_SERVER_ENCRYPTION_KEY and the database holds
    no key. A fleet of an older release (the server without the key, which only the database
    holds, and a Secret block made then) is adopted by control.yml: the key leaves the
    database, the block still reads, and a dump taken then holds no key. A key that opens none
    of the blocks is refused with nothing changed. The dump from before the adoption restores,
    its blocks read, and its copy of the key is removed again."""
    key = vault_secrets()["vault_prefect_server_encryption_key"]
    env_file, marker = "/etc/prefect/server.env", "/etc/prefect/encryption-key.forgotten"
    stored = "SELECT count(*) FROM configuration WHERE key = 'ENCRYPTION_KEY'"
    line = f"PREFECT_SERVER_ENCRYPTION_KEY={key}"
    assert line in docker("exec", CONTROL, "cat", env_file).split()
    assert psql(stored, "prefect") == "0"

    # The fleet as an older release left it.
    docker("exec", CONTROL, "systemctl", "stop", "prefect-server")
    docker("exec", CONTROL, "sed", "-i", "/^PREFECT_SERVER_ENCRYPTION_KEY=/d", env_file)
    docker("exec", CONTROL, "rm", "-f", marker)
    psql("INSERT INTO configuration (key, value) VALUES "
         f"('ENCRYPTION_KEY', jsonb_build_object('fernet_key', '{key}'))", "prefect")  # fmt: skip
    docker("exec", CONTROL, "systemctl", "start", "prefect-server")
    wait_for("the API ready", lambda: api("GET", "/ready") is not None, timeout=120)
    secret = api("GET", "/block_types/slug/secret")
    schema = api("POST", "/block_schemas/filter",
                 {"block_types": {"slug": {"any_": ["secret"]}}})[0]  # fmt: skip
    block = api("POST", "/block_documents/", {
        "name": "made-before-the-key", "data": {"value": "written before the adoption"},
        "block_type_id": secret["id"], "block_schema_id": schema["id"],
    })  # fmt: skip

    def reads() -> bool:
        shown = api("GET", f"/block_documents/{block['id']}?include_secrets=true")
        return shown["data"]["value"] == "written before the adoption"

    assert reads()
    backup = run_playbook("playbooks/backup.yml", str(LAB_INVENTORY))
    assert backup.returncode == 0, failures(backup.stdout)
    before = Path(re.search(r"Backup of prefect: (\S+\.pgc)", backup.stdout).group(1))
    assert key in dump_text(before)

    start = time.monotonic()
    adopt = run_playbook("playbooks/control.yml", str(LAB_INVENTORY))
    assert adopt.returncode == 0, failures(adopt.stdout)
    figure(f"control.yml adopting the key of an older fleet: {time.monotonic() - start:.0f} s")
    assert line in docker("exec", CONTROL, "cat", env_file).split()
    assert psql(stored, "prefect") == "0"
    wait_for("the API ready", lambda: api("GET", "/ready") is not None, timeout=120)
    assert reads()
    backup = run_playbook("playbooks/backup.yml", str(LAB_INVENTORY))
    assert backup.returncode == 0, failures(backup.stdout)
    after = Path(re.search(r"Backup of prefect: (\S+\.pgc)", backup.stdout).group(1))
    text = dump_text(after)
    assert key not in text and "ENCRYPTION_KEY" not in text and "made-before-the-key" in text
    figure(f"dumps: before the adoption with the key, after it without ({len(text)} bytes of SQL)")

    # Another key opens none of the blocks: refused before the settings change.
    settings = docker("exec", CONTROL, "sha256sum", env_file)
    pid = docker("exec", CONTROL, "systemctl", "show", "-p", "MainPID", "--value", "prefect-server")
    other = base64.urlsafe_b64encode(bytes(range(32))).decode()
    wrong = run_playbook("playbooks/control.yml", str(LAB_INVENTORY),
                         "-e", f"prefect_server_encryption_key={other}")  # fmt: skip
    assert wrong.returncode != 0
    said = " ".join(wrong.stdout.split())
    assert "block documents do not decrypt with the key given" in said, failures(wrong.stdout)
    assert other not in wrong.stdout and key not in wrong.stdout
    assert docker("exec", CONTROL, "sha256sum", env_file) == settings
    assert docker("exec", CONTROL, "systemctl", "show", "-p", "MainPID", "--value",
                  "prefect-server") == pid  # fmt: skip

    restore = run_playbook(
        "playbooks/restore.yml", str(LAB_INVENTORY),
        "-e", f"restore_file={before}", "-e", "restore_confirm=true",
    )  # fmt: skip
    assert restore.returncode == 0, failures(restore.stdout)
    assert psql(stored, "prefect") == "0"
    assert reads()
    for dump in (before, after):
        dump.unlink()
    for name in set(psql("SELECT datname FROM pg_database").split()):
        if name.startswith("prefect_before_restore_"):
            psql(f"DROP DATABASE {name}")


def test_a_scheduled_dump_is_restored_in_place() -> None:
    """The backup timer's service (started by hand) dumps the database on the control host; a
    deployment deleted after that dump is back (same id) once restore.yml restored the newest
    scheduled dump, which stays where it was. Before that, with nothing changed: a restore
    without restore_confirm is refused, saying what the live database holds, and so is a dump
    cut short (though pg_restore --list reads it), while the server keeps running. The replaced
    database is kept, as it was."""
    folder = "/var/backups/zoe-prefect"
    timer = docker("exec", CONTROL, "systemctl", "is-enabled", "prefect-db-backup.timer")
    assert timer == "enabled"
    docker("exec", CONTROL, "systemctl", "start", "prefect-db-backup.service")
    listed = docker("exec", CONTROL, "ls", folder).split()
    assert len(listed) == 1 and re.fullmatch(r"prefect-\d{8}T\d{6}Z\.pgc", listed[0]), listed
    assert docker("exec", CONTROL, "stat", "-c", "%a %U", f"{folder}/{listed[0]}") == (
        "600 postgres"
    )
    deployments = {d["id"]: d["name"] for d in api("POST", "/deployments/filter", {})}
    victim = next(iter(deployments))
    api("DELETE", f"/deployments/{victim}")
    assert victim not in {d["id"] for d in api("POST", "/deployments/filter", {})}
    databases = set(psql("SELECT datname FROM pg_database").split())
    server_pid = docker("exec", CONTROL, "systemctl", "show", "-p", "MainPID", "--value",
                        "prefect-server.service")  # fmt: skip

    unconfirmed = run_playbook(
        "playbooks/restore.yml", str(LAB_INVENTORY), "-e", "restore_scheduled=latest"
    )
    assert unconfirmed.returncode != 0
    said = " ".join(unconfirmed.stdout.split())
    assert f"({len(deployments) - 1} deployments," in said, failures(unconfirmed.stdout)
    assert "-e restore_confirm=true" in said and "Nothing was changed." in said

    # The newest dump by its name's time, cut 200 bytes short: its table of contents reads.
    cut = f"{folder}/prefect-20991231T235959Z.pgc"
    whole = f"{folder}/{listed[0]}"
    docker("exec", CONTROL, "sh", "-c",
           f"head -c $(( $(stat -c %s {whole}) - 200 )) {whole} > {cut} && chown postgres: {cut}"
           f" && runuser -u postgres -- pg_restore --list {cut} >/dev/null")  # fmt: skip
    try:
        truncated = run_playbook(
            "playbooks/restore.yml", str(LAB_INVENTORY),
            "-e", "restore_scheduled=latest", "-e", "restore_confirm=true",
        )  # fmt: skip
    finally:
        docker("exec", CONTROL, "rm", "-f", cut)
    assert truncated.returncode != 0
    said = " ".join(truncated.stdout.split())
    assert "prefect-20991231T235959Z.pgc is not a complete dump" in said, failures(truncated.stdout)
    # Nothing changed: the same databases, the server never stopped, the victim still gone.
    assert set(psql("SELECT datname FROM pg_database").split()) == databases
    assert docker("exec", CONTROL, "systemctl", "show", "-p", "MainPID", "--value",
                  "prefect-server.service") == server_pid  # fmt: skip
    assert victim not in {d["id"] for d in api("POST", "/deployments/filter", {})}

    start = time.monotonic()
    restore = run_playbook(
        "playbooks/restore.yml", str(LAB_INVENTORY),
        "-e", "restore_scheduled=latest", "-e", "restore_confirm=true",
    )  # fmt: skip
    assert restore.returncode == 0, failures(restore.stdout + restore.stderr)
    figure(f"restore of the newest scheduled dump in place: {time.monotonic() - start:.0f} s")
    restored = {d["id"]: d["name"] for d in api("POST", "/deployments/filter", {})}
    assert restored == deployments
    assert docker("exec", CONTROL, "ls", folder).split() == listed
    # The replaced database is kept as it was: without the victim.
    kept = set(psql("SELECT datname FROM pg_database").split()) - databases
    assert len(kept) == 1 and re.fullmatch(r"prefect_before_restore_\d{8}t\d{6}z", min(kept)), kept
    assert f"kept as {min(kept)}" in " ".join(restore.stdout.split())
    ids = set(psql("SELECT id FROM deployment", min(kept)).split())
    assert ids == set(deployments) - {victim}

    # backup.yml copies a scheduled dump to the controller, named like its own backups.
    copy = run_playbook("playbooks/backup.yml", str(LAB_INVENTORY), "-e", "backup_scheduled=latest")
    assert copy.returncode == 0, failures(copy.stdout + copy.stderr)
    fetched = LAB_INVENTORY / ".backups" / listed[0].replace("prefect-", f"prefect-{CONTROL}-")
    assert fetched.stat().st_mode & 0o777 == 0o600
    size = docker("exec", CONTROL, "stat", "-c", "%s", f"{folder}/{listed[0]}")
    assert fetched.stat().st_size == int(size)


def test_backup_and_restore_onto_a_fresh_control_host() -> None:
    # Read before the dump, so that everything listed is in it (the scheduler keeps adding runs).
    deployments = {d["id"]: d["name"] for d in api("POST", "/deployments/filter", {})}
    runs = flow_run_ids()
    assert deployments and runs
    start = time.monotonic()
    backup = run_playbook("playbooks/backup.yml", str(LAB_INVENTORY))
    assert backup.returncode == 0, backup.stdout[-3000:]
    dump = Path(re.search(r"Backup of prefect: (\S+\.pgc)", backup.stdout).group(1))
    assert oct(dump.stat().st_mode & 0o777) == "0o600" and dump.stat().st_size > 0
    figure(f"backup: {time.monotonic() - start:.0f} s, {dump.stat().st_size // 1024} KiB")
    # On the control host the dump was written into a folder only postgres can enter.
    folder = "/var/lib/postgresql/zoe-prefect-transfer"
    assert docker("exec", CONTROL, "stat", "-c", "%a %U", folder).strip() == "700 postgres"
    assert docker("exec", CONTROL, "ls", "-A", folder).strip() == ""

    docker("rm", "-f", CONTROL)  # the control host is gone
    start = time.monotonic()
    # The restored runs, not a smoke run, show that the fleet works.
    result, _ = lab("up", workers=3, smoke=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert not runs & flow_run_ids()
    # "The newest" is this host's newest by the time in the name: a newer-named dump of
    # another host is not taken (a name sort would take it).
    other = dump.with_name("prefect-zz-old-control-20991231T235959Z.pgc")
    other.write_bytes(b"not a dump")
    try:
        restore = run_playbook(
            "playbooks/restore.yml", str(LAB_INVENTORY), "-e", "restore_confirm=true"
        )
    finally:
        other.unlink()
    assert restore.returncode == 0, restore.stdout[-3000:]
    assert f"Restored {dump} " in " ".join(restore.stdout.split()), restore.stdout[-3000:]
    figure(f"fresh control host + restore: {time.monotonic() - start:.0f} s")
    # The copy restored from is gone from the control host again.
    assert docker("exec", CONTROL, "ls", "-A", folder).strip() == ""

    restored = {d["id"]: d["name"] for d in api("POST", "/deployments/filter", {})}
    assert restored == deployments
    after = flow_run_ids()
    assert runs <= after, f"{len(runs - after)} of {len(runs)} runs missing"
    figure(f"restored: {len(deployments)} deployments, {len(runs)} flow runs (past and scheduled)")
    since = now()
    wait_for(
        "the workers ONLINE with the restored server",
        lambda: (
            {f"{LAB}-worker-1", f"{LAB}-worker-2", f"{LAB}-worker-3"}
            <= online_since("linux", since)
        ),
        timeout=120,
    )


def test_the_installed_collection_finds_the_restored_fleet_converged(tmp_path: Path) -> None:
    """A project of a user's, made as docs/install.md says (its ansible.cfg and
    requirements.yml, the collection's tarball built from this checkout and installed with
    ansible-galaxy) with a copy of the lab's inventory: `ansible-playbook zoe.prefect.site`,
    under Ansible's own linear strategy, changes nothing on the fleet that the clone's site.yml
    converged and restore.yml restored. So the two entry points are one product, and the
    restored state is what the playbooks declare."""
    project = consumer_project(tmp_path / "infra")
    inventory = project / "inventory"
    (inventory / "group_vars" / "all").mkdir(parents=True)
    for name in ("hosts.yml", "docker.yml", *(f"group_vars/all/{f}" for f in LAB_GROUP_VARS)):
        shutil.copyfile(LAB_INVENTORY / name, inventory / name)
    # The lab's secrets stay where they are; the copy finds them where its inventory says.
    (inventory / ".credentials").symlink_to(LAB_CREDENTIALS)
    start = time.monotonic()
    done = consumer_playbook(
        project, "zoe.prefect.site", ANSIBLE_VAULT_PASSWORD_FILE=str(LAB_VAULT_PASS)
    )
    seconds = time.monotonic() - start
    out = done.stdout + done.stderr
    assert (
        str(project / "collections")
        in consumer_playbook(project, "zoe.prefect.site", "--syntax-check").stdout
    )
    assert "mitogen" not in out.lower(), failures(out)
    recap = site_recap(done.stdout)
    site = done.stdout.rsplit("PLAY [Check the inventory", 1)[-1]
    changed = {h: changed_tasks(site, h) for h in recap if recap[h][0]}
    assert done.returncode == 0, failures(out)
    assert set(recap) == {CONTROL, *WORKERS}, recap
    assert all(c == 0 for c, _, _ in recap.values()), (recap, changed)
    figure(f"zoe.prefect.site from the installed collection (linear), changed=0: {seconds:.0f} s")


def test_scheduled_runs_resumed_after_the_restarts() -> None:
    """test_02 restarted PostgreSQL, the server and the control container: the first
    auto-scheduled run due after that has Completed, with no manual step. Checked last, so
    that the wait for the 5-minute schedule overlaps the tests before it; the control host has
    been replaced and restored since, so the run went through that too."""
    restarted_at = MARKS.get("restarts_done")
    assert restarted_at, "test_control_host_restarts_lose_nothing did not get to its restarts"
    done = wait_for(
        "an auto-scheduled run due after the restarts Completed",
        lambda: [
            run
            for run in api(
                "POST",
                "/flow_runs/filter",
                {
                    "flow_runs": {
                        "expected_start_time": {"after_": restarted_at.isoformat()},
                        "state": {"type": {"any_": ["COMPLETED"]}},
                    }
                },
            )
            if run["auto_scheduled"]
        ],
        # One 5-minute schedule interval plus a run, counted from this test's start: the
        # restarts were several tests earlier.
        timeout=720,
        interval=5,
    )
    figure(
        "first scheduled run after the restarts Completed "
        f"{(now() - restarted_at).total_seconds():.0f} s after them ({done[0]['name']})"
    )
