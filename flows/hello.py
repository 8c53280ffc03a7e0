"""The smallest useful flow: a smoke test for the whole fleet.

If `hello` completes on a worker, that worker could reach the API, clone this repository, import
a flow from it and report a result and logs back. That is why it stays trivial: when it fails,
the problem is the plumbing, never the flow.

Entrypoint: `flows/hello.py:hello`.
"""

from __future__ import annotations

import socket

from prefect import flow


@flow(log_prints=True)
def hello(name: str = "world") -> str:
    """Greet `name` and return the greeting.

    The host name is printed too, so the run's logs show which worker machine picked it up.
    """
    greeting = f"Hello, {name}!"
    print(greeting)
    print(f"Running on {socket.gethostname()}")
    return greeting


if __name__ == "__main__":
    hello()
