"""Prometheus metrics of a Prefect fleet, read from its API at every scrape.

Run by prefect-exporter.service on the control host (installed by the zoe-prefect role
prefect_monitoring) with the Prefect venv's Python, which has prometheus_client. It asks the
API what a person would look at in the UI and exports it as gauges:

  prefect_api_up                                  1 when GET /api/health answers 200
  prefect_work_pool_paused{pool}                  1 when the pool is paused
  prefect_work_pool_workers{pool}                 workers the pool knows
  prefect_work_pool_online_workers{pool}          of them, ONLINE
  prefect_worker_online{pool,worker}              1 when the worker is ONLINE
  prefect_worker_last_heartbeat_timestamp_seconds{pool,worker}
  prefect_flow_runs_late{pool}                    flow runs in the state Late now
  prefect_flow_runs_finished{pool,state}          flow runs that ended in the last WINDOW
                                                  seconds, by final state type
  prefect_flow_runs_window_seconds                WINDOW
  prefect_api_certificate_expiry_timestamp_seconds  notAfter of the certificate the public
                                                  API presents (with --tls-endpoint)
  prefect_api_certificate_valid                   1 when that certificate verifies against
                                                  the fleet's CA for the API's name
  prefect_database_filesystem_avail_bytes         free bytes (for unprivileged users) and
  prefect_database_filesystem_size_bytes          size of the database's filesystem
                                                  (with --database-path)
  prefect_exporter_scrape_errors                  API calls that failed in this scrape

It also serves the API server's own metrics (GET /api/metrics, behind the API's basic auth)
at /api-metrics, so that Prometheus scrapes them without holding the API's password: Prefect
has no read-only credential. Both answers are made at most once per --min-interval seconds
and shared by every request in that time, one at a time, so that scrapes, however many, cost
the single-threaded API a bounded number of calls.

The auth string comes from a file (--auth-file, a systemd credential) or the environment
(PREFECT_API_AUTH_STRING), never the command line.

usage: prefect_exporter.py --listen ADDRESS --port PORT --api URL [--window SECONDS]
          [--tls-endpoint HOST:PORT --tls-ca FILE] [--database-path PATH]
          [--auth-file FILE] [--min-interval SECONDS]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import ssl
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

FINAL_STATES = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")
TIMEOUT = 10


class Api:
    """The few calls the exporter makes, with basic auth when an auth string is set."""

    def __init__(self, url: str, auth: str) -> None:
        self.url = url.rstrip("/")
        self.headers = {"Content-Type": "application/json"}
        if auth:
            self.headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
        self.errors = 0

    def call(self, path: str, body: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, headers=self.headers)
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:  # noqa: S310
            return json.loads(answer.read() or b"null")

    def healthy(self) -> bool:
        try:
            return self.call("/health") is True
        except (OSError, ValueError):
            self.errors += 1
            return False

    def count_runs(self, pool: str, flow_runs: dict) -> int:
        body = {"flow_runs": flow_runs, "work_pools": {"name": {"any_": [pool]}}}
        return int(self.call("/flow_runs/count", body))


def certificate(endpoint: str, ca_file: str) -> tuple[float, bool]:
    """The public endpoint's certificate: its notAfter (even when expired) and whether it
    verifies for the endpoint's host name against ca_file."""
    from cryptography import x509

    host, _, port = endpoint.rpartition(":")
    reader = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    reader.check_hostname = False
    reader.verify_mode = ssl.CERT_NONE  # only to read the certificate; nothing is sent
    with (
        socket.create_connection((host, int(port)), timeout=TIMEOUT) as raw,
        reader.wrap_socket(raw, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    expiry = x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp()
    verifier = ssl.create_default_context(cafile=ca_file or None)
    try:
        with (
            socket.create_connection((host, int(port)), timeout=TIMEOUT) as raw,
            verifier.wrap_socket(raw, server_hostname=host),
        ):
            valid = True
    except ssl.SSLError:
        valid = False
    return expiry, valid


class FleetCollector(Collector):
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args

    def collect(self) -> Iterator[GaugeMetricFamily]:
        args = self.args
        api = Api(args.api, args.auth)
        up = GaugeMetricFamily("prefect_api_up", "1 when the API's /health answers 200.")
        healthy = api.healthy()
        up.add_metric([], 1 if healthy else 0)
        yield up
        if healthy:
            yield from self.fleet(api)
        if args.tls_endpoint:
            yield from self.tls(api)
        if args.database_path:
            try:
                yield from self.disk()
            except OSError:
                api.errors += 1
        errors = GaugeMetricFamily(
            "prefect_exporter_scrape_errors", "API calls that failed in this scrape."
        )
        errors.add_metric([], api.errors)
        yield errors

    def fleet(self, api: Api) -> Iterator[GaugeMetricFamily]:
        paused = GaugeMetricFamily("prefect_work_pool_paused", "1 when paused.", labels=["pool"])
        workers = GaugeMetricFamily(
            "prefect_work_pool_workers", "Workers the pool knows.", labels=["pool"]
        )
        online = GaugeMetricFamily(
            "prefect_work_pool_online_workers", "Workers of the pool ONLINE.", labels=["pool"]
        )
        worker_online = GaugeMetricFamily(
            "prefect_worker_online", "1 when the worker is ONLINE.", labels=["pool", "worker"]
        )
        heartbeat = GaugeMetricFamily(
            "prefect_worker_last_heartbeat_timestamp_seconds",
            "Time of the worker's last heartbeat.",
            labels=["pool", "worker"],
        )
        late = GaugeMetricFamily(
            "prefect_flow_runs_late", "Flow runs in the state Late.", labels=["pool"]
        )
        finished = GaugeMetricFamily(
            "prefect_flow_runs_finished",
            "Flow runs that ended in the last window, by final state type.",
            labels=["pool", "state"],
        )
        window = GaugeMetricFamily(
            "prefect_flow_runs_window_seconds", "The window of prefect_flow_runs_finished."
        )
        window.add_metric([], self.args.window)
        since = (datetime.now(UTC) - timedelta(seconds=self.args.window)).isoformat()
        try:
            pools = api.call("/work_pools/filter", {})
        except (OSError, ValueError):
            api.errors += 1
            return
        for pool in pools:
            name = pool["name"]
            try:
                known = api.call(f"/work_pools/{urllib.parse.quote(name)}/workers/filter", {})
                late_runs = api.count_runs(name, {"state": {"name": {"any_": ["Late"]}}})
                ended = {
                    state: api.count_runs(
                        name,
                        {"end_time": {"after_": since}, "state": {"type": {"any_": [state]}}},
                    )
                    for state in FINAL_STATES
                }
            except (OSError, ValueError):
                api.errors += 1
                continue
            paused.add_metric([name], 1 if pool.get("is_paused") else 0)
            workers.add_metric([name], len(known))
            online.add_metric([name], sum(w.get("status") == "ONLINE" for w in known))
            for worker in known:
                worker_online.add_metric(
                    [name, worker["name"]], 1 if worker.get("status") == "ONLINE" else 0
                )
                if worker.get("last_heartbeat_time"):
                    stamp = datetime.fromisoformat(worker["last_heartbeat_time"])
                    heartbeat.add_metric([name, worker["name"]], stamp.timestamp())
            late.add_metric([name], late_runs)
            for state, count in ended.items():
                finished.add_metric([name, state], count)
        yield from (paused, workers, online, worker_online, heartbeat, late, finished, window)

    def tls(self, api: Api) -> Iterator[GaugeMetricFamily]:
        try:
            expiry, valid = certificate(self.args.tls_endpoint, self.args.tls_ca)
        except (OSError, ValueError):
            api.errors += 1
            return
        metric = GaugeMetricFamily(
            "prefect_api_certificate_expiry_timestamp_seconds",
            "notAfter of the certificate the public API presents.",
        )
        metric.add_metric([], expiry)
        yield metric
        metric = GaugeMetricFamily(
            "prefect_api_certificate_valid",
            "1 when the API's certificate verifies against the fleet's CA.",
        )
        metric.add_metric([], 1 if valid else 0)
        yield metric

    def disk(self) -> Iterator[GaugeMetricFamily]:
        stat = os.statvfs(self.args.database_path)
        avail = GaugeMetricFamily(
            "prefect_database_filesystem_avail_bytes",
            "Free bytes of the database's filesystem (for unprivileged users).",
        )
        avail.add_metric([], stat.f_bavail * stat.f_frsize)
        size = GaugeMetricFamily(
            "prefect_database_filesystem_size_bytes", "Size of the database's filesystem."
        )
        size.add_metric([], stat.f_blocks * stat.f_frsize)
        yield from (avail, size)


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - one line per scrape is noise
        pass


class Cached:
    """An answer made at most once per `seconds`, by one request at a time; the others in
    that time get the same bytes."""

    def __init__(self, make, seconds: float) -> None:
        self.make = make
        self.seconds = seconds
        self.lock = threading.Lock()
        self.made = float("-inf")
        self.answer: tuple[str, bytes] = ("503 Service Unavailable", b"")

    def get(self) -> tuple[str, bytes]:
        with self.lock:
            if time.monotonic() - self.made >= self.seconds:
                self.answer = self.make()
                self.made = time.monotonic()
            return self.answer


def api_metrics(args: argparse.Namespace) -> tuple[str, bytes]:
    """The API server's /api/metrics as it answers, or 503 (Prometheus then marks it down)."""
    api = Api(args.api, args.auth)
    request = urllib.request.Request(api.url + "/metrics", headers=api.headers)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:  # noqa: S310
            return "200 OK", answer.read()
    except (OSError, ValueError) as error:
        return "503 Service Unavailable", f"the API's /metrics: {error}\n".encode()


def application(fleet: Cached, server: Cached):
    def app(environ, start_response):
        path = environ.get("PATH_INFO", "/")
        answers = {"/metrics": fleet, "/api-metrics": server}
        if path not in answers:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"/metrics: the fleet; /api-metrics: the API server's own\n"]
        status, body = answers[path].get()
        start_response(status, [("Content-Type", CONTENT_TYPE_LATEST)])
        return [body]

    return app


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api", required=True, help="the API's URL, ending in /api")
    parser.add_argument("--window", type=int, default=3600)
    parser.add_argument("--tls-endpoint", default="", help="HOST:PORT of the public API")
    parser.add_argument("--tls-ca", default="", help="the CA the API's certificate is from")
    parser.add_argument("--database-path", default="")
    parser.add_argument("--auth-file", default="", help="a file holding the API's auth string")
    parser.add_argument(
        "--min-interval", type=float, default=10, help="seconds an answer is served again"
    )
    args = parser.parse_args()
    args.auth = os.environ.get("PREFECT_API_AUTH_STRING", "")
    if args.auth_file:
        args.auth = Path(args.auth_file).read_text(encoding="utf-8").strip()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(args))
    fleet = Cached(lambda: ("200 OK", generate_latest(registry)), args.min_interval)
    server = Cached(lambda: api_metrics(args), args.min_interval)
    httpd = make_server(
        args.listen, args.port, application(fleet, server), handler_class=QuietHandler
    )
    print(f"serving the fleet's metrics on http://{args.listen}:{args.port}/metrics", flush=True)
    httpd.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
