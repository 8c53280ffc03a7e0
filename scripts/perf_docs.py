"""Write (or check) docs/performance.md from the benchmarks' JSON: docs/data/bench.json
(`make bench`), docs/data/bench_ha.json (`make bench-ha`) and docs/data/bench_db.json
(`make bench-db`). Nobody edits the page's numbers
by hand: run the benchmarks, then `make docs`, and commit the JSON with the page.

The sizing table at the end is fitted to what `make bench` measures: the CPU one more polling
worker costs the control host at each poll interval, the flow runs a worker slot starts per
minute in a burst, and the connections each server process holds to PostgreSQL.

usage: python scripts/perf_docs.py [--check]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "docs" / "data"
PAGE = ROOT / "docs" / "performance.md"
# PostgreSQL's default max_connections (postgresql_settings can raise it).
MAX_CONNECTIONS = 100
# A host is planned at this share of its cores, leaving room for bursts and the OS.
HEADROOM = 0.5
ROLE_POLL_SECONDS = 2


def load(name: str) -> dict | None:
    path = DATA / name
    return json.loads(path.read_text()) if path.is_file() else None


def number(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.0f}"


def source(data: dict, command: str) -> str:
    machine = data.get("machine", {})
    cores = machine.get("cores", data.get("cores", "?"))
    memory = f", {machine['memory_gib']} GiB" if "memory_gib" in machine else ""
    commit, date = data.get("commit", "?"), data.get("date", "?")
    return f"`{command}` of {commit} on {date}, {cores} cores{memory}"


def lab_section(bench: dict) -> list[str]:
    lines = [
        "## The lab (`make bench`)",
        "",
        f"Measured by {source(bench, 'make bench')}: the lab's control host and workers as",
        "containers on that one machine. Each figure stands beside a floor measured in the same",
        "run; the ratio travels between machines better than the seconds.",
        "",
        "| figure | value | floor | ratio | the floor is |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for row in bench["rows"]:
        unit = f" {row['unit']}" if row["unit"] else ""
        floor = f"{number(row['floor'])}{unit}" if row["floor"] is not None else "-"
        ratio = f"{row['ratio']:.2f}x" if row["ratio"] else "-"
        figure = row["figure"].strip().replace("|", "\\|")
        lines.append(
            f"| {figure} | {number(row['value'])}{unit} | {floor} | {ratio} | {row['floor_is']} |"
        )
    return [*lines, ""]


def ha_section(ha: dict) -> list[str]:
    lines = [
        "## The scaled-out shape (`make bench-ha`)",
        "",
        f"Measured by {source(ha, 'make bench-ha')}: {ha.get('requests', '?')} reads",
        f"(`POST /api/flow_runs/filter`), {ha.get('concurrency', '?')} at a time, through HAProxy",
        "over HTTPS, with one API replica in service and then two, on molecule/ha's hosts (all on",
        "that one machine, so two replicas share its cores with everything else).",
        "",
        "| API replicas | reads per second (median) | ratio |",
        "| ---: | ---: | ---: |",
        f"| 1 | {number(ha['one_replica_per_second'])} | 1.00x (the floor) |",
        f"| 2 | {number(ha['two_replicas_per_second'])} | {ha['ratio']:.2f}x |",
        "",
    ]
    peaks = ha.get("database_connections_peak")
    if peaks:
        lines += [
            "Connections to PostgreSQL under that load, the most one host held:",
            f"{peaks.get('api-', 0)} from an API replica, {peaks.get('services-', 0)} from a"
            " background services host.",
            "",
        ]
    return lines


def db_section(db: dict) -> list[str]:
    settings = db["settings"]
    ttl = settings["ttl"]
    killed, cut, etcd = db["primary_killed"], db["primary_cut_off"], db["etcd_member_lost"]
    cost = db["commit_latency"]

    def row(figure: str, seconds: float) -> str:
        return f"| {figure} | {number(seconds)} s | {ttl} s | {seconds / ttl:.2f}x |"

    return [
        "## The replicated database (`make bench-db`)",
        "",
        f"Measured by {source(db, 'make bench-db')}: molecule/database's hosts (three database",
        f"hosts under Patroni, ttl {ttl} s, loop_wait {settings['loop_wait']} s, retry_timeout",
        f"{settings['retry_timeout']} s), under a client that writes through the API every 0.2 s.",
        "A failover waits out the leader key's ttl by design, so the times stand beside it.",
        "",
        "| figure | value | ttl | ratio |",
        "| --- | ---: | ---: | ---: |",
        row("primary's host killed: a new primary", killed["elected_s"]),
        row(
            "primary's host killed: longest gap between acknowledged writes",
            killed["longest_gap_s"],
        ),
        row("primary's host killed: back as a replica after its restart", killed["rejoined_s"]),
        row("primary cut off its network: a new primary", cut["elected_s"]),
        row(
            "primary cut off: first write through the API, the host still cut off",
            cut["first_write_s"],
        ),
        row("primary cut off: back as a replica after its network returned", cut["rejoined_s"]),
        "",
        f"Writes that failed: {killed['failed']} of {killed['writes']} while the primary's host",
        f"was killed (the flow run in flight: {killed['run_state']}), {cut['failed']} of",
        f"{cut['writes']} while it was cut off ({cut['rounds_with_two_primaries']} of",
        f"{cut['rounds_sampled']} sampled rounds with two primaries), {etcd['failed']} of",
        f"{etcd['writes']} with an etcd member stopped (longest gap",
        f"{number(etcd['longest_gap_s'])} s).",
        "",
        "What synchronous replication costs a commit (pgbench on the primary, one client, the",
        f"median of {len(cost['rounds'])} rounds of {cost['seconds']} s per setting, alternating):",
        "",
        "| `synchronous_commit` | latency | ratio |",
        "| --- | ---: | ---: |",
        f"| `local` (the primary alone: the floor) | {number(cost['local_ms'])} ms | 1.00x |",
        f"| `on` (the default: a standby has it too) | {number(cost['on_ms'])} ms"
        f" | {cost['ratio']:.2f}x |",
        "",
        "The standbys are containers on the same machine: a real network adds its round trip to",
        "each synchronous commit.",
        "",
    ]


def sizing_section(bench: dict, ha: dict | None) -> list[str]:
    sizing = bench.get("sizing", {})
    poll = sizing.get("poll_cpu_percent_per_worker", {})
    burst = sizing.get("burst")
    server = sizing.get("server_connections")
    cores = bench.get("machine", {}).get("cores", 2)
    rows: list[tuple[str, str, str]] = []
    per_core = {}
    for interval, percent in sorted(poll.items(), key=lambda kv: float(kv[0])):
        workers = 100 / percent if percent > 0 else math.inf
        per_core[float(interval)] = workers
        rows.append(
            (
                f"workers one API core serves, polling every {interval} s",
                number(workers) if workers != math.inf else "not measurable",
                f"{percent:.3f} % of a core per worker (server and PostgreSQL together)",
            )
        )
    if burst:
        per_slot = 60 * burst["runs"] / burst["seconds"] / burst["slots"]
        rows.append(
            (
                "flow runs per minute per worker slot",
                number(per_slot),
                f"a burst of {burst['runs']} short runs ({number(burst['run_seconds'])} s each) on"
                f" {burst['slots']} slots; a longer run gives 60 / its seconds",
            )
        )
    if server:
        rows.append(
            (
                "PostgreSQL connections of a one-host server",
                f"{server['at_rest']} at rest, {server['busy']} in a burst",
                "Prefect's pool: 5, plus up to 10 more under load, per server process",
            )
        )
    peaks = (ha or {}).get("database_connections_peak", {})
    if peaks:
        rows.append(("PostgreSQL connections per API replica", str(peaks.get("api-", 0)), "peak"))
        rows.append(
            ("PostgreSQL connections per services host", str(peaks.get("services-", 0)), "peak")
        )
    lines = [
        "## Sizing",
        "",
        "Fitted to the figures above; plan a host at "
        f"{HEADROOM:.0%} of its cores. The polling cost grows with the number of worker",
        "processes (one per pool on each host) and falls with the poll interval",
        "(`prefect_worker_query_seconds`, the role's default "
        f"{ROLE_POLL_SECONDS} s; Prefect's own is 10 s).",
        "",
        "| quantity | value | from |",
        "| --- | ---: | --- |",
        *(f"| {a} | {b} | {c} |" for a, b, c in rows),
        "",
    ]
    if per_core:
        interval = (
            float(ROLE_POLL_SECONDS) if float(ROLE_POLL_SECONDS) in per_core else max(per_core)
        )
        replica = peaks.get("api-") or (server or {}).get("busy") or 15
        services = peaks.get("services-") or 0
        lines += [
            f"Where the next limit is, polling every {number(interval)} s:",
            "",
            "| workers | API cores for polling | API hosts of "
            f"{cores} cores | PostgreSQL connections (API hosts and one services host) |"
            " the next limit |",
            "| ---: | ---: | ---: | ---: | --- |",
        ]
        for workers in (100, 1000):
            need = workers / per_core[interval]
            hosts = max(1, math.ceil(need / (cores * HEADROOM)))
            connections = hosts * replica + (services if hosts > 1 else 0)
            if connections > MAX_CONNECTIONS:
                limit = (
                    f"PostgreSQL's max_connections ({MAX_CONNECTIONS}): raise it"
                    " (`postgresql_settings`) or put a pooler in front"
                )
            elif hosts > 1:
                limit = f"one control host is not enough: {hosts} API replicas (scaling out)"
            else:
                limit = "none: one control host"
            lines.append(f"| {workers:,} | {number(need)} | {hosts} | {connections} | {limit} |")
        lines.append("")
        slowest = max(per_core)
        if slowest != interval:
            lines += [
                f"Polling every {number(slowest)} s instead, one core serves"
                f" {number(per_core[slowest])} workers, and a run waits longer before it starts"
                " (half the interval on average).",
                "",
            ]
    return lines


def render() -> str:
    bench, ha = load("bench.json"), load("bench_ha.json")
    lines = [
        "# Performance",
        "",
        "<!-- Written by scripts/perf_docs.py (make docs) from docs/data/*.json; do not edit. -->",
        "",
        "The current figures only: `make bench`, `make bench-ha` and `make bench-db` write the",
        "JSON in `docs/data/`, `make docs` writes this page from it, and `make check` fails when",
        "the page and the JSON differ. Earlier runs are in git's history and in the CHANGELOG.",
        "",
    ]
    if bench:
        lines += lab_section(bench)
    else:
        lines += ["`make bench` has not been run: no lab figures yet.", ""]
    if ha:
        lines += ha_section(ha)
    else:
        lines += ["`make bench-ha` has not been run: no scaled-out figures yet.", ""]
    db = load("bench_db.json")
    if db:
        lines += db_section(db)
    else:
        lines += [
            "`make bench-db` has not been run: no figures of the replicated database yet.",
            "",
        ]
    if bench:
        lines += sizing_section(bench, ha)
    return "\n".join(lines).rstrip("\n") + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the page is stale")
    text = render()
    if parser.parse_args().check:
        if not PAGE.is_file() or PAGE.read_text() != text:
            print(f"{PAGE.relative_to(ROOT)} is stale: run make docs", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
