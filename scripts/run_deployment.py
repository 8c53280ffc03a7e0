"""Trigger a run of a deployment, wait for its final state, say where it ran and how long it took.

The lab's smoke test and the tests use it; it also works by hand against any Prefect API:

    python scripts/run_deployment.py hello/hello --param name=you
    python scripts/run_deployment.py verify-filenames/verify-filenames \
        --client-env inventory/lab/.credentials/client.env

The API URL and auth string come from the environment (PREFECT_API_URL,
PREFECT_API_AUTH_STRING) or from --client-env (the client.env the prefect_server role writes).
Exit status 0 when the run ends Completed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

# The client.env reader the deploy script has (one copy of it).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "roles/prefect_deploy/files"))
from deploy_all_from_git import load_env_file  # noqa: E402


def parse_params(pairs: list[str]) -> dict[str, object]:
    """name=value pairs; a value that parses as JSON is taken as JSON (numbers, lists, ...)."""
    params: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--param wants name=value, got {pair!r}")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return params


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("deployment", help="flow-name/deployment-name")
    parser.add_argument("--param", action="append", default=[], help="name=value (repeatable)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait (default 600)")
    parser.add_argument("--client-env", type=Path, help="a client.env with the API settings")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    if args.client_env:
        load_env_file(args.client_env)

    # Imported here so that --client-env is in the environment when Prefect reads its settings.
    from prefect.deployments import run_deployment

    start = time.monotonic()
    flow_run = run_deployment(
        args.deployment,
        parameters=parse_params(args.param),
        timeout=args.timeout,
        poll_interval=1,
    )
    elapsed = time.monotonic() - start
    state = flow_run.state
    result = {
        "deployment": args.deployment,
        "flow_run_id": str(flow_run.id),
        "flow_run_name": flow_run.name,
        "state": state.type.value if state else None,
        "state_name": state.name if state else None,
        "message": state.message if state else None,
        # Workers label every run they submit with their name (the host's inventory name).
        "ran_on": (flow_run.labels or {}).get("prefect.worker.name"),
        "seconds": round(elapsed, 1),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{args.deployment}: {result['state_name']} after {result['seconds']} s"
            f" on {result['ran_on'] or 'an unknown host'} (flow run {result['flow_run_name']})"
            + (f": {result['message']}" if result["state"] != "COMPLETED" else "")
        )
    return 0 if result["state"] == "COMPLETED" else 1


if __name__ == "__main__":
    sys.exit(main())
