"""Print each server of HAProxy's prefect_api backend and its status, from the admin socket.

usage (on the load balancer, as root): python3 haproxy_servers.py
"""

import csv
import io
import socket

with socket.socket(socket.AF_UNIX) as sock:
    sock.connect("/run/haproxy/admin.sock")
    sock.sendall(b"show stat\n")
    data = b""
    while chunk := sock.recv(65536):
        data += chunk

rows = csv.reader(io.StringIO(data.decode().lstrip("# ")))
header = next(rows)
for row in rows:
    stat = dict(zip(header, row, strict=False))
    if stat.get("pxname") == "prefect_api" and stat.get("svname") not in ("FRONTEND", "BACKEND"):
        print(stat["svname"], stat["status"])
