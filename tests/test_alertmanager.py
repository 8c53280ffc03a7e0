"""Alertmanager's configuration, rendered by Ansible from the role's template for a fleet's
receivers and routes, is valid (amtool check-config, Debian's amtool fetched by
scripts/promtool.sh) and sends each alert the rules can fire to the receiver its routes name
(amtool config routes test)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_alert_rules import render as render_rules

from conftest import ROOT, VENV_BIN

ROLE = ROOT / "roles" / "prefect_monitoring"
# A fleet of the docs' kind: a chat channel for everything critical, the linux team's webhook
# for the warnings of its pool, mail for the rest.
FLEET = {
    "prefect_monitoring_alert_receivers": [
        {"name": "ops-chat", "kind": "chat", "url": "https://chat.example/hooks/x1",
         "channel": "#ops"},
        {"name": "linux-team", "kind": "webhook", "url": "https://hooks.example/linux"},
        {"name": "ops-mail", "kind": "email", "to": ["ops@example.com", "oncall@example.com"]},
    ],
    "prefect_monitoring_alert_routes": [
        {"receiver": "ops-chat", "severity": "critical"},
        {"receiver": "linux-team", "severity": ["warning"], "pools": ["linux"]},
    ],
    "prefect_monitoring_alert_default_receiver": "ops-mail",
    "prefect_monitoring_alert_smtp": {
        "smarthost": "mail.example:587", "from": "prefect@example.com",
        "username": "prefect", "password": "s3cret-smtp",
    },
}  # fmt: skip


@pytest.fixture(scope="module")
def amtool() -> str:
    done = subprocess.run(
        [ROOT / "scripts" / "promtool.sh", "amtool"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def render(tmp_path: Path, name: str, values: dict) -> Path:
    """The role's alertmanager.yml.j2 rendered by Ansible's template module (so with its
    filters) with the role's defaults and `values`."""
    out = tmp_path / f"{name}.yml"
    playbook = tmp_path / f"{name}-render.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "hosts": "localhost",
                    "gather_facts": False,
                    "vars_files": [str(ROLE / "defaults" / "main.yml")],
                    "tasks": [
                        {
                            "ansible.builtin.template": {
                                "src": str(ROLE / "templates" / "alertmanager.yml.j2"),
                                "dest": str(out),
                                "mode": "0600",
                            },
                        }
                    ],
                }
            ]
        )  # fmt: skip
    )
    done = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook),
         "-e", json.dumps(values | {"prefect_credentials_dir": str(tmp_path),
                                    "ansible_python_interpreter": sys.executable})],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    return out


def fired() -> list[tuple[str, str]]:
    """(alertname, severity) of every alert rule, from the rules as the role renders them."""
    rules = yaml.safe_load(render_rules())["groups"][0]["rules"]
    return [(r["alert"], r["labels"]["severity"]) for r in rules if "alert" in r]


def routed(amtool: str, config: Path, labels: dict[str, str]) -> str:
    done = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={config}",
         *(f"{k}={v}" for k, v in labels.items())],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_configurations_are_valid(amtool: str, tmp_path: Path) -> None:
    for name, values in {"defaults": {}, "fleet": FLEET}.items():
        config = render(tmp_path, name, values)
        done = subprocess.run(
            [amtool, "check-config", str(config)], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"{name}: {done.stdout}{done.stderr}"
        assert "Found:" in done.stdout and "- 1 inhibit rules" in done.stdout, done.stdout


def test_every_alert_reaches_the_receiver_its_route_names(amtool: str, tmp_path: Path) -> None:
    """Critical alerts go to the chat, the linux pool's warnings to its team's webhook, other
    warnings (another pool, or none, such as PrefectHostDown) to the default mail. Without
    receivers every alert stays in Alertmanager ("nobody")."""
    fleet, bare = render(tmp_path, "fleet", FLEET), render(tmp_path, "defaults", {})
    alerts = fired()
    assert {severity for _, severity in alerts} == {"critical", "warning"}
    checked = 0
    for alertname, severity in alerts:
        for pool in ("linux", "gpu", None):
            labels = {"alertname": alertname, "severity": severity, "host": "worker-1"}
            if pool:
                labels["pool"] = pool
            expected = (
                "ops-chat" if severity == "critical"
                else "linux-team" if pool == "linux"
                else "ops-mail"
            )  # fmt: skip
            assert routed(amtool, fleet, labels) == expected, (labels, expected)
            assert routed(amtool, bare, labels) == "nobody", labels
            checked += 1
    print(f"amtool: {len(alerts)} alerts x 3 pools routed, {checked} cases")


def test_a_down_host_mutes_its_worker_alerts_only(tmp_path: Path) -> None:
    """The inhibition: PrefectHostDown mutes PrefectWorkerOffline and PrefectWorkerMissing of
    the same host (label host), nothing else. And the receivers' secrets are in the file,
    which the role writes 0640 root:prometheus."""
    config = yaml.safe_load(render(tmp_path, "fleet", FLEET).read_text())
    assert config["inhibit_rules"] == [{
        "source_matchers": ['alertname="PrefectHostDown"'],
        "target_matchers": ['alertname=~"PrefectWorkerOffline|PrefectWorkerMissing"'],
        "equal": ["host"],
    }]  # fmt: skip
    assert config["global"]["smtp_auth_password"] == "s3cret-smtp"
    names = [r["name"] for r in config["receivers"]]
    assert names == ["nobody", "ops-chat", "linux-team", "ops-mail"]
    assert config["receivers"][3]["email_configs"][0]["to"] == "ops@example.com, oncall@example.com"


def test_a_route_that_continues_leaves_the_rest_to_the_default_receiver(
    amtool: str, tmp_path: Path
) -> None:
    """Mail for every alert (a route without matchers that continues), the chat for critical
    ones, the webhook (the default) for the rest: the default still gets what no other route
    took, which Alertmanager's root route alone would not."""
    values = {
        "prefect_monitoring_alert_receivers": [
            {"name": "hook", "kind": "webhook", "url": "http://127.0.0.1:9099/webhook"},
            {"name": "chat", "kind": "chat", "url": "http://127.0.0.1:9099/chat"},
            {"name": "mail", "kind": "email", "to": "alerts@example.com"},
        ],
        "prefect_monitoring_alert_routes": [
            {"receiver": "mail", "continue": True},
            {"receiver": "chat", "severity": "critical"},
        ],
        "prefect_monitoring_alert_default_receiver": "hook",
        "prefect_monitoring_alert_smtp": {"smarthost": "127.0.0.1:2525", "from": "p@example.com"},
    }
    config = render(tmp_path, "continued", values)
    for alertname, severity in fired():
        labels = {"alertname": alertname, "severity": severity, "host": "worker-1"}
        expected = "mail,chat" if severity == "critical" else "mail,hook"
        assert routed(amtool, config, labels) == expected, labels
