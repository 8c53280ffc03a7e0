"""`make bench-ha`: API reads per second through HAProxy with two API replicas against one, on
the hosts of molecule/ha, and where the CPU goes meanwhile.

It converges molecule/ha first when its hosts are not up (`molecule converge -s ha` at the
pinned release, about 3 min) and leaves them up (`molecule destroy -s ha` removes them). Each
round sends the same fixed number of `POST /api/flow_runs/filter` requests, a fixed number at a
time, from this machine to HAProxy (over HTTPS with the scenario's prefect_api_tls): once with
one replica in service (the other drained with `prefect-lb-replica drain`), once with both.
The figure is the ratio of the medians, each beside its floor (one replica) measured in the
same run, since these machines are noisy. Per round it also reads how much CPU each host
(container) used, how busy the whole machine was, and how many connections each host held to
PostgreSQL. Traffic goes only to the scenario's own containers. The JSON goes to
docs/data/bench_ha.json, from which `make docs` renders docs/performance.md. It is a
benchmark, not a test: it asserts nothing.

    make bench-ha                                   # 3 rounds of 1500 requests, 16 at a time
    BENCH_HA_ROUNDS=5 BENCH_HA_REQUESTS=3000 make bench-ha
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
# Docker's names carry a run's prefix (ZP_RUN, molecule/resources/create.yml); HAProxy knows
# the replicas by their inventory names.
RUN = os.environ.get("ZP_RUN") or "zp"
PREFIX = f"{RUN}-mol-ha-"
NETWORK = f"{RUN}-mol-ha"
LB = f"{PREFIX}lb"
REPLICAS = [f"{PREFIX}api-1", f"{PREFIX}api-2"]
CONTROL = f"{PREFIX}control"
REQUESTS = int(os.environ.get("BENCH_HA_REQUESTS", "1500"))
CONCURRENCY = int(os.environ.get("BENCH_HA_CONCURRENCY", "16"))
ROUNDS = int(os.environ.get("BENCH_HA_ROUNDS", "3"))
OUT = ROOT / "docs" / "data" / "bench_ha.json"


def sh(*cmd: str, check: bool = True) -> str:
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if check and done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done.stdout.strip()


def running() -> list[str]:
    names = sh("docker", "ps", "--format", "{{.Names}}").split()
    return sorted(n for n in names if n.startswith(PREFIX))


def ensure_scenario() -> None:
    if LB in running() and all(r in running() for r in REPLICAS):
        return
    print("molecule/ha is not up: molecule converge -s ha (about 3 min)", flush=True)
    env = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"}
    env.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))
    # The same scenario state as `make lab-ha` (scripts/lab-ha.sh).
    env.setdefault("MOLECULE_EPHEMERAL_DIRECTORY", str(ROOT / ".cache" / "molecule" / "lab-ha"))
    # At the pinned release: the scenario converges at the one before, for its upgrade test.
    defaults = yaml.safe_load((ROOT / "roles/prefect/defaults/main.yml").read_text())
    version = defaults["prefect_version"]
    converge = ["molecule", "converge", "-s", "ha", "--", "-e", f"upgrade_to={version}"]
    done = subprocess.run(converge, cwd=ROOT, env=env)
    if done.returncode != 0:
        sys.exit("molecule converge -s ha failed")


def auth() -> tuple[str, str]:
    """The API's basic-auth user and password, as the running replica has them (its server.env,
    root's): the scenario's own, whichever checkout converged it. Never printed."""
    # As systemd reads it: the role quotes a value with other than plain characters.
    shown = sh(
        "docker", "exec", REPLICAS[0], "sh", "-c",
        '. /etc/prefect/server.env && printf %s "$PREFECT_SERVER_API_AUTH_STRING"',
    )  # fmt: skip
    if shown:
        user, _, password = shown.partition(":")
        return user, password
    sys.exit(f"{REPLICAS[0]} has no API auth string in /etc/prefect/server.env")


def endpoint() -> tuple[str, ssl.SSLContext | bool]:
    """The API through HAProxy, and how to verify it: with prefect_api_tls (HAProxy holds the
    fleet's CA) over HTTPS, the certificate checked against that CA; by the container's address,
    which the certificate does not name, so the chain is checked and not the name."""
    ca = sh("docker", "exec", LB, "cat", "/etc/haproxy/tls/ca.crt", check=False)
    if not ca:
        return f"http://{address(LB)}:4200/api", True
    context = ssl.create_default_context(cadata=ca)
    context.check_hostname = False
    return f"https://{address(LB)}:4200/api", context


def address(container: str) -> str:
    fmt = f'{{{{(index .NetworkSettings.Networks "{NETWORK}").IPAddress}}}}'
    return sh("docker", "inspect", "-f", fmt, container)


def cpu_seconds(container: str) -> float:
    """CPU time the container's processes used so far (cgroup v1 or v2); NaN where this
    machine keeps it elsewhere."""
    cid = sh("docker", "inspect", "-f", "{{.Id}}", container)
    v1 = Path(f"/sys/fs/cgroup/cpuacct/docker/{cid}/cpuacct.usage")
    if v1.exists():
        return int(v1.read_text()) / 1e9
    for v2 in (
        Path(f"/sys/fs/cgroup/system.slice/docker-{cid}.scope/cpu.stat"),
        Path(f"/sys/fs/cgroup/docker/{cid}/cpu.stat"),
    ):
        if v2.exists():
            usage = dict(line.split() for line in v2.read_text().splitlines())
            return int(usage["usage_usec"]) / 1e6
    return float("nan")


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all cores since boot, from /proc/stat."""
    # user nice system idle iowait irq softirq steal; guest time is counted in user already.
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def set_replicas(n: int) -> None:
    """n replicas in service in HAProxy, the others drained (maintenance)."""
    for replica in REPLICAS[n:]:
        sh("docker", "exec", LB, "/usr/local/sbin/prefect-lb-replica", "drain", inventory(replica))
    for replica in REPLICAS[:n]:
        sh("docker", "exec", LB, "/usr/local/sbin/prefect-lb-replica", "ready", inventory(replica))


def inventory(container: str) -> str:
    """The inventory name of a scenario's container."""
    return "zp-" + container.removeprefix(f"{RUN}-")


def database_connections(addresses: dict[str, str]) -> dict[str, int]:
    """Connections to Prefect's database on the control host, per client host."""
    out = sh(
        "docker", "exec", CONTROL, "runuser", "-u", "postgres", "--", "psql", "-AtF", " ", "-c",
        "SELECT client_addr, count(*) FROM pg_stat_activity WHERE datname = 'prefect'"
        " GROUP BY client_addr",
    )  # fmt: skip
    found: dict[str, int] = {}
    for line in out.splitlines():
        addr, _, count = line.rpartition(" ")
        host = addresses.get(addr, addr or "local").removeprefix(PREFIX)
        found[host] = found.get(host, 0) + int(count)
    return found


async def load(api: str, auth: tuple[str, str], verify: ssl.SSLContext | bool) -> tuple[float, int]:
    """Send REQUESTS reads, CONCURRENCY at a time: (seconds, failed requests)."""
    remaining = REQUESTS
    failed = 0
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(auth=auth, timeout=30, limits=limits, verify=verify) as client:

        async def one_client() -> None:
            nonlocal remaining, failed
            while remaining > 0:
                remaining -= 1
                try:
                    r = await client.post(f"{api}/flow_runs/filter", json={"limit": 10})
                    failed += r.status_code != 200
                except httpx.HTTPError:
                    failed += 1

        start = time.monotonic()
        await asyncio.gather(*(one_client() for _ in range(CONCURRENCY)))
        return time.monotonic() - start, failed


def measure(
    n: int, api: str, auth: tuple[str, str], verify: ssl.SSLContext | bool, hosts: list[str]
) -> dict:
    set_replicas(n)
    cpu_before = {h: cpu_seconds(h) for h in hosts}
    busy_before, total_before = machine_ticks()
    client_before = time.process_time()
    addresses = {address(h): h for h in hosts}
    peaks: dict[str, int] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for host, count in database_connections(addresses).items():
                peaks[host] = max(peaks.get(host, 0), count)
            done.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        seconds, failed = asyncio.run(load(api, auth, verify))
    finally:
        done.set()
        sampler.join()
    client = (time.process_time() - client_before) / seconds
    busy_after, total_after = machine_ticks()
    cpu = {h: (cpu_seconds(h) - cpu_before[h]) / seconds for h in hosts}
    result = {
        "replicas": n,
        "requests": REQUESTS,
        "seconds": round(seconds, 2),
        "per_second": round(REQUESTS / seconds, 1),
        "failed": failed,
        "machine_busy": round((busy_after - busy_before) / (total_after - total_before), 3),
        "cpu_cores": {h.removeprefix(PREFIX): round(c, 3) for h, c in cpu.items() if c == c},
        "client_cpu_cores": round(client, 3),
        "database_connections": dict(sorted(peaks.items())),
    }
    busiest = sorted(result["cpu_cores"].items(), key=lambda kv: -kv[1])[:3]
    print(
        f"  {n} replica{'s' if n > 1 else ' '}: {result['per_second']:>6.1f} req/s "
        f"({seconds:.1f} s, {failed} failed), machine {result['machine_busy']:.0%} busy; "
        + ", ".join(f"{h} {c:.0%}" for h, c in busiest)
        + f" of a core, this client {client:.0%}",
        flush=True,
    )
    return result


def main() -> None:
    ensure_scenario()
    hosts = running()
    api, verify = endpoint()
    credentials = auth()
    cores = os.cpu_count()
    print(
        f"{REQUESTS} POST /api/flow_runs/filter, {CONCURRENCY} at a time, through HAProxy ({api}); "
        f"{ROUNDS} rounds of 1 replica then 2; this machine has {cores} cores",
        flush=True,
    )
    results = []
    try:
        _, failed = asyncio.run(load(api, credentials, verify))  # warm-up: connections, caches
        if failed:
            sys.exit(f"{failed} of {REQUESTS} warm-up requests failed: no figure")
        for _ in range(max(ROUNDS, 1)):
            for n in (1, 2):
                results.append(measure(n, api, credentials, verify, hosts))
    finally:
        set_replicas(len(REPLICAS))
    failed = sum(r["failed"] for r in results)
    if failed:
        sys.exit(f"{failed} requests failed in the rounds: no figure")
    one = statistics.median(r["per_second"] for r in results if r["replicas"] == 1)
    two = statistics.median(r["per_second"] for r in results if r["replicas"] == 2)
    both = [r["database_connections"] for r in results if r["replicas"] == 2]
    summary = {
        "date": time.strftime("%Y-%m-%d"),
        "commit": sh("git", "rev-parse", "--short", "HEAD", check=False),
        "requests": REQUESTS,
        "concurrency": CONCURRENCY,
        "one_replica_per_second": one,
        "two_replicas_per_second": two,
        "ratio": round(two / one, 2),
        "cores": cores,
        # The most connections one host of each kind held, over the rounds with 2 replicas.
        "database_connections_peak": {
            kind: max((n for r in both for h, n in r.items() if h.startswith(kind)), default=0)
            for kind in ("api-", "services-")
        },
        "rounds": results,
    }
    print(f"median: 2 replicas {two:.1f} req/s, 1 replica {one:.1f} (floor): {two / one:.2f}x")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"written to {OUT.relative_to(ROOT)}; molecule destroy -s ha removes the hosts")


if __name__ == "__main__":
    main()
