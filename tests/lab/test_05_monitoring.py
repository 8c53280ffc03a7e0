"""Monitoring on the running lab (prefect_monitoring: true in inventory/lab): Prometheus on the
control host scrapes every target as up, its numbers are the fleet's, everything listens on the
private address only, and a stopped worker makes PrefectWorkerOffline go pending."""

from __future__ import annotations

import ipaddress
import time

import httpx

from conftest import LAB, LAB_PROMETHEUS_PORT
from lab.helpers import (
    CONTROL,
    api,
    auth,
    docker,
    figure,
    lab_hosts,
    now,
    online_since,
    vault_secrets,
    wait_for,
)

PROMETHEUS = f"http://127.0.0.1:{LAB_PROMETHEUS_PORT}/api/v1"
UNIT = "prefect-worker@linux.service"


def monitoring_auth() -> tuple[str, str]:
    """Prometheus's and the node exporters' basic auth (the password from the lab's vault)."""
    return "monitoring", vault_secrets()["vault_prefect_monitoring_password"]


def prometheus(path: str, **params: str) -> dict | list:
    response = httpx.get(f"{PROMETHEUS}{path}", params=params, auth=monitoring_auth(), timeout=10)
    response.raise_for_status()
    return response.json()["data"]


def query(expr: str) -> dict[str, float]:
    """An instant query's result: each series' defining label (worker, pool, instance) ->
    value."""
    found = {}
    for series in prometheus("/query", query=expr)["result"]:
        labels = series["metric"]
        key = labels.get("worker") or labels.get("pool") or labels.get("instance", "")
        found[key] = float(series["value"][1])
    return found


def test_prometheus_scrapes_every_target_up_with_the_fleets_numbers() -> None:
    hosts = sorted(lab_hosts("status=running"))
    expected = {
        ("prometheus", CONTROL),
        ("prefect_exporter", CONTROL),
        ("prefect_api", CONTROL),
    } | {("node", host) for host in hosts}

    def targets_up() -> set | None:
        active = prometheus("/targets", state="active")["activeTargets"]
        found = {(t["labels"]["job"], t["labels"]["instance"]): t["health"] for t in active}
        return set(found) == expected and all(h == "up" for h in found.values()) and found

    start = time.monotonic()
    wait_for("every target scraped up", targets_up, timeout=90, interval=2)
    figure(f"Prometheus: {len(expected)} targets up ({time.monotonic() - start:.0f} s to see all)")

    # The exporter's numbers are the API's.
    workers = {
        w["name"]: w["status"] == "ONLINE"
        for w in api("POST", "/work_pools/linux/workers/filter", {})
    }
    assert query("prefect_api_up") == {CONTROL: 1.0}
    # Up to a scrape interval behind the API (a worker record deleted just before, say).
    wait_for(
        "the exporter's workers as the API lists them",
        lambda: (
            query('prefect_worker_online{pool="linux"}')
            == {name: float(online) for name, online in workers.items()}
        ),
        timeout=60,
        interval=3,
    )
    assert query('prefect_work_pool_online_workers{pool="linux"}') == {
        "linux": float(sum(workers.values()))
    }
    finished = query('sum by (pool) (prefect_flow_runs_finished{state="COMPLETED"})')
    assert finished.get("linux", 0) >= 1, finished
    disk = query("prefect_database_filesystem_size_bytes")
    assert disk[CONTROL] > 0
    # The API server's own metrics (/api/metrics, behind its basic auth).
    assert query('python_info{job="prefect_api"}') == {CONTROL: 1.0}

    # The rules Prometheus loaded are the role's 12 alerts and one worker series per lab worker
    # (zoe_prefect_worker_host), healthy, and no alert is pending or firing on the healthy
    # fleet (the server's windows pool, which no lab host serves, included).
    rules = [r for g in prometheus("/rules")["groups"] for r in g["rules"]]
    assert len([r for r in rules if r["type"] == "alerting"]) == 12
    recorded = {r["labels"]["host"] for r in rules if r["type"] == "recording"}
    assert recorded == {h for h in lab_hosts() if h != CONTROL}, recorded
    assert all(r["health"] == "ok" and r["lastEvaluation"] != "0001-01-01T00:00:00Z" for r in rules)
    assert prometheus("/alerts")["alerts"] == []


