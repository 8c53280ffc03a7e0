"""The lab's strategy (an opt-in: scripts/common.sh, tests/conftest.py and the molecule config
set ANSIBLE_STRATEGY=mitogen_linear with this folder as ANSIBLE_STRATEGY_PLUGINS): Ansible's
`linear`, run through Mitogen when it can be. Not part of the collection.

Mitogen (the `mitogen` package in requirements.txt) keeps one Python interpreter per host and
account for the whole run and sends each module to it, instead of starting a new Python that
unpacks the module for every task: a run that changes nothing takes markedly less time and
CPU (docs/performance.md).

Without an importable Mitogen that supports the installed ansible-core, this module is plain
`linear`, with a warning that says why. To run without Mitogen on purpose:
ANSIBLE_STRATEGY=linear (or `strategy = linear` in ansible.cfg).
"""

from __future__ import annotations

from ansible.utils.display import Display

try:
    from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule
except Exception as exc:  # noqa: BLE001 - any failure to load Mitogen means plain linear
    from ansible.plugins.strategy.linear import StrategyModule

    Display().warning(
        f"Mitogen could not be loaded ({type(exc).__name__}: {exc}); running with Ansible's "
        "linear strategy, which gives the same results more slowly. Install the project's "
        "requirements.txt (make venv) to use it, or set ANSIBLE_STRATEGY=linear to silence this."
    )

__all__ = ["StrategyModule"]
