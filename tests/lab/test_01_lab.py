"""The lab as a user drives it: `make lab` from nothing, again with a third worker (changed=0
and nothing restarted on the hosts it had), flow runs timed, and the whole-fleet checks of
molecule/default run against it. Each test prints the figures it measured.
"""

from __future__ import annotations

import re
import time

from conftest import LAB, LAB_INVENTORY, run_playbook
from lab.helpers import (
    CONTROL,
    active_since,
    changed_tasks,
    docker,
    failures,
    figure,
    lab,
    site_recap,
)


def test_make_lab_from_nothing_ends_with_a_completed_smoke_run() -> None:
    result, seconds = lab("up")
    out = result.stdout + result.stderr
    assert result.returncode == 0, failures(out)
    assert re.search(rf"hello/hello: Completed after [\d.]+ s on {LAB}-worker-\d", out), out[-3000:]
    recap = site_recap(out)
    assert set(recap) == {CONTROL, f"{LAB}-worker-1", f"{LAB}-worker-2"}
    assert all(unreachable == failed == 0 for _, unreachable, failed in recap.values())
    figure(f"make lab, 2 workers, base image present: {seconds:.0f} s")


def test_make_lab_again_with_a_third_worker_changes_and_restarts_nothing_else() -> None:
    """The second `make lab`, with one more worker: the hosts it had already converged report
    changed=0 (the re-run's idempotence) and none of their services restarted. The changes on
    the control host are Prometheus's file of node-exporter targets, which gains the new host
    (Prometheus rereads it by itself), and the inventory's workers as recording rules, which
    gain its worker (Prometheus is reloaded for them, not restarted)."""
    units = {
        (CONTROL, "prefect-server.service"),
        (CONTROL, "postgresql@15-main.service"),
        (CONTROL, "prometheus.service"),
        (CONTROL, "prefect-exporter.service"),
        (CONTROL, "prometheus-alertmanager.service"),
        (f"{LAB}-worker-1", "prefect-worker@linux.service"),
        (f"{LAB}-worker-2", "prefect-worker@linux.service"),
    }
    before = {u: active_since(*u) for u in units}
    result, seconds = lab("up", workers=3)
    out = result.stdout + result.stderr
    assert result.returncode == 0, failures(out)
    recap = site_recap(out)
    assert recap[f"{LAB}-worker-3"][0] > 0
    converged = (CONTROL, f"{LAB}-worker-1", f"{LAB}-worker-2")
    assert all(recap[h] == (0, 0, 0) for h in converged[1:]), recap
    assert recap[CONTROL] == (3, 0, 0), recap
    assert changed_tasks(out.rsplit("PLAY [Check the inventory", 1)[-1], CONTROL) == [
        "zoe.prefect.prefect_monitoring : Write the scrape targets from the inventory",
        "zoe.prefect.prefect_monitoring : Write the inventory's workers as recording rules",
        "zoe.prefect.prefect_monitoring : Make Prometheus read them",
    ]
    assert f"{LAB}-worker-3:9100" in docker(
        "exec", CONTROL, "cat", "/etc/prometheus/zoe-prefect/targets/node.yml"
    )
    assert {u: active_since(*u) for u in units} == before
    # Each role's checks ran once in the run, in the preflight play; the roles' own plays
    # skipped them (a task each). One check of every role stands for its file.
    for check in (
        "zoe.prefect.prefect : Check the ports",
        "zoe.prefect.postgresql : Check the listen addresses and networks",
        "zoe.prefect.prefect_server : Check the zombie detection timeout",
        "zoe.prefect.prefect_deploy : Check the manifest path",
        "zoe.prefect.prefect_monitoring : Check the monitoring settings",
        "zoe.prefect.prefect_worker : Check the drain timeout",
    ):
        ran = re.findall(rf"^TASK \[{re.escape(check)}\]", out, re.M)
        assert len(ran) == 1, f"{check}: {len(ran)} times"
    # The new host's worker runs (systemctl show prints the key even for a unit never started).
    assert docker("exec", f"{LAB}-worker-3", "systemctl", "is-active", "prefect-worker@linux") == (
        "active"
    )
    assert re.fullmatch(
        r"ActiveEnterTimestamp=\S.+",
        active_since(f"{LAB}-worker-3", "prefect-worker@linux.service"),
    )
    figure(
        f"second make lab, LAB_LINUX_WORKERS=3: {seconds:.0f} s, changed=0 on the "
        f"{len(converged)} hosts it had converged but the targets file"
    )


def test_the_fleet_passes_the_whole_fleet_verify() -> None:
    """molecule/default's checks, run against the lab: every worker ONLINE, each deployment's
    Git source, pool and schedule, the shell flow's logged lines and failure, the parallel
    flow's children spread over the workers, and flows-repository code that cannot pry."""
    start = time.monotonic()
    result = run_playbook("molecule/default/verify.yml", str(LAB_INVENTORY))
    out = result.stdout + result.stderr
    assert result.returncode == 0, failures(out)
    recap = site_recap(out)
    assert recap[CONTROL][1:] == (0, 0), recap
    figure(f"molecule/default/verify.yml against the lab: {time.monotonic() - start:.0f} s")
