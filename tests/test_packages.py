"""The hosts' package locks and wheelhouses (roles/prefect/files/packages.py): the shipped
locks match the roles' defaults, a stale lock is named, and a wheelhouse that lacks a wheel
for a kind of host is refused with the package named."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

from conftest import ROOT

SCRIPT = ROOT / "roles" / "prefect" / "files" / "packages.py"
spec = importlib.util.spec_from_file_location("packages", SCRIPT)
packages = importlib.util.module_from_spec(spec)
sys.modules["packages"] = packages  # dataclasses look their module up by name
spec.loader.exec_module(packages)


def test_the_shipped_locks_match_the_roles_defaults() -> None:
    assert packages.stale_reasons(packages.LOCKS, packages.default_inputs()) == []
    inputs = packages.default_inputs()
    assert any(r.startswith("prefect==") for r in inputs)
    assert any(r.startswith("uv==") for r in inputs)
    for target in packages.TARGETS:
        lock = (packages.LOCKS / f"{target}.txt").read_text()
        pins = dict(packages.PIN.findall(lock))
        # Every pin carries its hashes, and the inputs are pinned as given.
        assert lock.count("==") == len(pins) and "--hash=sha256:" in lock
        for requirement in inputs:
            name, version = requirement.split("==")
            assert pins[name] == version, (target, requirement)


def test_a_changed_input_makes_the_locks_stale(tmp_path: Path) -> None:
    locks = tmp_path / "locks"
    shutil.copytree(packages.LOCKS, locks)
    expected = [r for r in packages.default_inputs() if not r.startswith("prefect==")]
    expected.append("prefect==3.9.2")
    reasons = packages.stale_reasons(locks, expected)
    assert reasons and "lacks ['prefect==3.9.2']" in reasons[0]
    # A lock made from other inputs than requirements.in says so, by name.
    (locks / "linux-cp313.txt").write_text("# inputs-sha256: " + "0" * 64 + "\n")
    reasons = packages.stale_reasons(locks, packages.default_inputs())
    assert reasons == [
        f"{locks / 'linux-cp313.txt'} was made from other inputs than {locks / 'requirements.in'}"
    ]
    with pytest.raises(packages.PackagesError, match="Run `make lock`"):
        packages.cmd_check(locks)


def wheels(tmp_path: Path, *names: str) -> list[Path]:
    paths = [tmp_path / name for name in names]
    for path in paths:
        path.touch()
    return paths


def test_a_wheel_must_fit_the_hosts_python_and_platform(tmp_path: Path) -> None:
    lock = tmp_path / "lock.txt"
    lock.write_text(
        "orjson==3.11.0 \\\n    --hash=sha256:aa\nanyio==4.9.0 \\\n    --hash=sha256:bb\n"
    )
    found = wheels(
        tmp_path,
        "orjson-3.11.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "anyio-4.9.0-py3-none-any.whl",
    )
    assert packages.missing_wheels(lock, found, packages.TARGETS["linux-cp311"]) == []
    # The same wheelhouse does not serve Python 3.13, nor Windows: the package is named.
    assert packages.missing_wheels(lock, found, packages.TARGETS["linux-cp313"]) == [
        "orjson==3.11.0"
    ]
    assert packages.missing_wheels(lock, found, packages.TARGETS["windows-cp312"]) == [
        "orjson==3.11.0"
    ]
    # A stable-ABI wheel serves every newer CPython; a musl wheel serves no Debian host.
    abi3 = wheels(tmp_path, "orjson-3.11.0-cp39-abi3-manylinux_2_28_x86_64.whl")
    assert packages.missing_wheels(lock, abi3 + found[1:], packages.TARGETS["linux-cp313"]) == []
    musl = wheels(tmp_path, "orjson-3.11.0-cp311-cp311-musllinux_1_2_x86_64.whl")
    assert packages.missing_wheels(lock, musl + found[1:], packages.TARGETS["linux-cp311"]) == [
        "orjson==3.11.0"
    ]


def test_no_lock_for_a_kind_of_host_is_refused(tmp_path: Path) -> None:
    with pytest.raises(packages.PackagesError, match="no lock for linux-cp314 .* run `make lock`"):
        packages.cmd_wheelhouse(packages.LOCKS, "linux-cp314", tmp_path, [])