def test_monitoring_listens_on_the_private_address_only() -> None:
    """Prometheus and the node exporters on each host's private address, the fleet's exporter
    on loopback only."""
    for host in lab_hosts("status=running"):
        listening = docker("exec", host, "ss", "-Htln")
        ports = {"9100"} | ({"9090", "9093", "9423"} if host == CONTROL else set())
        for port in ports:
            lines = [line for line in listening.splitlines() if f":{port} " in line]
            assert lines, f"{host}: nothing listens on {port}\n{listening}"
            for line in lines:
                address = ipaddress.ip_address(line.split()[3].rsplit(":", 1)[0].strip("[]"))
                if port == "9423":
                    assert address.is_loopback, (host, line)
                    continue
                if port == "9093" and address.is_loopback:
                    continue  # Alertmanager: loopback too, for Prometheus and the drains
                # The host's private address: not every interface, not loopback, not public.
                assert address.is_private and not address.is_loopback, (host, line)
                assert not address.is_unspecified, (host, line)


# Run on a lab host with its own python3: the status of a GET, with basic auth when given.
PROBE = """
import base64, sys, urllib.error, urllib.request
request = urllib.request.Request(sys.argv[1])
if len(sys.argv) > 2:
    token = base64.b64encode(f"{sys.argv[2]}:{sys.argv[3]}".encode()).decode()
    request.add_header("Authorization", "Basic " + token)
try:
    print(urllib.request.urlopen(request, timeout=5).status)
except urllib.error.HTTPError as error:
    print(error.code)
except OSError:
    print("refused")
"""


def test_monitoring_answers_nobody_without_the_password_and_workers_not_at_all() -> None:
    """Without credentials Prometheus and the node exporters answer 401; a worker host (where
    flow code runs) cannot connect to them at all, with or without them; Prometheus holds no
    credential of the API, whose metrics it reads through the exporter."""
    anonymous = httpx.get(f"{PROMETHEUS}/status/flags", timeout=10)
    assert anonymous.status_code == 401, anonymous.status_code
    assert prometheus("/status/flags")["web.config.file"] == "/etc/prometheus/web.yml"
    user, password = monitoring_auth()
    control_ip = docker("exec", CONTROL, "hostname", "-I").split()[0]
    worker = f"{LAB}-worker-1"
    worker_ip = docker("exec", worker, "hostname", "-I").split()[0]

    def status(host: str, url: str, *credentials: str) -> str:
        """The HTTP status a request from `host` gets; "refused" when the connection is
        refused or reset."""
        out = docker("exec", host, "python3", "-c", PROBE, url, *credentials, check=False)
        return out.strip()

    # From the control host (Prometheus's own): the password opens, nothing else does.
    node = f"http://{worker_ip}:9100/metrics"
    assert status(CONTROL, node) == "401"
    assert status(CONTROL, node, user, "wrong-password") == "401"
    assert status(CONTROL, node, user, password) == "200"
    # From a worker: the control host's monitoring ports are closed to it, the right password
    # or not, and the exporter listens on the control host's loopback only.
    for port in ("9090", "9093", "9100", "9423"):
        found = status(worker, f"http://{control_ip}:{port}/metrics", user, password)
        assert found == "refused", (port, found)
    assert status(f"{LAB}-worker-2", node, user, password) == "refused"
    # No file under /etc/prometheus holds the API's auth string, and the exporter runs as an
    # account of its own (not prefect, which can read the server's settings).
    api_password = auth()[1]
    held = docker(
        "exec", CONTROL, "grep", "-rlF", "--", api_password, "/etc/prometheus", check=False
    )
    assert held == "", held
    unit = "prefect-exporter.service"
    shown = docker("exec", CONTROL, "systemctl", "show", unit, "-p", "User")
    assert "User=prefect-exporter" in shown, shown


def test_a_stopped_worker_makes_its_alert_go_pending() -> None:
    host = f"{LAB}-worker-1"
    stopped = time.monotonic()
    docker("exec", host, "systemctl", "stop", UNIT)
    try:

        def alert_state() -> str | None:
            for alert in prometheus("/alerts")["alerts"]:
                labels = alert["labels"]
                if labels["alertname"] == "PrefectWorkerOffline" and labels["worker"] == host:
                    return alert["state"]
            return None

        state = wait_for("PrefectWorkerOffline for the stopped worker", alert_state, timeout=300)
        figure(
            f"worker stopped -> PrefectWorkerOffline {state}: {time.monotonic() - stopped:.0f} s"
        )
        others = {
            a["labels"].get("worker")
            for a in prometheus("/alerts")["alerts"]
            if a["labels"]["alertname"] == "PrefectWorkerOffline"
        }
        assert others == {host}, others
    finally:
        since = now()
        docker("exec", host, "systemctl", "start", UNIT)
        wait_for(
            "the worker ONLINE again", lambda: host in online_since("linux", since), timeout=120
        )
    wait_for(
        "PrefectWorkerOffline gone once the worker is back",
        lambda: (
            not any(
                a["labels"]["alertname"] == "PrefectWorkerOffline"
                for a in prometheus("/alerts")["alerts"]
            )
        ),
        timeout=120,
        interval=2,
    )
