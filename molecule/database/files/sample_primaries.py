"""Samples which database hosts are primaries, from outside, until the stop file exists: each
round asks every host's PostgreSQL over `docker exec` (which works while a host is cut off its
network) whether it is in recovery. Prints, as JSON, the number of rounds, the rounds in which
more than one host was a primary, and each host's answers as they changed.

usage: python3 sample_primaries.py STOP_FILE CONTAINER...
"""

import json
import subprocess
import sys
import time
from pathlib import Path

stop_file, containers = Path(sys.argv[1]), sys.argv[2:]
QUERY = "select not pg_is_in_recovery()"
rounds, doubles, changes, last = 0, [], [], {}
start = time.monotonic()


def primary(container: str) -> str:
    """'t' (a primary), 'f' (a replica) or '' (no answer: PostgreSQL down or starting)."""
    try:
        answer = subprocess.run(
            ["docker", "exec", "-u", "postgres", container, "psql", "-XAtc", QUERY],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except subprocess.TimeoutExpired:
        return ""
    return answer.stdout.strip() if answer.returncode == 0 else ""


while not stop_file.exists() and time.monotonic() - start < 900:
    rounds += 1
    now = {c: primary(c) for c in containers}
    at = round(time.monotonic() - start, 1)
    primaries = [c for c, answer in now.items() if answer == "t"]
    if len(primaries) > 1:
        doubles.append({"at": at, "primaries": primaries})
    for c, answer in now.items():
        if last.get(c) != answer:
            changes.append({"at": at, "host": c, "primary": {"t": True, "f": False}.get(answer)})
    last = now
print(json.dumps({"rounds": rounds, "doubles": doubles, "changes": changes}))
