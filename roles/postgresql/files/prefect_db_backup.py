#!/usr/bin/python3
"""Dump Prefect's database into a folder and prune the folder to its retention.

Run by the systemd service prefect-db-backup.service (as postgres, started by its timer);
installed by the zoe-prefect role postgresql. pg_dump's custom format (`-Fc`), one consistent
snapshot while the server keeps running, written to a hidden temporary name and renamed when
complete, mode 0600. Then the folder keeps, of the dumps this script names
(prefect-YYYYmmddTHHMMSSZ.pgc):
  - the newest dump of each of the last KEEP_DAILY days that have one;
  - the newest dump of each of the last KEEP_WEEKLY ISO weeks that have one;
and deletes the others. Files with other names are never touched.

With --primary-only (the database hosts of role patroni, where every host has the timer) a
host whose PostgreSQL is in recovery (a replica) dumps nothing: the primary's timer does.

usage: zoe-prefect-db-backup --dir DIR --database NAME --port PORT --keep-daily N --keep-weekly M
                             [--primary-only]
       zoe-prefect-db-backup --dir DIR --keep-daily N --keep-weekly M --prune-only
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

NAME = re.compile(r"^prefect-(\d{8}T\d{6}Z)\.pgc$")
STAMP = "%Y%m%dT%H%M%SZ"


def dumps(folder: Path) -> dict[str, datetime]:
    """The dumps this script made in the folder, by file name, with their time."""
    found = {}
    for path in folder.iterdir():
        match = NAME.match(path.name)
        if match and path.is_file():
            found[path.name] = datetime.strptime(match[1], STAMP).replace(tzinfo=UTC)
    return found


def to_keep(found: dict[str, datetime], keep_daily: int, keep_weekly: int) -> set[str]:
    """The newest dump per day for the newest keep_daily days, and per ISO week for the
    newest keep_weekly weeks."""
    newest_first = sorted(found, key=found.__getitem__, reverse=True)
    keep: set[str] = set()
    periods = ((keep_daily, lambda t: t.date()), (keep_weekly, lambda t: t.isocalendar()[:2]))
    for count, period in periods:
        seen: list[object] = []
        for name in newest_first:
            key = period(found[name])
            if key in seen:
                continue
            if len(seen) == count:
                break
            seen.append(key)
            keep.add(name)
    return keep


def dump(folder: Path, database: str, port: str) -> Path:
    name = f"prefect-{datetime.now(UTC).strftime(STAMP)}.pgc"
    partial = folder / f".{name}.partial"
    target = folder / name
    os.umask(0o077)
    try:
        subprocess.run(
            ["pg_dump", "--format=custom", f"--port={port}", f"--file={partial}", database],
            check=True,
        )
        partial.chmod(0o600)
        partial.rename(target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def in_recovery(database: str, port: str) -> bool:
    answer = subprocess.run(
        ["psql", "-XAt", f"--port={port}", "-c", "select pg_is_in_recovery()", database],
        check=True,
        capture_output=True,
        text=True,
    )
    return answer.stdout.strip() == "t"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--database", default="prefect")
    parser.add_argument("--port", default="5432")
    parser.add_argument("--keep-daily", type=int, required=True)
    parser.add_argument("--keep-weekly", type=int, required=True)
    parser.add_argument("--prune-only", action="store_true")
    parser.add_argument("--primary-only", action="store_true")
    args = parser.parse_args()
    if args.keep_daily < 1 or args.keep_weekly < 0:
        parser.error("keep at least 1 daily dump and 0 or more weekly ones")
    if args.primary_only and not args.prune_only and in_recovery(args.database, args.port):
        print("this host is a replica: the primary's timer dumps")
        return 0
    if not args.prune_only:
        made = dump(args.dir, args.database, args.port)
        print(f"dumped {args.database} to {made} ({made.stat().st_size} bytes)")
    found = dumps(args.dir)
    keep = to_keep(found, args.keep_daily, args.keep_weekly)
    for name in sorted(set(found) - keep):
        (args.dir / name).unlink()
        print(f"removed {name} (retention: {args.keep_daily} daily, {args.keep_weekly} weekly)")
    print(f"{len(keep)} dumps kept in {args.dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
