"""Alerts reach a person, end to end on the running lab (three workers after test_03, before
test_04 decommissions one): its Alertmanager delivers to the lab's own webhook, chat and SMTP
sinks on the control host (lab/alert_sinks.yml; the receivers and the short windows are in
inventory/lab), drains silence a host, and a host that is down mutes its worker alerts."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from conftest import LAB, LAB_INVENTORY, run_playbook
from lab.helpers import (
    CONTROL,
    api,
    docker,
    failures,
    figure,
    now,
    online_since,
    vault_secrets,
    wait_for,
)

WORKERS = [f"{LAB}-worker-1", f"{LAB}-worker-2", f"{LAB}-worker-3"]
UNIT = "prefect-worker@linux.service"
SINKS = "/var/lib/lab-alert-sink"

# Run on the control host: Alertmanager's API on its loopback, the password on stdin.
AM = """
import base64, sys, urllib.request
token = base64.b64encode(("monitoring:" + sys.stdin.read().strip()).encode()).decode()
request = urllib.request.Request("http://127.0.0.1:9093/api/v2" + sys.argv[1])
request.add_header("Authorization", "Basic " + token)
print(urllib.request.urlopen(request, timeout=5).read().decode())
"""


def alertmanager(path: str) -> list[dict]:
    password = vault_secrets()["vault_prefect_monitoring_password"]
    out = docker("exec", "-i", CONTROL, "python3", "-c", AM, path, input=password)
    return json.loads(out)


def received(kind: str, since: float) -> list[dict]:
    """What the sink `kind` (webhook, chat, mail) received after `since` (a time.time())."""
    text = docker("exec", CONTROL, "sh", "-c", f"cat {SINKS}/{kind}.jsonl 2>/dev/null; true")
    messages = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [m for m in messages if m["received"] >= since]


def notified(since: float, status: str = "firing") -> list[dict]:
    """The alerts of every webhook notification after `since` of that status."""
    return [
        alert
        for message in received("webhook", since)
        if message["body"]["status"] == status
        for alert in message["body"]["alerts"]
        if alert["status"] == status
    ]


def test_alerts_reach_the_receivers_drains_are_silent_and_a_down_host_mutes_its_workers() -> None:
    """At once: worker-3 drained (with a reason), worker-1's worker stopped, worker-2's container
    killed. The webhook gets PrefectWorkerOffline for worker-1 and one PrefectHostDown for
    worker-2; worker-2's worker alerts are muted, worker-3's silenced, and neither reaches
    any receiver; mail gets the alerts too, the chat the critical ones. Once all are back, the
    webhook gets worker-1's resolved notification and the drain's silence is expired."""
    start = time.time()
    w1, w2, w3 = WORKERS
    try:
        drain = run_playbook(
            "playbooks/drain.yml", str(LAB_INVENTORY), "-l", w3, "-e", "drain_reason='alert test'"
        )
        assert drain.returncode == 0, failures(drain.stdout)
        silences = [
            s
            for s in alertmanager("/silences")
            if s["status"]["state"] == "active" and w3 in s["comment"]
        ]
        assert len(silences) == 1, silences
        assert silences[0]["comment"] == f"zoe-prefect drain of {w3}: alert test"
        assert silences[0]["matchers"][0] | {"isEqual": True} == {
            "name": "host", "value": w3, "isRegex": False, "isEqual": True,
        }  # fmt: skip
        # Its worker records are gone: the API lists no worker of the drained host.
        workers = api("POST", "/work_pools/linux/workers/filter", {})
        assert w3 not in {w["name"] for w in workers}, workers

        killed = time.time()
        docker("exec", w1, "systemctl", "stop", UNIT)
        docker("kill", w2)

        def firing(alertname: str, host: str) -> float | None:
            for message in received("webhook", killed):
                for alert in message["body"]["alerts"]:
                    labels = alert["labels"]
                    if (alert["status"], labels["alertname"], labels.get("host")) == (
                        "firing", alertname, host,
                    ):  # fmt: skip
                        return message["received"] - killed
            return None

        offline = wait_for("PrefectWorkerOffline of worker-1 delivered",
                           lambda: firing("PrefectWorkerOffline", w1), timeout=420)  # fmt: skip
        down = wait_for("PrefectHostDown of worker-2 delivered",
                        lambda: firing("PrefectHostDown", w2), timeout=300)  # fmt: skip

        def muted(alertname: str, host: str, by: str) -> bool:
            return any(
                a["labels"]["alertname"] == alertname
                and a["labels"].get("host") == host
                and a["status"]["state"] == "suppressed"
                and a["status"][by]
                for a in alertmanager("/alerts?silenced=true&inhibited=true")
            )

        # worker-2's worker turns OFFLINE in the API as worker-1's did; for a minute after that
        # (twice the lab's 30 s window) no alert of worker-2 but PrefectHostDown is active
        # unmuted: the rule holds PrefectWorkerOffline while the host is down, and Alertmanager
        # inhibits the host's worker alerts under PrefectHostDown.
        wait_for("worker-2's worker OFFLINE in the API", lambda: [
            w for w in api("POST", "/work_pools/linux/workers/filter", {})
            if w["name"] == w2 and w["status"] == "OFFLINE"
        ], timeout=300)  # fmt: skip
        until = time.monotonic() + 60
        while time.monotonic() < until:
            loud = [
                a["labels"]["alertname"]
                for a in alertmanager("/alerts?silenced=true&inhibited=true")
                if a["labels"].get("host") == w2 and a["status"]["state"] == "active"
            ]
            assert loud in ([], ["PrefectHostDown"]), loud
            time.sleep(5)
        wait_for("worker-3's PrefectWorkerMissing silenced by its drain",
                 lambda: muted("PrefectWorkerMissing", w3, "silencedBy"), timeout=300)  # fmt: skip
        figure(
            f"worker stopped -> PrefectWorkerOffline at the webhook: {offline:.0f} s; host killed"
            f" -> PrefectHostDown: {down:.0f} s (lab windows: 30 s, group_wait 5 s)"
        )
        # Mail and chat: every alert by mail, the critical ones (the linux pool has no online
        # worker left) in the chat channel.
        mails = received("mail", killed)
        assert any("PrefectWorkerOffline" in m["data"] for m in mails), mails[-3:]
        assert all(m["to"] == ["alerts@lab.invalid"] for m in mails), mails[-3:]

        def critical() -> list[dict]:
            chats = received("chat", killed)
            return [m for m in chats if "PrefectWorkPoolNoOnlineWorkers" in json.dumps(m["body"])]

        chats = wait_for("the pool without workers in the chat", critical, timeout=180)
        assert all(m["body"]["channel"] == "#lab" for m in received("chat", killed)), chats
    finally:
        back = now()
        docker("exec", w1, "systemctl", "start", UNIT, check=False)
        docker("start", w2, check=False)
        resume = run_playbook("playbooks/resume.yml", str(LAB_INVENTORY), "-l", w3)
        wait_for("every worker ONLINE again", lambda: set(WORKERS) <= online_since("linux", back),
                 timeout=240)  # fmt: skip
    assert resume.returncode == 0, failures(resume.stdout)
    assert not [
        s
        for s in alertmanager("/silences")
        if s["status"]["state"] == "active" and w3 in s["comment"]
    ]
    wait_for("worker-1's PrefectWorkerOffline resolved at the webhook",
             lambda: [a for a in notified(killed, "resolved")
                      if a["labels"]["alertname"] == "PrefectWorkerOffline"
                      and a["labels"].get("host") == w1], timeout=240)  # fmt: skip

    # Nothing about the drained host reached a receiver, nor a worker alert of the down host;
    # the down host was notified once.
    # Alerts that began during this test only (a lab reused from an earlier run may still
    # resolve older ones). Alertmanager's times are RFC 3339 in UTC.
    began = datetime.fromtimestamp(start, UTC)

    def ours(alert: dict) -> bool:
        return datetime.fromisoformat(alert["startsAt"].replace("Z", "+00:00")) >= began

    everything = [a for m in received("webhook", start) for a in m["body"]["alerts"] if ours(a)]
    assert not [a for a in everything if a["labels"].get("host") == w3], "drained host notified"
    assert not [
        a for a in everything
        if a["labels"].get("host") == w2 and a["labels"]["alertname"] != "PrefectHostDown"
    ], "a worker alert of the down host was notified"  # fmt: skip
    downs = [
        m for m in received("webhook", start)
        if m["body"]["status"] == "firing"
        and any(a["labels"]["alertname"] == "PrefectHostDown" and a["labels"].get("host") == w2
                for a in m["body"]["alerts"])
    ]  # fmt: skip
    assert len(downs) == 1, downs
    mails = [m for m in received("mail", start) if f"{w3} " in m["data"] and "FIRING" in m["data"]]
    assert not mails, mails[-1:]
