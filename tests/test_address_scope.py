"""The filter zoe.prefect.address_scope, which the monitoring's first-play check uses to refuse
a public listen address: each kind of address gets its scope."""

from __future__ import annotations

import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "plugins" / "filter"))
from network import address_scope  # noqa: E402


@pytest.mark.parametrize(
    ("address", "scope"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.18.0.2", "private"),
        ("192.168.1.10", "private"),
        ("100.64.0.7", "private"),  # shared address space (carrier-grade NAT)
        ("169.254.10.1", "private"),  # link-local
        ("fd00::5", "private"),
        ("[fe80::1]", "private"),
        ("8.8.8.8", "public"),
        ("2001:4860::8888", "public"),
        ("0.0.0.0", "any"),
        ("::", "any"),
        ("prefect.example.internal", "invalid"),
        ("", "invalid"),
        ("10.0.0.0/8", "invalid"),
    ],
)
def test_each_address_gets_its_scope(address: str, scope: str) -> None:
    assert address_scope(address) == scope
