"""Filters about the addresses the roles bind services to."""

from __future__ import annotations

import ipaddress


def address_scope(value: object) -> str:
    """Where an address can be reached from: "loopback", "private" (any address that is not
    globally routable: RFC 1918, unique local, link-local, shared address space), "public",
    "any" (0.0.0.0 or ::, every interface) or "invalid" (not an IP address)."""
    try:
        address = ipaddress.ip_address(str(value).strip("[]"))
    except ValueError:
        return "invalid"
    if address.is_unspecified:
        return "any"
    if address.is_loopback:
        return "loopback"
    return "public" if address.is_global else "private"


class FilterModule:
    def filters(self) -> dict:
        return {"address_scope": address_scope}
