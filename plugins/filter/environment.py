"""Filters for the settings files the roles write."""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

# What a value may hold unquoted: read the same by systemd's EnvironmentFile= and by sh.
_PLAIN = re.compile(r"[A-Za-z0-9_@%+=:,./-]*\Z")
_ESCAPED = re.compile(r'(["\\$`])')


def env_value(value: object) -> str:
    """A value for a KEY=VALUE line of a systemd EnvironmentFile (also sourced by sh): as it is
    when it holds only characters both read literally, otherwise in double quotes with \\, ",
    $ and ` escaped, which both read back to the value (newlines included)."""
    if isinstance(value, bool):
        value = "true" if value else "false"
    if not isinstance(value, (str, int, float)):
        raise AnsibleFilterError(f"env_value: {type(value).__name__} is not a setting's value")
    text = str(value)
    if _PLAIN.match(text):
        return text
    return '"' + _ESCAPED.sub(r"\\\1", text) + '"'


class FilterModule:
    def filters(self) -> dict:
        return {"env_value": env_value}
