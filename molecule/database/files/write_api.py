"""A client that writes through the Prefect API while the database fails over: every 0.2 s it
sets the variable NAME to the next number (PATCH /api/variables/name/NAME), until the stop
file exists (or --seconds pass). Prints, as JSON, how many writes it made, which failed, the
longest time between two acknowledged writes, and the last value the API acknowledged.

usage: PREFECT_API_PASSWORD=... python3 write_api.py URL NAME STOP_FILE [--seconds N]

The variable must exist. A write the API acknowledged (204) must still be there afterwards: the
caller reads the variable back and compares it with "acknowledged".
"""

import argparse
import base64
import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("url")
parser.add_argument("name")
parser.add_argument("stop_file")
parser.add_argument("--seconds", type=float, default=600)
args = parser.parse_args()
auth = base64.b64encode(f"admin:{os.environ['PREFECT_API_PASSWORD']}".encode()).decode()
value, acknowledged, failures = 0, None, []
start = last_ok = time.monotonic()
longest_gap = 0.0
while not Path(args.stop_file).exists() and time.monotonic() - start < args.seconds:
    value += 1
    body = json.dumps({"value": value}).encode()
    request = urllib.request.Request(
        f"{args.url}/variables/name/{args.name}", data=body, method="PATCH"
    )
    request.add_header("Authorization", f"Basic {auth}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
        now = time.monotonic()
        longest_gap = max(longest_gap, now - last_ok)
        last_ok, acknowledged = now, value
    except (urllib.error.URLError, OSError) as error:
        failures.append(f"{time.monotonic() - start:.1f} s: {error}")
    time.sleep(0.2)
print(
    json.dumps(
        {
            "writes": value,
            "failures": failures,
            "longest_gap": round(longest_gap, 1),
            "acknowledged": acknowledged,
            "last_ok_at": round(last_ok - start, 1),
            "seconds": round(time.monotonic() - start, 1),
        }
    )
)
