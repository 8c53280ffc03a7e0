"""The scheduled backup's retention (roles/postgresql/files/prefect_db_backup.py): which dumps
it keeps, and that it deletes exactly the others and nothing else in the folder."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import ROOT

SCRIPT = ROOT / "roles" / "postgresql" / "files" / "prefect_db_backup.py"
spec = importlib.util.spec_from_file_location("prefect_db_backup", SCRIPT)
backup = importlib.util.module_from_spec(spec)
spec.loader.exec_module(backup)


def name(t: datetime) -> str:
    return f"prefect-{t.strftime('%Y%m%dT%H%M%SZ')}.pgc"


def two_a_day(days: int, end: datetime) -> dict[str, datetime]:
    """Dumps at 02:30 and 14:30 on each of `days` days up to `end`."""
    found = {}
    for d in range(days):
        for hour in (2, 14):
            t = (end - timedelta(days=d)).replace(hour=hour, minute=30, second=0)
            found[name(t)] = t
    return found


def test_keeps_the_newest_per_day_and_per_week() -> None:
    end = datetime(2026, 11, 29, tzinfo=UTC)  # a Sunday
    found = two_a_day(30, end)
    keep = backup.to_keep(found, keep_daily=3, keep_weekly=2)
    # The newest of each of the last 3 days...
    daily = {name(end.replace(hour=14, minute=30) - timedelta(days=d)) for d in range(3)}
    # ...and of the last 2 ISO weeks: this Sunday's (already daily) and last Sunday's.
    weekly = {name(end.replace(hour=14, minute=30) - timedelta(days=7))}
    assert keep == daily | weekly


def test_a_week_without_dumps_is_not_counted() -> None:
    end = datetime(2026, 11, 29, 2, 30, tzinfo=UTC)
    found = {name(t): t for t in (end, end - timedelta(days=21), end - timedelta(days=28))}
    keep = backup.to_keep(found, keep_daily=1, keep_weekly=3)
    assert keep == set(found)


def test_prune_only_deletes_old_dumps_and_nothing_else(tmp_path: Path) -> None:
    end = datetime(2026, 11, 29, tzinfo=UTC)
    for n in two_a_day(10, end):
        (tmp_path / n).write_bytes(b"dump")
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "prefect-manual.pgc").write_bytes(b"mine")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--dir", str(tmp_path), "--keep-daily", "2",
         "--keep-weekly", "1", "--prune-only"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(
        ["notes.txt", "prefect-manual.pgc", name(end.replace(hour=14, minute=30)),
         name((end - timedelta(days=1)).replace(hour=14, minute=30))]
    )  # fmt: skip
    assert result.stdout.count("removed ") == 18
