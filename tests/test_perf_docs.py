"""docs/performance.md is written from the benchmarks' JSON (scripts/perf_docs.py), with a
sizing table fitted to what `make bench` measures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import perf_docs  # noqa: E402

BENCH = {
    "date": "2026-01-02",
    "commit": "abc1234",
    "machine": {"cores": 2, "memory_gib": 24},
    "rows": [
        {"figure": "burst of 20 on 2 workers (limit 2)", "value": 40.0, "unit": "s",
         "floor": 30.0, "floor_is": "20 x run / 4 slots", "ratio": 1.33},
    ],
    "sizing": {
        "burst": {"runs": 20, "seconds": 40.0, "slots": 4, "run_seconds": 6.0},
        "server_connections": {"at_rest": 3, "busy": 9},
        "poll_cpu_percent_per_worker": {"2": 0.5, "10": 0.1},
    },
}  # fmt: skip
HA = {
    "one_replica_per_second": 100.0, "two_replicas_per_second": 150.0, "ratio": 1.5,
    "database_connections_peak": {"api-": 12, "services-": 6},
}  # fmt: skip


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(perf_docs, "DATA", tmp_path)
    return tmp_path


def test_the_page_is_current() -> None:
    done = subprocess.run(
        [sys.executable, "scripts/perf_docs.py", "--check"], cwd=ROOT, capture_output=True,
        text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_sizing_is_fitted_to_the_figures(data: Path) -> None:
    (data / "bench.json").write_text(json.dumps(BENCH))
    (data / "bench_ha.json").write_text(json.dumps(HA))
    page = perf_docs.render()
    # 0.5 % of a core per worker at 2 s: 200 workers a core; 0.1 % at 10 s: 1,000.
    assert "| workers one API core serves, polling every 2 s | 200 |" in page
    assert "| workers one API core serves, polling every 10 s | 1,000 |" in page
    # 20 runs in 40 s on 4 slots: 7.5 a minute per slot.
    assert "| flow runs per minute per worker slot | 7.5 |" in page
    # 1,000 workers at 2 s: 5 cores, on hosts of 2 cores at half load: 5 replicas, each 12
    # connections, and a services host's 6.
    assert "| 100 | 0.5 | 1 | 12 | none: one control host |" in page
    assert "| 1,000 | 5 | 5 | 66 | one control host is not enough: 5 API replicas" in page
    assert "| 2 | 150 | 1.50x |" in page
    assert "abc1234 on 2026-01-02, 2 cores, 24 GiB" in page


def test_connections_past_max_connections_are_the_limit(data: Path) -> None:
    bench = json.loads(json.dumps(BENCH))
    bench["sizing"]["poll_cpu_percent_per_worker"] = {"2": 2.0}
    (data / "bench.json").write_text(json.dumps(bench))
    (data / "bench_ha.json").write_text(json.dumps(HA))
    # 1,000 workers at 2 % each: 20 cores, 20 hosts, 246 connections.
    assert "| 1,000 | 20 | 20 | 246 | PostgreSQL's max_connections (100)" in perf_docs.render()


def test_without_figures_the_page_says_so(data: Path) -> None:
    page = perf_docs.render()
    assert "`make bench` has not been run" in page
    assert "`make bench-ha` has not been run" in page
    assert "`make bench-db` has not been run" in page


DB = {
    "date": "2026-01-03", "commit": "def5678", "machine": {"cores": 2, "memory_gib": 24},
    "settings": {"ttl": 30, "loop_wait": 10, "retry_timeout": 10},
    "etcd_member_lost": {"writes": 90, "failed": 0, "longest_gap_s": 0.3},
    "primary_killed": {"elected_s": 27.0, "longest_gap_s": 30.0, "writes": 170, "failed": 82,
                       "run_state": "COMPLETED", "rejoined_s": 6.0},
    "primary_cut_off": {"elected_s": 33.0, "first_write_s": 36.0, "longest_gap_s": 34.0,
                        "writes": 228, "failed": 96, "rounds_sampled": 139,
                        "rounds_with_two_primaries": 0, "rejoined_s": 4.5},
    "commit_latency": {"local_ms": 1.6, "on_ms": 2.4, "ratio": 1.5, "seconds": 8,
                       "rounds": [{"local_ms": 1.6, "on_ms": 2.4}] * 3},
}  # fmt: skip


def test_the_database_figures_stand_beside_the_ttl_and_the_local_commit(data: Path) -> None:
    (data / "bench_db.json").write_text(json.dumps(DB))
    page = perf_docs.render()
    assert "| primary's host killed: a new primary | 27 s | 30 s | 0.90x |" in page
    assert "| primary cut off: first write through the API, the host still cut off | 36 s" in page
    assert "| `on` (the default: a standby has it too) | 2.4 ms | 1.50x |" in page
    assert "82 of 170 while the primary's host" in " ".join(page.split())
    assert "0 of 139 sampled rounds with two primaries" in " ".join(page.split())
    assert "def5678 on 2026-01-03, 2 cores, 24 GiB" in page
