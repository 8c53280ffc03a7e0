"""Day 2 on the running lab (three workers after test_03): a worker host drained under a
long flow run and resumed, a worker host decommissioned, and workers the inventory does not
have named by the drift report (the end of site.yml) and removed."""

from __future__ import annotations

import subprocess
import time
from datetime import datetime

from conftest import LAB, LAB_INVENTORY, ROOT, VENV_BIN, ansible_env, run_playbook
from lab.helpers import CONTROL, api, docker, failures, figure, now, online_since, wait_for

FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
UNIT = "prefect-worker@linux.service"


def start_run(command: str) -> str:
    deployment = api("GET", "/deployments/name/shell-command/shell-command")
    body = {"parameters": {"command": command}}
    return api("POST", f"/deployments/{deployment['id']}/create_flow_run", body)["id"]


def ended(run_id: str) -> dict | None:
    run = api("GET", f"/flow_runs/{run_id}")
    return run if run["state_type"] in FINAL else None


def pool_workers() -> set[str]:
    """Every worker name any pool of the server lists."""
    pools = [p["name"] for p in api("POST", "/work_pools/filter", {})]
    return {w["name"] for p in pools for w in api("POST", f"/work_pools/{p}/workers/filter", {})}


def main_pid(container: str) -> str:
    return docker("exec", container, "systemctl", "show", UNIT, "-p", "MainPID", "--value")


