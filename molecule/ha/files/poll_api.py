"""A client of the API through the load balancer: alternately GET /api/health and POST
/api/flow_runs/filter, every 0.05 s, until the stop file exists (or --seconds pass); prints
how many requests it made and which failed, as JSON.

usage: PREFECT_API_PASSWORD=... python3 poll_api.py URL STOP_FILE [--seconds N] [--cafile CA]

Each request opens a connection of its own (with HTTPS, a TLS handshake with the load balancer).
"""

import argparse
import base64
import json
import os
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("url")
parser.add_argument("stop_file")
parser.add_argument("--seconds", type=float, default=600)
parser.add_argument("--cafile", help="CA bundle the load balancer's certificate is verified with")
args = parser.parse_args()
context = ssl.create_default_context(cafile=args.cafile)
auth = base64.b64encode(f"admin:{os.environ['PREFECT_API_PASSWORD']}".encode()).decode()
requests = [
    ("GET", "/health", None),
    ("POST", "/flow_runs/filter", json.dumps({"limit": 1}).encode()),
]
count, failures, start = 0, [], time.monotonic()
while not Path(args.stop_file).exists() and time.monotonic() - start < args.seconds:
    method, path, body = requests[count % len(requests)]
    request = urllib.request.Request(args.url + path, data=body, method=method)
    request.add_header("Authorization", f"Basic {auth}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            response.read()
    except (urllib.error.URLError, OSError) as error:
        failures.append(f"{time.monotonic() - start:.1f} s {method} {path}: {error}")
    count += 1
    time.sleep(0.05)
print(json.dumps({"requests": count, "failures": failures, "seconds": time.monotonic() - start}))
