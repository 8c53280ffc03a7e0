"""Host packages: hash-locked requirements per target and the wheelhouses built from them.

Hosts never resolve dependencies themselves. The controller holds one lock per target (the
Python and platform of a kind of host), made by `uv pip compile --generate-hashes` from one
list of inputs (requirements.in: prefect, prefect-shell, prefect-redis, uv and the workers'
extra packages), and builds from each lock, once, a wheelhouse: a tar of the locked wheels that
hosts install offline with uv. The role (roles/prefect/tasks/packages.yml) calls `wheelhouse`;
`make lock` calls `lock`, and `make lint` calls `check` so that a lock never drifts from its
inputs.

usage:
  packages.py lock [--dir DIR] [--requirement REQ ...]   write requirements.in and the locks
  packages.py check [--dir DIR]                          the locks match the roles' defaults
  packages.py wheelhouse --dir DIR --target T --cache C  build (or reuse) T's wheelhouse
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROLES = Path(__file__).resolve().parents[2]
LOCKS = Path(__file__).resolve().parent / "locks"
INPUTS = "requirements.in"


@dataclass(frozen=True)
class Target:
    """A kind of host: the Python its venv runs and the platform its wheels must fit."""

    python: str
    os: str  # linux or windows
    uv_platform: str
    pip_platforms: tuple[str, ...]


# Debian 12 and 13 (glibc 2.36 and 2.41): wheels for manylinux 2.36 or older run on both.
_MANYLINUX = tuple(f"manylinux_2_{minor}_x86_64" for minor in range(36, 4, -1)) + (
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
)
TARGETS = {
    "linux-cp311": Target("3.11", "linux", "x86_64-manylinux_2_36", _MANYLINUX),
    "linux-cp313": Target("3.13", "linux", "x86_64-manylinux_2_36", _MANYLINUX),
    # Windows hosts run the Python of prefect_worker_windows_python_version: 3.11 to 3.13
    # (prefect-redis, among the shared inputs, needs 3.11 or newer).
    "windows-cp311": Target("3.11", "windows", "x86_64-pc-windows-msvc", ("win_amd64",)),
    "windows-cp312": Target("3.12", "windows", "x86_64-pc-windows-msvc", ("win_amd64",)),
    "windows-cp313": Target("3.13", "windows", "x86_64-pc-windows-msvc", ("win_amd64",)),
}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.M)


class PackagesError(Exception):
    """A lock or wheelhouse problem, with a message that says what to do."""


def normalize(requirements: list[str]) -> list[str]:
    """The inputs as requirements.in holds them: trimmed, lower-case, unique, sorted."""
    return sorted({r.strip().lower().replace(" ", "") for r in requirements if r.strip()})


def inputs_text(requirements: list[str]) -> str:
    return "".join(f"{r}\n" for r in normalize(requirements))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def default_inputs() -> list[str]:
    """What the roles' defaults install on hosts: prefect, shell, redis, uv, extras."""
    import yaml  # the controller's Ansible brings PyYAML

    base = yaml.safe_load((ROLES / "prefect" / "defaults" / "main.yml").read_text())
    worker = yaml.safe_load((ROLES / "prefect_worker" / "defaults" / "main.yml").read_text())
    server = yaml.safe_load((ROLES / "prefect_server" / "defaults" / "main.yml").read_text())
    return normalize(
        [
            f"prefect=={base['prefect_version']}",
            f"uv=={base['prefect_uv_version']}",
            f"prefect-shell=={worker['prefect_worker_prefect_shell_version']}",
            f"prefect-redis=={server['prefect_server_prefect_redis_version']}",
            *worker["prefect_worker_pip_packages"],
        ]
    )


def header_hash(lock: Path) -> str:
    match = re.search(r"^# inputs-sha256: ([0-9a-f]{64})$", lock.read_text(), re.M)
    return match.group(1) if match else ""


def uv_binary() -> str:
    found = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    if not Path(found).exists():
        raise PackagesError("uv is needed to make locks: pip install uv (make venv does)")
    return found


