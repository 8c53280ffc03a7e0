"""`make bench`: how fast the lab converges, installs and dispatches, each figure beside a floor
measured in the same run (these machines are noisy, so ratios travel better than seconds).

It drives the real lab (scripts/lab.sh; ZP_LAB_NAME, LAB_INVENTORY and LAB_UI_PORT as there),
from `make lab-down`, and prints a table; the JSON goes to docs/data/bench.json, from which
`make docs` renders docs/performance.md with its sizing table. It is a benchmark, not a test:
it asserts nothing.

    make bench                        # BENCH_SCALE="8 16" converges fresh fleets of that size
    BENCH_SCALE="" make bench         # without the scaling curve
"""

from __future__ import annotations

import json
import math
import os
import re
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
LAB = os.environ.get("ZP_LAB_NAME") or "zp-lab"
INVENTORY = Path(
    os.environ.get("LAB_INVENTORY")
    or (ROOT / "inventory" / "lab" if LAB == "zp-lab" else ROOT / ".cache" / "labs" / LAB)
)
CONTROL, WORKER_1, WORKER_2 = f"{LAB}-control", f"{LAB}-worker-1", f"{LAB}-worker-2"
CLIENT_ENV = INVENTORY / ".credentials" / "client.env"
API = f"https://127.0.0.1:{os.environ.get('LAB_UI_PORT') or 4200}/api"
OUT = ROOT / "docs" / "data" / "bench.json"
# Poll intervals whose cost is measured (Prefect's default is 10 s, the role's 2 s).
POLL_INTERVALS = [1, 2, 5, 10]
POLL_WORKERS = 20
PACKAGES = ROOT / "roles" / "prefect" / "files" / "packages.py"
RECAP = re.compile(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", re.M)
rows: list[dict] = []
T = TypeVar("T")
# Flow runs at a time per worker in the lab (prefect_worker_limit).
WORKER_LIMIT = yaml.safe_load((ROOT / "inventory/lab/group_vars/all/main.yml").read_text())[
    "prefect_worker_limit"
]


def sh(*cmd: str, env: dict | None = None, check: bool = True) -> tuple[str, float]:
    """Run a command; its output and how long it took."""
    start = time.monotonic()
    done = subprocess.run(
        cmd, cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True
    )
    if check and done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout + done.stderr, time.monotonic() - start


def row(figure: str, value: float, unit: str, floor: float | None, floor_is: str) -> None:
    ratio = value / floor if floor else None
    rows.append(
        {
            "figure": figure,
            "value": round(value, 2),
            "unit": unit,
            "floor": floor and round(floor, 2),
            "floor_is": floor_is,
            "ratio": ratio and round(ratio, 2),
        }
    )
    shown = f"{ratio:.2f}x" if ratio else "-"
    print(
        f"  {figure:<44} {value:>8.1f} {unit:<3} floor {floor or 0:>7.1f}  {shown:>7}  ({floor_is})"
    )


def lab(workers: int, *args: str) -> tuple[str, float]:
    env = {"LAB_LINUX_WORKERS": str(workers), "LAB_SMOKE": "0"}
    return sh("scripts/lab.sh", *(args or ("up",)), env=env)


def converge_seconds(out: str) -> float:
    return float(re.search(r"converged in (\d+) s", out).group(1))


def changed(out: str) -> int:
    return sum(int(c) for _, c in RECAP.findall(out.rsplit("PLAY RECAP", 1)[-1]))


def task_seconds(out: str, task: str) -> float:
    """The longest time profile_tasks reported for a task (the slowest host's)."""
    found = re.findall(rf"{re.escape(task)} -+ ([\d.]+)s", out)
    return max(map(float, found)) if found else 0.0


def client_env() -> dict[str, str]:
    lines = CLIENT_ENV.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


AUTH: list[tuple[str, str]] = []


def auth() -> tuple[str, str]:
    """client.env's auth string, or (the lab's password is a vaulted one, so client.env has
    none) the password from the lab's vault."""
    if not AUTH:
        string = client_env().get("PREFECT_API_AUTH_STRING")
        if string is None:
            shown = subprocess.run(
                [str(ROOT / ".venv" / "bin" / "ansible-vault"), "view", "--vault-password-file",
                 str(INVENTORY / ".credentials" / "vault_pass"),
                 str(INVENTORY / "group_vars" / "all" / "vault.yml")],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            string = "admin:" + yaml.safe_load(shown)["vault_prefect_api_auth_password"]
        user, _, password = string.partition(":")
        AUTH.append((user, password))
    return AUTH[0]


def api(method: str, path: str, body: object = None) -> object:
    # The lab's API is HTTPS, its certificate from the lab's CA (client.env names it).
    verify = ssl.create_default_context(cafile=client_env()["PREFECT_API_SSL_CERT_FILE"])
    response = httpx.request(method, API + path, json=body, auth=auth(), timeout=30, verify=verify)
    response.raise_for_status()
    return response.json() if response.content else None


def start_runs(count: int) -> list[str]:
    deployment = api("GET", "/deployments/name/hello/hello")
    path = f"/deployments/{deployment['id']}/create_flow_run"
    return [api("POST", path, {"parameters": {"name": "bench"}})["id"] for _ in range(count)]


def wait_final(ids: list[str], timeout: float = 600) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = api("POST", "/flow_runs/filter", {"flow_runs": {"id": {"any_": ids}}})
        if len(runs) == len(ids) and all(
            r["state_type"] in {"COMPLETED", "FAILED", "CRASHED"} for r in runs
        ):
            return runs
        time.sleep(0.25)
    sys.exit(f"runs not final within {timeout} s")


def seconds_between(start: str, end: str) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


def floors(image: str, tar: str) -> dict[str, float]:
    """Hand-made floors in a scratch container of the lab's image: uv installing the lock
    offline (what the role does for one host), and `import prefect` with bytecode."""
    name = "zp-bench-floor"
    sh("docker", "rm", "-f", name, check=False)
    sh("docker", "run", "-d", "--name", name, image, "sleep", "infinity")
    try:
        sh("docker", "exec", name, "mkdir", "-p", "/w")
        sh("docker", "cp", tar, f"{name}:/w/wh.tar")
        script = (
            "cd /w && tar -xf wh.tar && python3 -m zipfile -e uv-*.whl uvx && "
            "chmod +x uvx/uv-*.data/scripts/uv && cp uvx/uv-*.data/scripts/uv /usr/local/bin/"
        )
        sh("docker", "exec", name, "sh", "-c", script)
        sh("docker", "exec", name, "uv", "venv", "-q", "--python", "/usr/bin/python3", "/w/venv")
        _, install = sh(
            "docker", "exec", "-e", "UV_PYTHON_DOWNLOADS=never", name, "uv", "pip", "install", "-q",
            "--python", "/w/venv/bin/python", "--offline", "--no-index", "--find-links", "/w",
            "--require-hashes", "--compile-bytecode", "--no-cache", "-r", "/w/requirements.txt",
        )  # fmt: skip
        sh("docker", "exec", name, "/w/venv/bin/python", "-c", "import prefect")
        _, imported = sh("docker", "exec", name, "/w/venv/bin/python", "-c", "import prefect")
        _, noop = sh("docker", "exec", name, "true")
        return {"install": install - noop, "import": imported - noop}
    finally:
        sh("docker", "rm", "-f", name, check=False)


def dispatch(runs: int) -> tuple[list[float], list[float], list[float]]:
    """Sequential hello runs: created -> Running, split at Pending (the worker took it) into
    the poll wait and the start (process, pull step's git clone, flow import, engine)."""
    waits, polls, starts = [], [], []
    for _ in range(runs):
        (run,) = wait_final(start_runs(1))
        states = api("GET", f"/flow_run_states/?flow_run_id={run['id']}")
        pending = next((s["timestamp"] for s in states if s["type"] == "PENDING"), None)
        if run["start_time"] and pending:  # a run that never ran has no start to measure
            waits.append(seconds_between(run["created"], run["start_time"]))
            polls.append(seconds_between(run["created"], pending))
            starts.append(seconds_between(pending, run["start_time"]))
    return waits, polls, starts


def burst(count: int) -> tuple[float, list[dict]]:
    start = time.monotonic()
    runs = wait_final(start_runs(count))
    return time.monotonic() - start, runs


def cpu_seconds(container: str) -> float:
    """CPU seconds the container has used so far, from its cgroup on this machine (cgroup v1
    or v2, either Docker cgroup driver): it counts every process, the short-lived PostgreSQL
    backends included. The systemd units' own accounting (CPUUsageNSec) is not available
    inside the lab's containers (it reads 0 or is not set there), and `ps` misses processes
    that have exited."""
    cid, _ = sh("docker", "inspect", "-f", "{{.Id}}", container)
    cid = cid.strip()
    root = Path("/sys/fs/cgroup")
    for path, scale in [
        (root / "cpuacct" / "docker" / cid / "cpuacct.usage", 1e9),
        (root / "cpu,cpuacct" / "docker" / cid / "cpuacct.usage", 1e9),
        (root / "system.slice" / f"docker-{cid}.scope" / "cpu.stat", 1e6),
        (root / "docker" / cid / "cpu.stat", 1e6),
    ]:
        if path.is_file():
            text = path.read_text()
            if path.name == "cpu.stat":
                usage = (ln for ln in text.splitlines() if ln.startswith("usage_usec"))
                text = next(usage).split()[1]
            return int(text.strip()) / scale
    raise RuntimeError(f"no CPU accounting found for container {container} under {root}")


def poll_cost(workers: int, intervals: list[int], window: float = 60) -> dict[str, float]:
    """What polling costs the control host: `workers` extra worker processes (spread over the
    lab's worker containers, on a pool of their own so that they take no run) polling every
    N s; the control container's CPU (the server, PostgreSQL and the lab's Git server, which
    is idle then) over `window` s, against the same with none. Returns, per interval, the CPU
    one more polling worker costs the control host, in % of a core."""
    hosts = [WORKER_1, WORKER_2]

    def load() -> float:
        before = cpu_seconds(CONTROL)
        time.sleep(window)
        return (cpu_seconds(CONTROL) - before) / window * 100

    idle = load()
    per_worker = {}
    for interval in intervals:
        for i in range(workers):
            start = (
                "set -a; . /etc/prefect/worker.env; set +a; "
                f"PREFECT_WORKER_QUERY_SECONDS={interval} PREFECT_HOME=/tmp/bench-{i} "
                f"exec runuser -u prefect -- /opt/prefect/current/bin/prefect worker start "
                f"--pool bench-poll --type process --name bench-poll-{i} >/dev/null 2>&1"
            )
            sh("docker", "exec", "-d", hosts[i % 2], "sh", "-c", start)
        time.sleep(20)  # let every worker start and settle into its polling
        try:
            busy = load()
            row(f"control host CPU, {workers} workers polling every {interval} s", busy, "%",
                idle, "no extra worker")  # fmt: skip
            per_worker[str(interval)] = round(max(busy - idle, 0) / workers, 3)
        finally:
            for host in hosts:
                sh("docker", "exec", host, "pkill", "-f", "bench-poll", check=False)
    api("DELETE", "/work_pools/bench-poll")
    return per_worker


def database_connections() -> int:
    """Connections to Prefect's database on the control host (pg_stat_activity)."""
    out, _ = sh(
        "docker", "exec", CONTROL, "runuser", "-u", "postgres", "--", "psql", "-Atc",
        "SELECT count(*) FROM pg_stat_activity WHERE datname = 'prefect'",
    )  # fmt: skip
    return int(out.strip().splitlines()[-1])


def sampled(
    action: Callable[[], T], sample: Callable[[], int], every: float = 0.5
) -> tuple[T, int]:
    """Run `action` while `sample` is taken every `every` s; its result and the samples' max."""
    seen: list[int] = []
    done = threading.Event()

    def loop() -> None:
        while not done.is_set():
            seen.append(sample())
            done.wait(every)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        return action(), max(seen or [0])
    finally:
        done.set()
        thread.join()


def memory_gib() -> int:
    kib = next(ln for ln in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in ln)
    return round(int(kib.split()[1]) / 2**20)


def main() -> int:
    os.chdir(ROOT)
    ready = subprocess.run(["scripts/docker-ready.sh"], capture_output=True, text=True, check=True)
    image = ready.stdout.strip().splitlines()[-1]
    print("zoe-prefect bench (figure, value, floor measured in this run, ratio)")

    with tempfile.TemporaryDirectory() as cache:
        out, build = sh(sys.executable, str(PACKAGES), "wheelhouse", "--target", "linux-cp311",
                        "--cache", cache)  # fmt: skip
        row("wheelhouse build (download, linux-cp311)", build, "s", None, "network-bound")
    home_cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    tar = json.loads(
        sh(sys.executable, str(PACKAGES), "wheelhouse", "--target", "linux-cp311",
           "--cache", str(home_cache / "zoe-prefect" / "wheelhouse"))[0].strip().splitlines()[-1]
    )["tar"]  # fmt: skip
    floor = floors(image, tar)

    lab(2, "down")
    out, _ = lab(2)
    cold = converge_seconds(out)
    row("cold converge, control + 2 workers", cold, "s", None, "-")
    install = task_seconds(out, "prefect : Install the locked packages, offline and hash-checked")
    row("one host's Prefect install (role)", install, "s", floor["install"], "uv by hand")
    out, _ = lab(2)
    rerun = converge_seconds(out)
    row(f"re-run (changed={changed(out)})", rerun, "s", cold, "cold converge")
    out, _ = lab(3)
    row("adding a third worker", converge_seconds(out), "s", cold, "cold converge")
    lab(2)  # back to two workers for the dispatch figures

    for unit in ("prefect-worker@linux.service",):
        for worker in (WORKER_1, WORKER_2):
            sh("docker", "exec", worker, "systemctl", "is-active", unit)
    query = float(
        re.search(
            r"PREFECT_WORKER_QUERY_SECONDS=(\d+)",
            sh("docker", "exec", WORKER_1, "cat", "/etc/prefect/worker.env")[0],
        ).group(1)
    )
    waits, polls, starts = dispatch(12)
    start_floor = query / 2 + floor["import"]
    row("dispatch created->Running p50 (12 runs)", statistics.median(waits), "s", start_floor,
        "poll/2 + import")  # fmt: skip
    row("dispatch created->Running p95", percentile(waits, 0.95), "s", query + floor["import"],
        "poll + import")  # fmt: skip
    row("  of which: created->Pending p50 (poll wait)", statistics.median(polls), "s", query / 2,
        "poll/2")  # fmt: skip
    row("  of which: Pending->Running p50 (start)", statistics.median(starts), "s", floor["import"],
        "import prefect")  # fmt: skip
    at_rest = database_connections()
    (two, runs), busy_connections = sampled(lambda: burst(20), database_connections)
    each = statistics.median(
        seconds_between(r["start_time"], r["end_time"])
        for r in runs
        if r["start_time"] and r["end_time"]
    )
    row("burst of 20 on 2 workers (limit 2)", two, "s", each * 20 / 4, "20 x run / 4 slots")
    sh("docker", "exec", WORKER_2, "systemctl", "stop", "prefect-worker@linux.service")
    try:
        one, _ = burst(20)
    finally:
        sh(
            "docker",
            "exec",
            WORKER_2,
            "systemctl",
            "start",
            "prefect-worker@linux.service",
        )
    row("burst of 20 on 1 worker", one, "s", two, "burst on 2 workers")
    row("PostgreSQL connections of the server, in a burst", busy_connections, "", at_rest,
        "at rest")  # fmt: skip
    sizing = {
        "burst": {"runs": 20, "seconds": round(two, 2), "slots": 2 * WORKER_LIMIT,
                  "run_seconds": round(each, 2)},
        "server_connections": {"at_rest": at_rest, "busy": busy_connections},
    }  # fmt: skip

    if os.environ.get("BENCH_POLL", "1") == "1":
        sizing["poll_cpu_percent_per_worker"] = poll_cost(POLL_WORKERS, POLL_INTERVALS)

    # Each fresh fleet beside the cold converge of 2 workers above.
    scale = [int(n) for n in os.environ.get("BENCH_SCALE", "8 16").split()]
    for workers in scale:
        lab(workers, "down")
        out, _ = lab(workers)
        row(f"fresh fleet, {workers} workers: converge", converge_seconds(out), "s", cold,
            "cold converge, 2 workers")  # fmt: skip
    if scale:
        lab(2, "down")
        lab(2)

    OUT.parent.mkdir(parents=True, exist_ok=True)
    commit = sh("git", "rev-parse", "--short", "HEAD", check=False)[0].strip()
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "commit": commit,
        "machine": {"cores": os.cpu_count(), "memory_gib": memory_gib()},
        "worker_query_seconds": query,
        "worker_limit": WORKER_LIMIT,
        "rows": rows,
        "sizing": sizing,
    }
    OUT.write_text(json.dumps(report, indent=2) + "\n")
    print(f"JSON: {OUT.relative_to(ROOT)} (make docs renders docs/performance.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
