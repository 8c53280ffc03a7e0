"""The lab as a user drives it: `make lab` from nothing, again (changed=0), scaled to three
workers (nothing else restarted), a flow run timed, and an unreachable host tolerated.
Each test prints the figures it measured.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import yaml

from conftest import run_playbook
from lab.helpers import active_since, docker, failures, figure, lab, run_deployment, site_recap


def test_make_lab_from_nothing_ends_with_a_completed_smoke_run() -> None:
    result, seconds = lab("up")
    out = result.stdout + result.stderr
    assert result.returncode == 0, failures(out)
    assert re.search(r"hello/hello: Completed after [\d.]+ s on zp-lab-worker-\d", out), out[-3000:]
    recap = site_recap(out)
    assert set(recap) == {"zp-lab-control", "zp-lab-worker-1", "zp-lab-worker-2"}
    assert all(unreachable == failed == 0 for _, unreachable, failed in recap.values())
    figure(f"make lab, 2 workers, base image present: {seconds:.0f} s")


def test_second_make_lab_changes_nothing() -> None:
    result, seconds = lab("up")
    out = result.stdout + result.stderr
    assert result.returncode == 0, failures(out)
    recap = site_recap(out)
    assert recap and all(changed == 0 for changed, _, _ in recap.values()), recap
    figure(f"second make lab: {seconds:.0f} s, changed=0 on {len(recap)} hosts")


def test_adding_a_worker_restarts_nothing_else() -> None:
    units = {
        ("zp-lab-control", "prefect-server.service"),
        ("zp-lab-control", "postgresql@15-main.service"),
        ("zp-lab-worker-1", "prefect-worker@linux.service"),
        ("zp-lab-worker-2", "prefect-worker@linux.service"),
    }
    before = {u: active_since(*u) for u in units}
    result, seconds = lab("up", workers=3)
    out = result.stdout + result.stderr
    assert result.returncode == 0, failures(out)
    recap = site_recap(out)
    assert recap["zp-lab-worker-3"][0] > 0
    assert all(recap[h][0] == 0 for h in ("zp-lab-control", "zp-lab-worker-1", "zp-lab-worker-2"))
    assert {u: active_since(*u) for u in units} == before
    # The new host's worker runs (systemctl show prints the key even for a unit never started).
    assert docker("exec", "zp-lab-worker-3", "systemctl", "is-active", "prefect-worker@linux") == (
        "active"
    )
    assert re.fullmatch(
        r"ActiveEnterTimestamp=\S.+",
        active_since("zp-lab-worker-3", "prefect-worker@linux.service"),
    )
    figure(f"make lab LAB_LINUX_WORKERS=3 on a running lab: {seconds:.0f} s")


def test_time_from_run_to_completed() -> None:
    timings = []
    for _ in range(3):
        result = run_deployment("hello/hello", "name=lab-test")
        assert result["state"] == "COMPLETED", result
        assert result["ran_on"].startswith("zp-lab-worker-")
        timings.append(result["seconds"])
    figure(f"hello/hello run to Completed: {', '.join(f'{t:.1f}' for t in timings)} s")


def test_an_unreachable_windows_host_does_not_stop_the_linux_hosts(tmp_path: Path) -> None:
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
    start = time.monotonic()
    result = run_playbook("site.yml", "inventory/lab", "-i", str(ghost))
    out = result.stdout + result.stderr
    recap = site_recap(out)
    assert result.returncode != 0
    assert "win-ghost does not answer over winrm (127.0.0.1:1)" in " ".join(out.split())
    assert recap["win-ghost"][2] == 1
    linux = {h: v for h, v in recap.items() if h != "win-ghost"}
    assert len(linux) == 4 and all(v[1:] == (0, 0) for v in linux.values()), (
        f"{recap}\n{failures(out)}"
    )
    assert all(v[0] == 0 for h, v in linux.items() if h != "zp-lab-control"), recap
    # With a host in windows_workers the windows pool counts as served: its deployment is
    # unpaused, the one change on the control host.
    assert recap["zp-lab-control"][0] == 1, recap
    assert "updated: create-windows-file/create-windows-file" in " ".join(out.split())
    figure(f"site.yml with an unreachable Windows host: {time.monotonic() - start:.0f} s")