def cmd_lock(directory: Path, requirements: list[str]) -> None:
    text = inputs_text(requirements or default_inputs())
    directory.mkdir(parents=True, exist_ok=True)
    (directory / INPUTS).write_text(text)
    digest = sha256(text.encode())
    for name, target in TARGETS.items():
        out = directory / f"{name}.txt"
        compiled = subprocess.run(
            [uv_binary(), "pip", "compile", str(directory / INPUTS), "--no-header",
             "--generate-hashes", "--only-binary", ":all:", "--python-version", target.python,
             "--python-platform", target.uv_platform],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if compiled.returncode != 0:
            raise PackagesError(f"uv pip compile for {name} failed:\n{compiled.stderr}")
        out.write_text(
            f"# Hash-locked host packages for {name} "
            f"(Python {target.python}, {target.os} x86_64).\n"
            f"# Made by `make lock` from {INPUTS}; do not edit by hand.\n"
            f"# inputs-sha256: {digest}\n" + compiled.stdout
        )
        print(f"{out}: {len(PIN.findall(compiled.stdout))} packages")


def stale_reasons(directory: Path, expected: list[str]) -> list[str]:
    """Why the locks in `directory` do not fit `expected` inputs (empty: they do)."""
    inputs = directory / INPUTS
    if not inputs.exists():
        return [f"{inputs} is missing"]
    reasons = []
    held = inputs.read_text()
    if held != inputs_text(expected):
        missing = sorted(set(normalize(expected)) - set(held.split()))
        extra = sorted(set(held.split()) - set(normalize(expected)))
        reasons.append(f"{inputs} lacks {missing or 'nothing'} and has {extra or 'nothing'} more")
    for name in TARGETS:
        lock = directory / f"{name}.txt"
        if not lock.exists():
            reasons.append(f"{lock} is missing")
        elif header_hash(lock) != sha256(held.encode()):
            reasons.append(f"{lock} was made from other inputs than {inputs}")
    return reasons


def cmd_check(directory: Path) -> None:
    reasons = stale_reasons(directory, default_inputs())
    if reasons:
        raise PackagesError(
            "The host package locks are stale: " + "; ".join(reasons) + ". Run `make lock`."
        )
    print(f"{directory}: the locks match the roles' defaults")


def supported_tags(target: Target) -> set:
    from packaging import tags  # the controller's Ansible brings packaging

    version = tuple(int(part) for part in target.python.split("."))
    platforms = list(target.pip_platforms)
    return set(tags.cpython_tags(version, platforms=platforms)) | set(
        tags.compatible_tags(version, f"cp{version[0]}{version[1]}", platforms)
    )


def missing_wheels(lock: Path, wheels: list[Path], target: Target) -> list[str]:
    """The locked pins that no wheel of `wheels` serves on `target`."""
    from packaging.utils import canonicalize_name, parse_wheel_filename

    supported = supported_tags(target)
    have: set[tuple[str, str]] = set()
    for wheel in wheels:
        name, version, _, wheel_tags = parse_wheel_filename(wheel.name)
        if wheel_tags & supported:
            have.add((name, str(version)))
    return [
        f"{name}=={version}"
        for name, version in PIN.findall(lock.read_text())
        if (canonicalize_name(name), version) not in have
    ]


def cmd_wheelhouse(directory: Path, target_name: str, cache: Path, pip_args: list[str]) -> None:
    target = TARGETS.get(target_name)
    lock = directory / f"{target_name}.txt"
    if target is None or not lock.exists():
        raise PackagesError(
            f"no lock for {target_name} in {directory} (it has "
            f"{', '.join(sorted(p.stem for p in directory.glob('*-cp*.txt'))) or 'none'}); "
            "run `make lock` (see docs/install.md, 'Host packages')"
        )
    inputs = directory / INPUTS
    if not inputs.exists() or header_hash(lock) != sha256(inputs.read_bytes()):
        raise PackagesError(
            f"{lock} was not made from {inputs} as it is now: run `make lock` "
            f"(LOCK_DIR={directory}) again"
        )
    digest = sha256(lock.read_bytes())
    tar = cache / f"{target_name}-{digest[:16]}.tar"
    if not tar.exists():
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache, prefix=".build-") as work:
            wheels = Path(work) / "wheels"
            download = [
                sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                "--only-binary", ":all:", "--require-hashes", "--python-version", target.python,
                "--implementation", "cp", "--dest", str(wheels), "--requirement", str(lock),
                *[arg for platform in target.pip_platforms for arg in ("--platform", platform)],
                *pip_args,
            ]  # fmt: skip
            # The controller's pip settings (index, proxy, CA) apply; a constraints file of
            # the machine's own would fight the lock, so it does not.
            env = dict(os.environ, PIP_CONSTRAINT="", PIP_DISABLE_PIP_VERSION_CHECK="1")
            done = subprocess.run(download, capture_output=True, text=True, env=env, check=False)
            if done.returncode == 0:
                missing = missing_wheels(lock, sorted(wheels.glob("*.whl")), target)
            else:
                missing = re.findall(r"No matching distribution found for (\S+)", done.stderr)
            if done.returncode != 0 or missing:
                raise PackagesError(
                    f"no wheel for Python {target.python} on {target.os} x86_64 of "
                    f"{', '.join(missing) or 'a locked package'} (lock {lock}). pip said: "
                    + " ".join(line for line in done.stderr.splitlines() if "ERROR" in line)
                )
            shutil.copy(lock, wheels / "requirements.txt")
            partial = Path(work) / tar.name
            with tarfile.open(partial, "w") as archive:
                for path in sorted(wheels.iterdir()):
                    archive.add(path, arcname=path.name)
            partial.replace(tar)  # complete, or not there at all
    with tarfile.open(tar) as archive:
        names = archive.getnames()
    uv_wheel = next((n for n in names if n.startswith("uv-") and n.endswith(".whl")), None)
    if uv_wheel is None:
        raise PackagesError(f"{lock} does not lock uv (hosts install with it): run `make lock`")
    print(json.dumps({"tar": str(tar), "lock_sha256": digest, "uv_wheel": uv_wheel}))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    lock = sub.add_parser("lock", help="write requirements.in and one lock per target")
    lock.add_argument("--dir", type=Path, default=LOCKS)
    lock.add_argument("--requirement", action="append", default=[], help="an input (repeat)")
    check = sub.add_parser("check", help="fail when the locks do not fit the roles' defaults")
    check.add_argument("--dir", type=Path, default=LOCKS)
    wheelhouse = sub.add_parser("wheelhouse", help="build a target's wheelhouse from its lock")
    wheelhouse.add_argument("--dir", type=Path, default=LOCKS)
    wheelhouse.add_argument("--target", required=True, help=", ".join(TARGETS))
    wheelhouse.add_argument("--cache", type=Path, required=True)
    wheelhouse.add_argument("pip_args", nargs="*", help="after --: pip download options")
    args = parser.parse_args(argv)
    try:
        if args.command == "lock":
            cmd_lock(args.dir, args.requirement)
        elif args.command == "check":
            cmd_check(args.dir)
        else:
            cmd_wheelhouse(args.dir, args.target, args.cache, args.pip_args)
    except PackagesError as exc:
        print(f"packages.py: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
