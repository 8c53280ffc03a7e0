"""Flows that only the parallel tests deploy: children with a known outcome."""

from __future__ import annotations

from prefect import flow


@flow
def fail_on_purpose() -> None:
    """A child deployment that always fails, to see run_in_parallel report it."""
    raise RuntimeError("this child fails on purpose")