def test_drain_waits_for_the_hosts_run_and_it_takes_no_new_one() -> None:
    """Drain under a 30 s run, reading one run per page: it returns once that run Completed, a
    run the host had claimed but not started goes to another worker, other workers' runs in
    flight are left alone, and runs started meanwhile go elsewhere."""
    run_id = start_run("echo holding; sleep 30; echo done")
    running = wait_for(
        "the long run Running on a worker",
        lambda: (
            (r := api("GET", f"/flow_runs/{run_id}"))["state_type"] == "RUNNING"
            and r["labels"].get("prefect.worker.name")
            and r
        ),
        timeout=120,
    )
    host = running["labels"]["prefect.worker.name"]
    # A run the host's worker had claimed (Pending) but not started when the drain killed it,
    # as a scheduled run can be: no process carries it, so the drain puts it back to Scheduled
    # and another worker runs it, instead of waiting for it until the timeout.
    hello = api("GET", "/deployments/name/hello/hello")
    claimed = {"state": {"type": "PENDING", "name": "Pending"}}
    claimed["labels"] = {"prefect.worker.name": host}
    orphan = api("POST", f"/deployments/{hello['id']}/create_flow_run", claimed)["id"]
    # Runs in flight that are another worker's (claimed by a worker name no host has): with a
    # page of one run, the drain reads the host's runs only by paging past them, and must
    # leave them as they are.
    decoy = {"state": {"type": "PENDING", "name": "Pending"}}
    decoy["labels"] = {"prefect.worker.name": "elsewhere"}
    decoys = [
        api("POST", f"/deployments/{hello['id']}/create_flow_run", decoy)["id"] for _ in range(3)
    ]
    start = time.monotonic()
    drain = subprocess.Popen(
        [str(VENV_BIN / "ansible-playbook"), "-i", str(LAB_INVENTORY), "playbooks/drain.yml"]
        + ["-l", host, "-e", "prefect_worker_drain_page_size=1"],
        cwd=ROOT,
        env=ansible_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # Once its worker is stopped, runs started go to the other hosts.
    wait_for(
        f"{host}'s worker stopped by the drain",
        lambda: docker("exec", host, "systemctl", "is-active", UNIT, check=False) == "inactive",
        timeout=120,
    )
    others = [start_run("hostname") for _ in range(4)]
    out, _ = drain.communicate(timeout=900)
    returned_at = now()
    seconds = time.monotonic() - start
    try:
        left = {api("GET", f"/flow_runs/{d}")["state_type"] for d in decoys}
    finally:
        for d in decoys:
            api(
                "POST", f"/flow_runs/{d}/set_state", {"state": {"type": "CANCELLED"}, "force": True}
            )
    assert drain.returncode == 0, failures(out)
    assert f"{host} is drained" in " ".join(out.split()), out[-3000:]
    assert left == {"PENDING"}, left

    held = api("GET", f"/flow_runs/{run_id}")
    assert held["state_type"] == "COMPLETED", held["state"]
    # The drain returned only after the run it waited for had ended.
    assert datetime.fromisoformat(held["end_time"]) <= returned_at
    figure(
        f"drain of {host}: returned {seconds:.0f} s after it started, under a run of "
        f"{held['total_run_time']:.0f} s that went on to Completed"
    )
    released = wait_for("the claimed run put back and run elsewhere", lambda: ended(orphan), 300)
    assert released["state_type"] == "COMPLETED", released["state"]
    assert released["labels"]["prefect.worker.name"] != host
    done = [wait_for("a run started meanwhile ended", lambda r=r: ended(r), 300) for r in others]
    assert all(d["state_type"] == "COMPLETED" for d in done), [d["state"] for d in done]
    assert host not in {d["labels"]["prefect.worker.name"] for d in done}
    # Drained it stays: the unit is off and disabled, so a reboot does not bring it back.
    assert docker("exec", host, "systemctl", "is-enabled", UNIT, check=False) == "disabled"

    resumed_at = now()
    start = time.monotonic()
    resume = run_playbook("playbooks/resume.yml", str(LAB_INVENTORY), "-l", host)
    assert resume.returncode == 0, failures(resume.stdout + resume.stderr)
    assert host in online_since("linux", resumed_at)
    assert docker("exec", host, "systemctl", "is-enabled", UNIT) == "enabled"
    figure(f"resume of {host}: ONLINE again after {time.monotonic() - start:.0f} s")


def test_decommission_removes_a_worker_host_and_leaves_the_others_alone() -> None:
    host = f"{LAB}-worker-3"
    others = [f"{LAB}-worker-1", f"{LAB}-worker-2"]
    pids = {w: main_pid(w) for w in others}
    assert host in pool_workers()
    start = time.monotonic()
    result = run_playbook("playbooks/decommission.yml", str(LAB_INVENTORY), "-l", host)
    assert result.returncode == 0, failures(result.stdout + result.stderr)
    figure(f"decommission of {host}: {time.monotonic() - start:.0f} s")

    # Gone from every pool of the server, and nothing of it runs or is installed on the host.
    assert host not in pool_workers()
    units = docker("exec", host, "systemctl", "list-units", "prefect-worker@*", "--all", "--plain")
    assert "prefect-worker@" not in units, units
    for path in ["/etc/systemd/system/prefect-worker@.service", "/opt/prefect", "/etc/prefect"]:
        gone = docker("exec", host, "sh", "-c", f"test -e {path} || echo gone", check=False)
        assert gone == "gone", path
    # Its logs are kept (in the journal).
    assert docker("exec", host, "journalctl", "-u", UNIT, "-q", "--no-pager", "-n", "1")
    # The other workers were not touched: the same processes, still serving.
    assert {w: main_pid(w) for w in others} == pids
    since = now()
    wait_for("the other workers ONLINE", lambda: set(others) <= online_since("linux", since), 60)

    # Monitoring: its node exporter is gone, and Prometheus no longer scrapes it.
    assert docker("exec", host, "dpkg-query", "-W", "prometheus-node-exporter", check=False) == ""
    targets = docker("exec", CONTROL, "cat", "/etc/prometheus/zoe-prefect/targets/node.yml")
    assert host not in targets and all(w in targets for w in others), targets

    # The host leaves the inventory (the lab's inventory is its containers).
    docker("rm", "-f", host)


def test_drift_names_workers_the_inventory_does_not_have() -> None:
    # A worker the server knows that no host of the inventory runs (a host taken away without
    # decommission): its heartbeat is what registers a worker.
    ghost = "zp-ghost-worker"
    api("POST", "/work_pools/linux/workers/heartbeat", {"name": ghost})
    report = run_playbook("playbooks/drift.yml", str(LAB_INVENTORY))
    out = " ".join((report.stdout + report.stderr).split())
    assert report.returncode == 0, out
    assert "WARNING: the server knows 1 worker(s) that no host of the inventory runs" in out, out
    assert f"{ghost} in pool linux (ONLINE" in out, out
    assert f"-e prefect_decommission_records={ghost}" in out, out
    # site.yml ends with this report.
    assert (ROOT / "playbooks" / "site.yml").read_text().rstrip().endswith("drift.yml")

    removed = run_playbook(
        "playbooks/decommission.yml",
        str(LAB_INVENTORY),
        "-e",
        f"prefect_decommission_records={ghost}",
    )
    assert removed.returncode == 0, failures(removed.stdout + removed.stderr)
    assert ghost not in pool_workers()
    again = run_playbook("playbooks/drift.yml", str(LAB_INVENTORY))
    assert again.returncode == 0 and "WARNING: the server knows" not in again.stdout
