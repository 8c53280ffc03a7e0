"""A flow for the bad manifest beside it (tests/test_preflight.py)."""

from prefect import flow


@flow
def hello() -> None:
    """Does nothing; the manifest that declares it is what is wrong."""
