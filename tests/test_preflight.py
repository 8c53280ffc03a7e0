"""Bad input is refused before any host changes, with a message that says what to fix.

Each case writes an inventory around real test hosts (systemd containers from the project's
base image, plus one container without systemd) and runs the whole site.yml: it must fail in
the preflight play, name the problem, and leave every host unchanged.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, VENV_BIN, container, run_playbook

# Every case runs against real hosts (containers).
pytestmark = pytest.mark.containers

NETWORK = "zp-test-preflight"
SYSTEMD_HOST = "zp-test-ctl"
PLAIN_HOST = "zp-test-plain"
SYSTEMD_ARGS = [
    "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN",
    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
    "--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--tmpfs", "/run", "--tmpfs", "/run/lock",
]  # fmt: skip


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """docker with the test's hosts and network named as this run names them (container())."""
    named = [container(a) if a in (SYSTEMD_HOST, PLAIN_HOST, NETWORK) else a for a in args]
    return subprocess.run(["docker", *named], capture_output=True, text=True, check=check)


@pytest.fixture(scope="module")
def hosts() -> Iterator[None]:
    """A systemd host and a host whose PID 1 is not systemd, on a network of the test's own."""
    image = subprocess.run(
        ["scripts/docker-ready.sh"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    docker("rm", "-f", SYSTEMD_HOST, PLAIN_HOST, check=False)
    docker("network", "rm", NETWORK, check=False)
    docker("network", "create", NETWORK)
    docker("run", "-d", "--name", SYSTEMD_HOST, "--network", NETWORK, *SYSTEMD_ARGS, image)
    docker(
        "run",
        "-d",
        "--name",
        PLAIN_HOST,
        "--network",
        NETWORK,
        image,
        "sleep",
        "infinity",
    )
    docker("exec", SYSTEMD_HOST, "systemctl", "is-system-running", "--wait", check=False)
    yield
    docker("rm", "-f", SYSTEMD_HOST, PLAIN_HOST, check=False)
    docker("network", "rm", NETWORK, check=False)


def host(name: str = SYSTEMD_HOST) -> dict:
    return {
        name: {
            "ansible_connection": "community.docker.docker_api",
            "ansible_host": container(name),
            "ansible_python_interpreter": "/usr/bin/python3",
        }
    }


def worker() -> dict:
    """A worker host for the worker's checks: another inventory name for the systemd container
    (the preflight play changes nothing, so the two can share it)."""
    return {"zp-test-worker": host()[SYSTEMD_HOST]}


def inventory(control: dict, workers: dict | None = None, **group_vars: object) -> dict:
    group_vars = {"prefect_flows_repo": {"url": "git://flows.example/flows.git"}} | group_vars
    return {
        "all": {
            "vars": group_vars,
            "children": {
                "prefect_control": {"hosts": control},
                "prefect_workers": {
                    "children": {
                        "linux_workers": {"hosts": workers or {}},
                        "windows_workers": {},
                    }
                },
            },
        }
    }


def windows_inventory(**group_vars: object) -> dict:
    inv = inventory(host(), **group_vars)
    inv["all"]["children"]["prefect_workers"]["children"]["windows_workers"] = {"hosts": worker()}
    return inv


def scaled_out_inventory(*groups: str) -> dict:
    """The scaled-out shape's groups, each holding one host per time it is named: the systemd
    container under another name (the preflight play changes nothing, so they can share it)."""
    inv = inventory(host())
    for group in groups:
        name = "zp-test-" + group.removeprefix("prefect_")
        hosts = inv["all"]["children"].setdefault(group, {"hosts": {}})["hosts"]
        if hosts:  # the group named again: one more host in it
            name += f"-{len(hosts) + 1}"
        hosts[name] = host()[SYSTEMD_HOST]
    return inv


def services_on(*names: str, groups: tuple[str, ...]) -> dict:
    """scaled_out_inventory(*groups) with the named hosts also in prefect_services."""
    inv = scaled_out_inventory(*groups)
    children = inv["all"]["children"]
    every = {n: h for g in children.values() for n, h in g.get("hosts", {}).items()}
    children["prefect_services"] = {"hosts": {n: every[n] for n in names}}
    return inv


def database_on_a_worker() -> dict:
    """Three database hosts, one of which is also a Linux worker."""
    inv = scaled_out_inventory("prefect_database", "prefect_database")
    inv["all"]["children"]["prefect_workers"]["children"]["linux_workers"]["hosts"] = worker()
    inv["all"]["children"]["prefect_database"]["hosts"] |= worker()
    return inv


def controller_with_become() -> dict:
    inv = inventory(host())
    inv["all"]["hosts"] = {
        "localhost": {
            "ansible_connection": "local",
            "ansible_python_interpreter": str(VENV_BIN / "python"),
            "ansible_become": True,
            "ansible_become_exe": "/nonexistent/sudo",
        }
    }
    return inv


# (case id, inventory, what the message must say)
BAD_INPUTS = [
    (
        "no-control-host",
        inventory({}, host()),
        "prefect_control must hold exactly one host",
    ),
    (
        "two-control-hosts",
        inventory({**host(), **host(PLAIN_HOST)}),
        f"it holds 2: {SYSTEMD_HOST}, {PLAIN_HOST}",
    ),
    (
        "unsupported-os",
        inventory(host(PLAIN_HOST)),
        "with systemd on Linux",
    ),
    (
        "port-out-of-range",
        inventory(host(), prefect_api_port=70000),
        "prefect_api_port is 70000; it must be a TCP port number from 1 to 65535",
    ),
    (
        "port-not-a-number",
        inventory(host(), prefect_database_port="fivefourthreetwo"),
        "prefect_database_port",
    ),
    (
        "malformed-database-url",
        inventory(host(), prefect_server_database_url="postgres://prefect:s3cret@db.example/"),
        # ...and the password in it is masked.
        'prefect_server_database_url is malformed: "postgres://prefect:***@db.example/"',
    ),
    (
        "wrong-type-for-a-role-variable",
        inventory(host(), prefect_server_ready_timeout="soon"),
        "argument 'prefect_server_ready_timeout' is of type str and we were unable to convert",
    ),
    (
        "bad-manifest-entry",
        inventory(host(), prefect_deploy_local_checkout=str(ROOT / "tests/data/bad_flows_repo")),
        "deployments[0] (hello): schedules[0] has both 'interval' and 'cron'",
    ),
    (
        "flows-repo-url-missing",
        inventory(host(), prefect_flows_repo={"branch": "main"}),
        'prefect_flows_repo.url is "": set it to the Git URL of your flows repository',
    ),
    (
        "stale-package-lock",
        inventory(host(), prefect_version="3.9.2"),
        "its requirements.in lacks prefect==3.9.2. Lock the fleet's packages again with "
        "`make lock`",
    ),
    (
        "control-host-also-a-worker",
        inventory(host(), host()),
        f"{SYSTEMD_HOST} is in prefect_control and in a workers group",
    ),
    *(
        (
            f"api-password-with-{what}",
            inventory(host(), prefect_api_auth_password=f"s3cret-long{char}enough"),
            "prefect_api_auth_password holds a character that systemd's and NSSM's",
        )
        for what, char in [
            ("a-quote", '"'),
            ("a-backslash", "\\"),
            ("a-dollar", "$"),
            ("a-space", " "),
            ("a-newline", "\n"),
        ]
    ),
    (
        "database-password-with-a-percent",
        inventory(host(), prefect_database_password="s3cret-%PATH%-enough"),
        "prefect_database_password holds a character",
    ),
    (
        "api-password-too-short",
        inventory(host(), prefect_api_auth_password="s3cret"),
        "prefect_api_auth_password at least 12 characters long",
    ),
    (
        "database-on-another-host",
        inventory(host(), prefect_database_host="db.example"),
        "prefect_database_host is db.example, but the postgresql role installs the database",
    ),
    (
        "allowed-network-not-cidr",
        inventory(host(), postgresql_prefect_allowed_networks=["10.0.0.0/33"]),
        "must be a network in CIDR form (e.g. 127.0.0.1/32), samenet or samehost; got 10.0.0.0/33",
    ),
    (
        "ui-api-url-not-a-url",
        inventory(host(), prefect_server_ui_api_url="prefect.example:4200/api"),
        'prefect_server_ui_api_url is "prefect.example:4200/api"; it must be an http:// or',
    ),
    (
        "zombie-timeout-too-short",
        inventory(host(), prefect_server_zombie_timeout=30),
        "prefect_server_zombie_timeout is 30; give 0 (off) or at least 60 seconds",
    ),
    (
        "backup-schedule-not-a-calendar",
        inventory(host(), postgresql_backup_schedule="every night"),
        'postgresql_backup_schedule "every night" is not a systemd calendar expression',
    ),
    (
        "flow-run-retention-zero",
        inventory(host(), prefect_server_flow_run_retention_days=0),
        "prefect_server_flow_run_retention_days is 0 and prefect_server_event_retention_days is 7;",
    ),
    (
        "worker-pools-repeated",
        inventory(host(), worker(), prefect_worker_pools=["linux", "linux"]),
        'prefect_worker_pools of zp-test-worker is ["linux", "linux"]: give a non-empty list',
    ),
    (
        "worker-limit-zero",
        inventory(host(), worker(), prefect_worker_limit=0),
        "prefect_worker_limit must be at least 1 (it is 0)",
    ),
    (
        "worker-healthcheck-port-too-high",
        inventory(
            host(),
            worker(),
            prefect_worker_healthcheck_port=65535,
            prefect_worker_pools=["linux", "builds"],
        ),
        "prefect_worker_healthcheck_port a port from 1 to 65534",
    ),
    (
        "api-url-without-api",
        inventory(host(), worker(), prefect_api_url="http://prefect.example:4200"),
        'prefect_api_url is "http://prefect.example:4200"; it must be the server\'s API URL',
    ),
    (
        # The Windows checks run in preflight: a "Windows" worker here is the systemd container
        # under another name (preflight runs the check on every host of windows_workers).
        "windows-package-method-without-installers",
        # (An unknown method is refused by the argument spec already.)
        windows_inventory(prefect_worker_windows_install_method="package"),
        "with package, give prefect_worker_windows_python_installer",
    ),
    (
        "windows-domain-account-without-password",
        windows_inventory(prefect_worker_windows_service_account="EXAMPLE\\svc-prefect"),
        "the service account EXAMPLE\\svc-prefect needs its password",
    ),
    (
        "flows-token-over-git-protocol",
        inventory(
            host(), prefect_flows_repo={"url": "git://flows.example/f.git", "token": "t0ken"}
        ),
        "prefect_flows_repo has a token, so prefect_flows_repo.url must be an http:// or https://",
    ),
    (
        "flows-token-over-plain-http",
        inventory(
            host(), prefect_flows_repo={"url": "http://flows.example/f.git", "token": "t0ken"}
        ),
        'prefect_flows_repo has a token and its URL is "http://flows.example/f.git": the workers'
        " would send the token in clear text with every clone",
    ),
    (
        "tls-renewal-window-longer-than-a-certificate",
        inventory(host(), prefect_api_tls_renew_days=400),
        "prefect_api_tls_renew_days is 400; give 1 to 180 days",
    ),
    (
        "manifest-path-outside-the-repository",
        inventory(host(), prefect_deploy_manifest="../elsewhere/prefect.yaml"),
        'prefect_deploy_manifest is "../elsewhere/prefect.yaml"; give the path of a YAML file',
    ),
    (
        "drain-timeout-zero",
        inventory(host(), worker(), prefect_worker_drain_timeout=0),
        "zp-test-worker: prefect_worker_drain_timeout must be at least 1 (it is 0)",
    ),
    (
        "monitoring-failure-ratio-zero",
        inventory(host(), prefect_monitoring=True, prefect_monitoring_failure_ratio=0),
        "prefect_monitoring: the failure ratio must be in (0, 1]",
    ),
    (
        "monitoring-on-a-public-address",
        inventory(host(), prefect_monitoring=True, prefect_monitoring_listen_address="8.8.8.8"),
        'zp-test-ctl: prefect_monitoring_listen_address is "8.8.8.8", a public address.',
    ),
    (
        "alert-receiver-of-an-unknown-kind",
        inventory(
            host(),
            prefect_monitoring=True,
            prefect_monitoring_alert_receivers=[
                {"name": "pager", "kind": "pigeon", "url": "https://hooks.example/p"},
            ],
        ),
        "prefect_monitoring_alert_receivers: each needs a name (letters, digits and _.-, each"
        " name once) and a kind of webhook, email or chat; webhook and chat need a url that is"
        " http:// or https://, email a to. pager has an unknown kind.",
    ),
    (
        "alert-webhook-not-http",
        inventory(
            host(),
            prefect_monitoring=True,
            prefect_monitoring_alert_receivers=[
                {"name": "hook", "kind": "webhook", "url": "ftp://hooks.example/p"},
            ],
        ),
        "hook has no http(s) url.",
    ),
    (
        "alert-route-to-a-missing-receiver",
        inventory(
            host(),
            prefect_monitoring=True,
            prefect_monitoring_alert_receivers=[
                {"name": "hook", "kind": "webhook", "url": "https://hooks.example/p"}
            ],
            prefect_monitoring_alert_routes=[{"receiver": "oncall", "severity": "critical"}],
        ),
        "prefect_monitoring_alert_routes name receivers that do not exist: oncall.",
    ),
    (
        "alert-repeat-interval-zero",
        inventory(host(), prefect_monitoring=True, prefect_monitoring_alert_repeat_interval="0s"),
        "and the repeat and group intervals more than 0. Nothing was changed.",
    ),
    (
        "api-replicas-without-redis",
        scaled_out_inventory("prefect_api", "prefect_lb"),
        "prefect_api holds zp-test-api, so prefect_redis must hold one host, or three or more"
        " for Redis Sentinel",
    ),
    (
        # Sentinel needs a majority to fail over: two Redis hosts would give no more than one.
        "two-redis-hosts",
        scaled_out_inventory("prefect_api", "prefect_lb", "prefect_redis", "prefect_redis"),
        "prefect_redis must hold one host, or three or more for Redis Sentinel (the API replicas"
        " and the background services exchange events through it, and a failover needs a"
        " majority of the Sentinels); it holds 2: zp-test-redis, zp-test-redis-2",
    ),
    (
        # etcd needs a majority to elect a primary: two members would survive no loss.
        "two-database-hosts",
        scaled_out_inventory("prefect_database", "prefect_database"),
        "The prefect_database group needs three or more hosts of its own (an etcd majority must"
        " survive the loss of one), and has 2 (zp-test-database, zp-test-database-2)",
    ),
    (
        "database-host-also-a-worker",
        database_on_a_worker(),
        "these are also in another group: zp-test-worker (flow code on a worker, or a Prefect"
        " server, beside the database would share its host)",
    ),
    (
        "api-replicas-without-a-load-balancer",
        scaled_out_inventory("prefect_api", "prefect_redis"),
        f"so the control host serves no API, but prefect_api_url is http://{container(SYSTEMD_HOST)}"
        ":4200/api:"
        " put a host in prefect_lb (HAProxy), or give your own load balancer's URL",
    ),
    (
        "services-hosts-without-api-replicas",
        services_on("zp-test-ctl", groups=()),
        "prefect_services holds zp-test-ctl, but prefect_api is empty",
    ),
    (
        # Docket's Redis URL (password included) would be in the replica's /api/admin/settings.
        "services-on-an-api-replica",
        services_on("zp-test-api", groups=("prefect_api", "prefect_lb", "prefect_redis")),
        "zp-test-api is in prefect_services and also in prefect_api, prefect_redis, prefect_lb or"
        " a workers group",
    ),
    (
        "pool-name-with-spaces",
        inventory(host(), prefect_server_work_pools=["linux", "gpu pool"]),
        'rename "gpu pool"',
    ),
    (
        # An inventory that lists localhost with become on (as `ansible_become: true` for all
        # hosts does): under Mitogen the roles' controller tasks would run sudo, here a sudo
        # that cannot start.
        "controller-with-become",
        controller_with_become(),
        "With Mitogen (the strategy the lab opts in to), localhost follows the inventory's"
        " ansible_become",
    ),
]


def write_inventory(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(data))
    return path


# The cases over the Docker API run under Ansible's linear strategy, as a user's ansible.cfg
# does: Mitogen leaves such connections to Ansible anyway and only adds its own start-up (about
# 15 % of each case's time). The cases over SSH, and the one about Mitogen, keep it.
LINEAR = {"ZP_MITOGEN": "0"}
MITOGEN_CASES = {"controller-with-become"}
# The bad-input cases run site.yml's first playbook alone (parsing all of site.yml costs a
# second a case): test_site_checks_before_it_changes_anything shows that site.yml starts with
# it, and the cases below that run site.yml show that it stops there.
PREFLIGHT = "playbooks/preflight.yml"


def test_site_checks_before_it_changes_anything() -> None:
    """The clone's site.yml is playbooks/site.yml, whose first play is preflight.yml's, whose
    first is the collections check: no play that changes a host comes before the checks."""
    first = [
        yaml.safe_load((ROOT / path).read_text())[0]["ansible.builtin.import_playbook"]
        for path in ("site.yml", "playbooks/site.yml", "playbooks/preflight.yml")
    ]
    assert first == ["playbooks/site.yml", "preflight.yml", "collections.yml"]
    plays = yaml.safe_load((ROOT / "playbooks" / "preflight.yml").read_text())[1:]
    assert all("tasks" in play and "roles" not in play for play in plays)


@pytest.mark.parametrize(
    ("inv", "message", "strategy"),
    [(*c[1:], {} if c[0] in MITOGEN_CASES else LINEAR) for c in BAD_INPUTS],
    ids=[c[0] for c in BAD_INPUTS],
)
def test_bad_input_stops_site_before_any_change(
    hosts: None, tmp_path: Path, inv: dict, message: str, strategy: dict[str, str]
) -> None:
    result = run_playbook(PREFLIGHT, write_inventory(tmp_path, inv), **strategy)
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert " ".join(message.split()) in " ".join(out.split()), out
    assert "changed: [" not in out, out
    assert "s3cret" not in out
    # Nothing was installed on the host.
    assert docker("exec", SYSTEMD_HOST, "test", "-e", "/opt/prefect", check=False).returncode != 0


def test_a_lock_without_a_wheel_for_the_hosts_python_stops_site(
    hosts: None, tmp_path: Path
) -> None:
    """The lock pins a package with no wheel for Debian 12's Python 3.11 on Linux: building
    the wheelhouse fails in preflight, naming the host, its Python and the package."""
    locks = tmp_path / "locks"
    shutil.copytree(ROOT / "roles" / "prefect" / "files" / "locks", locks)
    lock = locks / "linux-cp311.txt"
    # pywin32 publishes Windows wheels only.
    lock.write_text(lock.read_text() + "pywin32==311 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    inv = inventory(host(), prefect_packages_lock_dir=str(locks))
    result = run_playbook("site.yml", write_inventory(tmp_path, inv), **LINEAR)
    out = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, out
    assert f"{SYSTEMD_HOST} (linux-cp311: Python 3.11) cannot be installed from the" in out
    assert "no wheel for Python 3.11 on linux x86_64 of pywin32==311" in out
    assert "changed: [" not in out, out
    assert docker("exec", SYSTEMD_HOST, "test", "-e", "/opt/prefect", check=False).returncode != 0


def test_good_input_passes_preflight(hosts: None, tmp_path: Path) -> None:
    inv = write_inventory(tmp_path, inventory(host()))
    result = run_playbook("playbooks/preflight.yml", inv, **LINEAR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "changed=0" in result.stdout
    # TLS off, the API on 0.0.0.0: said, naming the risk, but not refused.
    assert "WARNING: prefect_api_tls is off and the API listens on 0.0.0.0" in result.stdout
    assert "in clear text" in result.stdout


def test_an_account_that_cannot_become_root_is_said_and_left_out(
    hosts: None, tmp_path: Path
) -> None:
    """The control host reached as `ops`, an account without sudo rights (the image's `deploy`
    has them), and a worker reached as `ops` with become off: each is failed with a message
    saying what the account needs, nothing changes; once the account has passwordless sudo the
    same inventory passes."""
    docker("exec", SYSTEMD_HOST, "useradd", "--create-home", "ops", check=False)
    as_ops = {"ansible_user": "ops"}
    control = {SYSTEMD_HOST: host()[SYSTEMD_HOST] | as_ops | {"ansible_become": True}}
    worker_host = {"zp-test-worker": worker()["zp-test-worker"] | as_ops}
    inv = write_inventory(tmp_path, inventory(control, worker_host))
    result = run_playbook("site.yml", inv, **LINEAR)
    out = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, out
    assert (
        f"{SYSTEMD_HOST}: Ansible reached it as ops, but sudo refused to make that account "
        'root: "sudo: a password is required"'
    ) in out, out
    assert '"ops ALL=(ALL) NOPASSWD: ALL" in /etc/sudoers.d/ops' in out, out
    assert "zp-test-worker: the tasks would run as ops, not root (ansible_become is off)" in out
    assert "changed: [" not in out, out
    assert docker("exec", SYSTEMD_HOST, "test", "-e", "/opt/prefect", check=False).returncode != 0

    sudoers = "/etc/sudoers.d/ops"
    docker("exec", SYSTEMD_HOST, "sh", "-c", f"echo 'ops ALL=(ALL) NOPASSWD: ALL' > {sudoers}")
    try:
        result = run_playbook(
            "playbooks/preflight.yml", write_inventory(tmp_path, inventory(control)), **LINEAR
        )
    finally:
        docker("exec", SYSTEMD_HOST, "rm", "-f", sudoers)
    assert result.returncode == 0, result.stdout + result.stderr


def over_ssh(tmp_path: Path, user: str) -> dict:
    """Host variables that reach the systemd host over SSH as `user`, with a key of the test's
    own and the host's key recorded in the test's known_hosts, as a production host is reached
    (the project's strategy, Mitogen, drives SSH connections itself; docker_api ones it leaves
    to Ansible)."""
    key = tmp_path / f"id_{user}"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    subprocess.run(
        [
            "docker", "exec", "-i", container(SYSTEMD_HOST), "sh", "-c",
            f"install -d -m 0700 -o {user} -g {user} /home/{user}/.ssh"
            f" && cat >/home/{user}/.ssh/authorized_keys"
            f" && chown {user}:{user} /home/{user}/.ssh/authorized_keys"
            " && systemctl start ssh.service",
        ],
        input=key.with_suffix(".pub").read_text(),
        text=True,
        check=True,
    )  # fmt: skip
    host_key = docker("exec", SYSTEMD_HOST, "cat", "/etc/ssh/ssh_host_ed25519_key.pub").stdout
    address = docker(
        "inspect", "-f",
        f"{{{{(index .NetworkSettings.Networks \"{container(NETWORK)}\").IPAddress}}}}",
        SYSTEMD_HOST,
    ).stdout.strip()  # fmt: skip
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"{address} {' '.join(host_key.split()[:2])}\n")
    return {
        "ansible_host": address,
        "ansible_user": user,
        "ansible_ssh_private_key_file": str(key),
        "ansible_ssh_common_args": f"-o UserKnownHostsFile={known_hosts}",
        "ansible_python_interpreter": "/usr/bin/python3",
    }


def test_an_account_sudo_refuses_over_ssh_is_said_and_left_out(hosts: None, tmp_path: Path) -> None:
    """The production path (SSH, and Mitogen, for which a sudo that refuses is an error of the
    task rather than a failed result): the same message as over the Docker API."""
    docker("exec", SYSTEMD_HOST, "useradd", "--create-home", "ops2", check=False)
    control = {SYSTEMD_HOST: over_ssh(tmp_path, "ops2") | {"ansible_become": True}}
    result = run_playbook("site.yml", write_inventory(tmp_path, inventory(control)))
    out = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, out
    assert (
        f"{SYSTEMD_HOST}: Ansible reached it as ops2, but sudo refused to make that account root"
    ) in out, out
    assert "password is required" in out, out
    assert '"ops2 ALL=(ALL) NOPASSWD: ALL" in /etc/sudoers.d/ops2' in out, out
    assert "changed: [" not in out, out
    assert docker("exec", SYSTEMD_HOST, "test", "-e", "/opt/prefect", check=False).returncode != 0


def test_the_example_inventory_copied_as_the_readme_says_passes_preflight(
    hosts: None, tmp_path: Path
) -> None:
    """The README's production steps, as a user types them, against a real host: copy
    inventory/example, put in your hosts, keep the passwords in an ansible-vault file and turn
    the two vault lines on, record the host's key; then preflight (every role's checks on the
    example's settings) passes over SSH as deploy with sudo and changes nothing."""
    production = tmp_path / "production"
    shutil.copytree(ROOT / "inventory" / "example", production)

    # The host: reached over SSH as deploy (passwordless sudo in the base image) with a key of
    # the test's own; its host key recorded in the test's known_hosts.
    ssh = over_ssh(tmp_path, "deploy")
    del ssh["ansible_user"]  # the example's group_vars say deploy

    # $EDITOR inventory/production/hosts.yml: one control host and one Linux worker (another
    # name for the same host: preflight changes nothing), no Windows host.
    hosts_yml = yaml.safe_load((production / "hosts.yml").read_text())
    children = hosts_yml["all"]["children"]
    children["prefect_control"]["hosts"] = {SYSTEMD_HOST: ssh}
    children["prefect_workers"]["children"]["linux_workers"]["hosts"] = {"zp-test-worker": ssh}
    children["prefect_workers"]["children"]["windows_workers"]["hosts"] = {}
    (production / "hosts.yml").write_text(yaml.safe_dump(hosts_yml))

    # $EDITOR group_vars/all/main.yml: the control host's name, and the two vault lines on.
    main = production / "group_vars" / "all" / "main.yml"
    text = main.read_text()
    text = text.replace("prefect_control_address: prefect-control.example.internal",
                        f"prefect_control_address: {SYSTEMD_HOST}")  # fmt: skip
    for name in ("prefect_api_auth_password", "prefect_database_password"):
        assert f"# {name}: " in text, f"the example has no commented {name} line"
        text = text.replace(f"# {name}: ", f"{name}: ")
    main.write_text(text)

    # ansible-vault create group_vars/all/vault.yml (here with a password file instead of the
    # prompt).
    vault_pass = tmp_path / "vault_pass"
    vault_pass.write_text("correct horse battery staple\n")
    vault = production / "group_vars" / "all" / "vault.yml"
    vault.write_text(
        yaml.safe_dump(
            {
                "vault_prefect_api_auth_password": "api-password-from-the-vault",
                "vault_prefect_database_password": "db-password-from-the-vault",
            }
        )
    )
    subprocess.run(
        [str(VENV_BIN / "ansible-vault"), "encrypt", "--vault-password-file", str(vault_pass),
         str(vault)],
        check=True, capture_output=True,
    )  # fmt: skip
    assert vault.read_text().startswith("$ANSIBLE_VAULT;")

    # The settings are read from the vault: with a wrong vault password nothing runs.
    wrong = tmp_path / "wrong_vault_pass"
    wrong.write_text("not the password\n")
    result = run_playbook(
        "playbooks/preflight.yml", production, ANSIBLE_VAULT_PASSWORD_FILE=str(wrong)
    )
    assert result.returncode != 0
    assert "Decryption failed" in result.stdout + result.stderr, result.stdout + result.stderr

    result = run_playbook(
        "playbooks/preflight.yml", production, ANSIBLE_VAULT_PASSWORD_FILE=str(vault_pass)
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    recap = {line.split()[0]: line for line in out.splitlines() if " : ok=" in line}
    assert set(recap) == {SYSTEMD_HOST, "zp-test-worker"}, out
    assert all("changed=0" in line and "failed=0" in line for line in recap.values()), recap
    assert "password-from-the-vault" not in out
    # It ran as deploy over SSH, made root by sudo.
    journal = docker("exec", SYSTEMD_HOST, "journalctl", "-u", "ssh", "--no-pager").stdout
    assert "Accepted publickey for deploy" in journal, journal
    assert docker("exec", SYSTEMD_HOST, "test", "-e", "/opt/prefect", check=False).returncode != 0
