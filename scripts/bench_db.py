"""`make bench-db`: the replicated database's figures, on fresh hosts of molecule/database.

It creates and converges the scenario's hosts (control, three database hosts under Patroni,
a worker), runs its verify, whose faults (an etcd member stopped, the primary's host killed,
the primary cut off its network, each under a client writing through the API every 0.2 s)
write their figures as JSON (ZP_FIGURES), then measures what synchronous replication costs a
commit: pgbench on the primary, one client, alternating `synchronous_commit = local` (the
floor: the commit on the primary alone) and `on` (the default: a standby has it too), in the
same run. It destroys the hosts at the end. Traffic goes only to the scenario's containers.
The JSON goes to docs/data/bench_db.json, from which `make docs` renders
docs/performance.md. It is a benchmark, not a test: the scenario's own checks still run, but
the figures are not judged.

    make bench-db                       # 3 rounds of 8 s per setting
    BENCH_DB_ROUNDS=5 BENCH_DB_SECONDS=10 make bench-db
"""

from __future__ import annotations

import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN = os.environ.get("ZP_RUN") or f"zpb{secrets.token_hex(3)}"
ROUNDS = int(os.environ.get("BENCH_DB_ROUNDS", "3"))
SECONDS = int(os.environ.get("BENCH_DB_SECONDS", "8"))
OUT = ROOT / "docs" / "data" / "bench_db.json"
DATABASE = "zp_bench"


def sh(*cmd: str, check: bool = True, env: dict | None = None) -> str:
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    if check and done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done.stdout.strip()


def molecule(env: dict, *steps: str) -> None:
    for step in steps:
        print(f"molecule {step} -s database", flush=True)
        if subprocess.run(["molecule", step, "-s", "database"], cwd=ROOT, env=env).returncode:
            sys.exit(f"molecule {step} -s database failed: no figure")


def psql(container: str, sql: str, database: str = "postgres") -> str:
    return sh("docker", "exec", container, "runuser", "-u", "postgres", "--", "psql",
              "--no-psqlrc", "-tAc", sql, database)  # fmt: skip


def primary() -> str:
    names = sh("docker", "ps", "--format", "{{.Names}}").split()
    hosts = sorted(n for n in names if n.startswith(f"{RUN}-mol-db-"))
    found = [h for h in hosts if psql(h, "SELECT pg_is_in_recovery()") == "f"]
    if len(found) != 1:
        sys.exit(f"not one primary among {hosts}: {found}")
    return found[0]


def latency_ms(container: str, mode: str) -> float:
    out = sh("docker", "exec", "-e", f"PGOPTIONS=-c synchronous_commit={mode}", container,
             "runuser", "-u", "postgres", "--", "pgbench", "--no-vacuum", "--client=1",
             f"--time={SECONDS}", DATABASE)  # fmt: skip
    match = re.search(r"latency average = ([0-9.]+) ms", out)
    if not match:
        sys.exit(f"no latency in pgbench's output:\n{out}")
    return float(match.group(1))


def commit_cost() -> dict:
    host = primary()
    print(f"pgbench on {host}: {ROUNDS} rounds of {SECONDS} s, local then on", flush=True)
    sh("docker", "exec", host, "runuser", "-u", "postgres", "--", "createdb", DATABASE)
    try:
        sh("docker", "exec", host, "runuser", "-u", "postgres", "--", "pgbench", "--initialize",
           "--quiet", "--scale=1", DATABASE)  # fmt: skip
        rounds = []
        for _ in range(max(ROUNDS, 1)):
            local, on = latency_ms(host, "local"), latency_ms(host, "on")
            rounds.append({"local_ms": local, "on_ms": on})
            print(f"  local {local:.2f} ms, on {on:.2f} ms", flush=True)
    finally:
        sh("docker", "exec", host, "runuser", "-u", "postgres", "--", "dropdb", DATABASE,
           check=False)  # fmt: skip
    local = statistics.median(r["local_ms"] for r in rounds)
    on = statistics.median(r["on_ms"] for r in rounds)
    return {"local_ms": local, "on_ms": on, "ratio": round(on / local, 2), "rounds": rounds,
            "seconds": SECONDS}  # fmt: skip


def memory_gib() -> int:
    kib = int(Path("/proc/meminfo").read_text().split()[1])
    return round(kib / 2**20)


def main() -> None:
    figures = Path(tempfile.mkdtemp()) / "faults.json"
    env = {
        **os.environ,
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
        "ZP_RUN": RUN,
        "MOLECULE_EPHEMERAL_DIRECTORY": str(ROOT / ".cache" / "molecule" / RUN / "database"),
        "ZP_FIGURES": str(figures),
    }
    start = time.monotonic()
    try:
        molecule(env, "create", "converge", "verify")
        faults = json.loads(figures.read_text())
        cost = commit_cost()
    finally:
        molecule(env, "destroy")
    summary = {
        "date": time.strftime("%Y-%m-%d"),
        "commit": sh("git", "rev-parse", "--short", "HEAD", check=False),
        "machine": {"cores": os.cpu_count(), "memory_gib": memory_gib()},
        **faults,
        "commit_latency": cost,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"written to {OUT.relative_to(ROOT)} after {time.monotonic() - start:.0f} s")


if __name__ == "__main__":
    main()
