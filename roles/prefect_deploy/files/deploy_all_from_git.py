"""Register every deployment declared in a flows repository's manifest, pulling from Git.

The manifest (deployments/prefect.yaml) uses the `deployments:` list of Prefect's own
prefect.yaml: name, entrypoint, description, work_pool (name, work_queue_name, job_variables),
schedules (interval or cron), parameters, tags, paused, enforce_parameter_schema. Every
deployment gets pull steps that clone --repo-url at --branch, so workers clone the repository
for every run: Prefect's `git_clone` for a public repository. A private repository's token
(--token-file or --token-stdin, with --token-user) lives in a Prefect Secret block
(--token-secret) as an HTTP Authorization header; the pull steps only name the block, and run
`git clone` with the header in git's environment (GIT_CONFIG_*, http.<url>.extraHeader), so the
token is never in a command line, a clone URL or the clone's .git/config.

It is idempotent and says what it did: a deployment whose declaration did not change is not
touched (its scheduled runs stay), changed ones are updated, new ones created, and with
--prune the deployments pulled from the same repository that are no longer declared are
removed. Every entry is checked first (missing or non-existent entrypoint, unknown work pool,
both interval and cron, duplicate names, unknown keys or parameters); one bad entry stops the
run before any deployment changes, with messages naming the entries.

The repository's code never runs in the script's process. Without a server (--offline, the
controller's preflight check) flow names and parameters are read from the source alone (the
`@flow(name=...)` literal and the function's signature); nothing of the repository is
imported. Against a server, each flow's name and parameter schema come from Prefect's loader
in a separate process: as root that is a transient systemd unit with a dynamic user, no
network, a read-only file system and the configuration folders hidden (--hide), so it has
none of root's privileges; as any other user, a child with a bare environment and an empty
home and working folder (still that user: do not run it as a user whose files matter more
than the repository's authors). The script leaves the current folder before Prefect loads its
settings, so a checkout's .env or prefect.toml is not read.

By hand, against any Prefect API (PREFECT_API_URL / PREFECT_API_AUTH_STRING, or --client-env):

    python deployments/deploy_all_from_git.py --check          # what would change
    python deployments/deploy_all_from_git.py                  # apply
    python deployments/deploy_all_from_git.py --repo-url https://git.example/flows.git --branch main

Without --repo-url and --branch, the repository's `origin` remote and current branch are used.
Exit status: 0 done, 2 the manifest has errors (nothing changed), 1 any other failure.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import atexit
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

# Not resolved: run as deployments/deploy_all_from_git.py (a link to the role's file), the
# default repository is the checkout the link sits in.
HERE = Path(__file__).absolute().parent
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
ENTRY_KEYS = {
    "retry_on_crash",
    "name",
    "entrypoint",
    "description",
    "work_pool",
    "schedules",
    "parameters",
    "tags",
    "paused",
    "enforce_parameter_schema",
}
WORK_POOL_KEYS = {"name", "work_queue_name", "job_variables"}
SCHEDULE_KEYS = {"interval", "cron", "timezone", "active"}
GIT_CLONE = "prefect.deployments.steps.git_clone"
RUN_SHELL = "prefect.deployments.steps.run_shell_script"
SET_DIR = "prefect.deployments.steps.set_working_directory"
DEFAULT_TOKEN_USER = "x-access-token"
# With a token the clone is a command line (shlex on Linux, cmd.exe on Windows): only
# characters that mean nothing to either.
SAFE_URL = re.compile(r"^https?://[A-Za-z0-9._~:/@%+=-]+$")
SAFE_BRANCH = re.compile(r"^[A-Za-z0-9._/+-]+$")
# Automations this script owns: one per deployment that opts in to a replacement run.
RETRY_PREFIX = "zoe-prefect: re-run "
# retry_on_crash: {max: N}: the replacement of attempt k runs on deployment NAME--crash-retry-k,
# so that a chain of N automations (one per attempt) ends after N replacements.
RETRY_SUFFIX = "--crash-retry-"
MAX_CRASH_RETRIES = 5
PAGE = 200  # the most objects the API gives in one answer (PREFECT_API_DEFAULT_LIMIT)


class ManifestError(Exception):
    """The manifest has problems; each line names the entry and what to fix."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class Spec:
    """One declared deployment, checked and normalised."""

    label: str
    name: str
    flow_name: str
    entrypoint: str
    work_pool: str
    work_queue: str | None
    job_variables: dict[str, Any]
    description: str
    tags: list[str]
    parameters: dict[str, Any]
    schedules: list[dict[str, Any]]
    paused: bool
    enforce_parameter_schema: bool
    # How many replacement runs a crashed run may get, one after another (0: none).
    retry_on_crash: int = 0
    parameter_schema: dict[str, Any] = field(default_factory=dict)
    # For the deployments that receive replacement runs: the declared one and the attempt.
    retry_of: str | None = None
    attempt: int = 0

    @property
    def full_name(self) -> str:
        return f"{self.flow_name}/{self.name}"


@dataclass
class Plan:
    """What a run changes; `changed` says whether anything will be (or was) touched."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    paused: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # "created/updated/removed: <automation name>" for the replacement-run automations.
    retries: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.removed or self.retries)

    def as_dict(self) -> dict[str, Any]:
        return {
            "changed": self.changed,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "paused": self.paused,
            "warnings": self.warnings,
            "retries": self.retries,
        }


# --- reading and checking the manifest (no API calls) -------------------------------------


def load_manifest(path: Path) -> list[dict[str, Any]]:
    """The `deployments:` list of a prefect.yaml-shaped file."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ManifestError([f"{path}: cannot read the manifest: {exc}"]) from exc
    if not isinstance(data, dict) or not isinstance(data.get("deployments"), list):
        raise ManifestError([f"{path}: expected a mapping with a 'deployments:' list"])
    return data["deployments"]


def function_defined(path: Path, function: str) -> bool:
    """Whether `function` is defined at the top level of the Python file (without running it)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == function
        for node in tree.body
    )


def check_schedule(label: str, index: int, schedule: Any) -> tuple[list[str], dict[str, Any]]:
    """Problems with one schedule entry, and its normalised form."""
    where = f"{label}: schedules[{index}]"
    if not isinstance(schedule, dict):
        return [f"{where} must be a mapping with 'interval' (seconds) or 'cron'"], {}
    problems = [f"{where}: unknown key '{k}'" for k in sorted(set(schedule) - SCHEDULE_KEYS)]
    has_interval, has_cron = "interval" in schedule, "cron" in schedule
    normal: dict[str, Any] = {"active": bool(schedule.get("active", True))}
    if has_interval and has_cron:
        problems.append(f"{where} has both 'interval' and 'cron'; give one schedule per entry")
    elif has_interval:
        interval = schedule["interval"]
        if isinstance(interval, bool) or not isinstance(interval, int | float) or interval <= 0:
            problems.append(f"{where}: interval must be a positive number of seconds")
        else:
            normal["interval"] = float(interval)
    elif has_cron:
        # Imported here: the controller's preflight check of a manifest without a cron
        # schedule then never imports prefect (2-3 s of every site.yml run).
        from prefect.client.schemas.schedules import CronSchedule

        try:
            cron = CronSchedule(cron=str(schedule["cron"]), timezone=schedule.get("timezone"))
        except ValueError as exc:
            problems.append(f"{where}: invalid cron {schedule['cron']!r}: {exc}")
        else:
            normal["cron"] = cron.cron
    else:
        problems.append(f"{where} needs 'interval' (seconds) or 'cron'")
    if schedule.get("timezone") is not None:
        normal["timezone"] = str(schedule["timezone"])
    return problems, normal


def entrypoint_problem(entry: Any, repo_dir: Path) -> str | None:
    """Why the entry's entrypoint cannot be read (None: its file defines the function)."""
    entrypoint = entry.get("entrypoint") if isinstance(entry, dict) else None
    if not isinstance(entrypoint, str) or ":" not in entrypoint:
        return "'entrypoint' is missing; give path/to/file.py:flow_function"
    file_part, _, function = entrypoint.rpartition(":")
    path = (repo_dir / file_part).resolve()
    if not path.is_relative_to(repo_dir.resolve()) or not path.is_file():
        return f"entrypoint file {file_part} does not exist in the repository"
    try:
        defined = function_defined(path, function)
    except SyntaxError as exc:
        return f"{file_part} is not valid Python: {exc.msg} (line {exc.lineno})"
    if not defined:
        return f"{file_part} defines no function '{function}'"
    return None


def check_entry(
    index: int, entry: Any, repo_dir: Path, descriptions: dict[str, Description]
) -> tuple[list[str], Spec | None]:
    """Problems with one manifest entry (each naming it), and the entry as a Spec if none.

    `descriptions` holds the flow name and parameter schema of every readable entrypoint, or
    the error that reading it raised."""
    if not isinstance(entry, dict):
        return [f"deployments[{index}] must be a mapping"], None
    label = f"deployments[{index}] ({entry.get('name', 'no name')})"
    problems = [f"{label}: unknown key '{k}'" for k in sorted(set(entry) - ENTRY_KEYS)]

    name = entry.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        problems.append(f"{label}: 'name' must be letters, digits, '.', '-' or '_' (got {name!r})")
    elif RETRY_SUFFIX in name:
        problems.append(
            f"{label}: names with {RETRY_SUFFIX!r} are reserved for the deployments that receive "
            "replacement runs (retry_on_crash)"
        )

    entrypoint = entry.get("entrypoint")
    flow_name = ""
    schema: dict[str, Any] = {}
    problem = entrypoint_problem(entry, repo_dir)
    if problem:
        problems.append(f"{label}: {problem}")
    elif descriptions[entrypoint].error:
        problems.append(f"{label}: {entrypoint} cannot be loaded: {descriptions[entrypoint].error}")
    else:
        flow_name, schema = descriptions[entrypoint].name, descriptions[entrypoint].schema

    pool = entry.get("work_pool")
    if not isinstance(pool, dict) or not isinstance(pool.get("name"), str):
        problems.append(f"{label}: 'work_pool: {{name: ...}}' is missing")
        pool = {}
    problems += [
        f"{label}: work_pool: unknown key '{k}'" for k in sorted(set(pool) - WORK_POOL_KEYS)
    ]

    schedules = entry.get("schedules") or []
    normal_schedules = []
    if not isinstance(schedules, list):
        problems.append(f"{label}: 'schedules' must be a list")
        schedules = []
    for i, schedule in enumerate(schedules):
        more, normal = check_schedule(label, i, schedule)
        problems += more
        normal_schedules.append(normal)

    parameters = entry.get("parameters") or {}
    tags = entry.get("tags") or []
    if not isinstance(parameters, dict):
        problems.append(f"{label}: 'parameters' must be a mapping")
    elif schema.get("properties") is not None:
        unknown = sorted(set(parameters) - set(schema["properties"]))
        if unknown:
            problems.append(
                f"{label}: the flow takes no parameter {', '.join(unknown)} "
                f"(it takes {', '.join(schema['properties']) or 'none'})"
            )
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        problems.append(f"{label}: 'tags' must be a list of strings")
    retries = retry_bound(entry.get("retry_on_crash", False))
    if retries is None:
        problems.append(
            f"{label}: 'retry_on_crash' must be true (one replacement run), false, or "
            f"{{max: N}} with N from 0 to {MAX_CRASH_RETRIES}"
        )

    if problems:
        return problems, None
    return [], Spec(
        label=label,
        name=name,
        flow_name=flow_name,
        entrypoint=entrypoint,
        work_pool=pool["name"],
        work_queue=pool.get("work_queue_name"),
        job_variables=pool.get("job_variables") or {},
        description=str(entry.get("description") or ""),
        tags=sorted(set(tags)),
        parameters=parameters,
        schedules=normal_schedules,
        paused=bool(entry.get("paused", False)),
        enforce_parameter_schema=bool(entry.get("enforce_parameter_schema", True)),
        retry_on_crash=retries or 0,
        parameter_schema=schema,
    )


def retry_bound(value: Any) -> int | None:
    """retry_on_crash as a number of replacement runs; None when it is not valid."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, dict) and set(value) == {"max"}:
        bound = value["max"]
        if type(bound) is int and 0 <= bound <= MAX_CRASH_RETRIES:
            return bound
    return None


def with_retry_deployments(specs: list[Spec]) -> list[Spec]:
    """The declared deployments, each followed by the deployments that receive its
    replacement runs: NAME--crash-retry-1..N, unscheduled, otherwise the same."""
    out = []
    for spec in specs:
        out.append(spec)
        for attempt in range(1, spec.retry_on_crash + 1):
            out.append(
                replace(
                    spec,
                    label=f"{spec.label} (replacement runs, attempt {attempt})",
                    name=f"{spec.name}{RETRY_SUFFIX}{attempt}",
                    description=f"Replacement runs of {spec.full_name} after a crash, attempt "
                    f"{attempt} of {spec.retry_on_crash} (retry_on_crash in the manifest). "
                    "Managed by deploy_all_from_git.",
                    schedules=[],
                    retry_on_crash=0,
                    retry_of=spec.full_name,
                    attempt=attempt,
                )
            )
    return out


@dataclass
class Description:
    """What registration needs to know of a flow: its name and parameter schema."""

    name: str = ""
    schema: dict[str, Any] = field(default_factory=dict)
    error: str = ""


Describer = Callable[[Path, list[str]], dict[str, Description]]


def flow_decorator_name(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    """The literal `name=` of the function's `@flow(...)` decorator, if it has one."""
    for decorator in node.decorator_list:
        if not isinstance(decorator, ast.Call):
            continue
        for keyword in decorator.keywords:
            value = keyword.value
            if keyword.arg == "name" and isinstance(getattr(value, "value", None), str):
                return value.value
    return None


def describe_statically(repo_dir: Path, entrypoints: list[str]) -> dict[str, Description]:
    """Flow names and parameter names read from the source alone: no repository code runs.

    The name is the decorator's `name=` literal or Prefect's default (the function's name with
    '-' for '_'); the schema lists the parameters by name only, or is empty (no check) when
    the function takes **kwargs."""
    descriptions = {}
    for entrypoint in entrypoints:
        file_part, _, function = entrypoint.rpartition(":")
        tree = ast.parse((repo_dir / file_part).read_text(), filename=file_part)
        node = next(
            n
            for n in tree.body
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == function
        )
        args = node.args
        names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
        schema = {} if args.kwarg else {"properties": {n: {} for n in names}}
        name = flow_decorator_name(node) or function.replace("_", "-")
        descriptions[entrypoint] = Description(name=name, schema=schema)
    return descriptions


def describe_here(repo_dir: Path, entrypoints: list[str]) -> dict[str, Description]:
    """Each flow's name and parameter schema the way `prefect deploy` reads them.

    This imports the flows' modules (and what they import), so only --describe-flows runs it:
    in the child process that describe_isolated starts."""
    from prefect.flows import safe_load_flow_from_entrypoint
    from prefect.utilities.callables import parameter_schema_from_entrypoint

    descriptions = {}
    for entrypoint in entrypoints:
        file_part, _, function = entrypoint.rpartition(":")
        full = f"{repo_dir / file_part}:{function}"
        try:
            flow = safe_load_flow_from_entrypoint(full)
            name = getattr(flow, "name", None) or function.replace("_", "-")
            schema = parameter_schema_from_entrypoint(full).model_dump()
            descriptions[entrypoint] = Description(name=name, schema=schema)
        except Exception as exc:  # noqa: BLE001 - any failure of the repository's code
            descriptions[entrypoint] = Description(error=f"{type(exc).__name__}: {exc}")
    return descriptions


# The transient unit the repository's code runs in as root: a dynamic user, no network,
# nothing writable but its private /tmp, no capabilities, and the folders with secrets hidden.
SANDBOX_PROPERTIES = [
    "DynamicUser=yes",
    "PrivateNetwork=yes",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectControlGroups=yes",
    "NoNewPrivileges=yes",
    "CapabilityBoundingSet=",
    "RestrictAddressFamilies=AF_UNIX",
    "RestrictNamespaces=yes",
    "RestrictSUIDSGID=yes",
    "LockPersonality=yes",
    "SystemCallArchitectures=native",
    "SystemCallFilter=@system-service",
    "UMask=0077",
    "RuntimeMaxSec=300",
    "MemoryMax=2G",
]
SANDBOX_REPO = "/run/zoe-prefect-flows-repo"


def command_escape(text: str) -> str:
    """An argument as systemd-run's command line passes it on: systemd expands $VARIABLES
    there (not % specifiers, checked on systemd 252), so $ is doubled."""
    return text.replace("$", "$$")


def describe_isolated(hide: list[Path]) -> Describer:
    """A describer that runs describe_here in a child process without the script's privileges:
    as root, a sandboxed transient systemd unit (a dynamic user) that cannot see `hide`;
    otherwise a child with a bare environment and an empty home of its own (it still runs as
    the calling user, who should not be root)."""

    def describe(repo_dir: Path, entrypoints: list[str]) -> dict[str, Description]:
        if not entrypoints:
            return {}
        script = str(Path(__file__).resolve())
        home: tempfile.TemporaryDirectory[str] | None
        if os.geteuid() == 0:
            if not Path("/run/systemd/system").is_dir():
                raise ManifestError(
                    [
                        "refusing to load the flows repository's code as root without systemd "
                        "(run this script as an unprivileged user)"
                    ]
                )
            properties = SANDBOX_PROPERTIES + [
                f"BindReadOnlyPaths={repo_dir.resolve()}:{SANDBOX_REPO}",
                *(f"InaccessiblePaths=-{path}" for path in hide),
            ]
            argv = ["systemd-run", "--quiet", "--wait", "--pipe", "--collect"]
            argv += ["--service-type=exec", "--working-directory=/tmp"]
            argv += ["--setenv=HOME=/tmp", "--setenv=PREFECT_HOME=/tmp/prefect"]
            argv += [f"--property={p}" for p in properties]
            command = [sys.executable, script, "--repo-dir", SANDBOX_REPO, "--describe-flows"]
            argv += [command_escape(a) for a in command + entrypoints]
            home = None
        else:
            argv = [sys.executable, script, "--repo-dir", str(repo_dir), "--describe-flows"]
            argv += entrypoints
            home = tempfile.TemporaryDirectory(prefix="zp-describe-")
        # Outside the sandbox, the child gets a bare environment and an empty home and working
        # folder of its own: none of the script's settings, profiles or files.
        env = (
            {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ")}
            | {"HOME": home.name, "PREFECT_HOME": f"{home.name}/prefect"}
            if home
            else None
        )
        try:
            result = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                env=env,
                cwd=home.name if home else None,
                stdin=subprocess.DEVNULL,
                timeout=600,
                check=False,
            )
        finally:
            if home:
                home.cleanup()
        try:
            answer = json.loads(result.stdout.strip().splitlines()[-1])
            return {ep: Description(**answer[ep]) for ep in entrypoints}
        except (IndexError, KeyError, TypeError, ValueError):
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise ManifestError(
                [f"reading the flows failed (exit status {result.returncode}): {last}"]
            ) from None

    return describe


def check_manifest(
    entries: list[Any],
    repo_dir: Path,
    known_pools: set[str] | None = None,
    describe: Describer = describe_statically,
) -> list[Spec]:
    """Every entry checked (pools too, when known); ManifestError lists all problems at once."""
    problems: list[str] = []
    specs: list[Spec] = []
    readable = {
        entry["entrypoint"]
        for entry in entries
        if isinstance(entry, dict) and entrypoint_problem(entry, repo_dir) is None
    }
    descriptions = describe(repo_dir, sorted(readable))
    for index, entry in enumerate(entries):
        more, spec = check_entry(index, entry, repo_dir, descriptions)
        problems += more
        if spec:
            specs.append(spec)
    if known_pools is not None:
        problems += pool_problems(specs, known_pools)
    seen: dict[str, str] = {}
    for spec in specs:
        if spec.full_name in seen:
            problems.append(
                f"{spec.label}: duplicate deployment {spec.full_name} (also {seen[spec.full_name]})"
            )
        seen[spec.full_name] = spec.label
    if problems:
        raise ManifestError(problems)
    return specs


# --- comparing with and changing the server -----------------------------------------------


def pool_problems(specs: list[Spec], pools: set[str]) -> list[str]:
    """A problem for every entry whose work pool is not one of `pools`."""
    return [
        f"{s.label}: work pool '{s.work_pool}' does not exist on the server "
        f"(known: {', '.join(sorted(pools)) or 'none'}); "
        "add a worker host serving it or fix the name"
        for s in specs
        if s.work_pool not in pools
    ]


def pull_steps(
    repo_url: str, branch: str, token_secret: str | None, submodules: bool = False
) -> list[dict[str, Any]]:
    """How a worker gets the flows: git_clone for a public repository; with a token, a plain
    `git clone` whose Authorization header reaches git only through its environment (Prefect's
    git_clone would put the token into the clone URL: argv and .git/config). Submodules only
    when asked for: they make the clone fetch whatever URLs the repository names."""
    if not token_secret:
        clone_step = {"repository": repo_url, "branch": branch}
        if submodules:
            clone_step["include_submodules"] = True
        return [{GIT_CLONE: clone_step}]
    problems = token_url_problems(repo_url, branch)
    if problems:
        raise ManifestError(problems)
    folder = clone_folder(repo_url, branch)
    clone = {
        "script": f"git clone --quiet --depth 1 --single-branch --branch {branch} "
        + ("--recurse-submodules --shallow-submodules " if submodules else "")
        + f"-- {repo_url} {folder}",
        "env": {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_COUNT": "1",
            # Scoped to the repository's URL: no other host ever receives the header.
            "GIT_CONFIG_KEY_0": f"http.{repo_url}.extraHeader",
            # Resolved by the worker at run time; the deployment holds only the block's name.
            "GIT_CONFIG_VALUE_0": "{{ prefect.blocks.secret." + token_secret + " }}",
        },
        "stream_output": False,
    }
    return [{RUN_SHELL: clone}, {SET_DIR: {"directory": folder}}]


def token_url_problems(repo_url: str, branch: str) -> list[str]:
    problems = []
    if not SAFE_URL.match(repo_url):
        problems.append(
            f"repository URL {repo_url!r}: a token is sent over http(s) only, and the URL may "
            "hold only letters, digits and . _ ~ : / @ % + = -"
        )
    if not SAFE_BRANCH.match(branch):
        problems.append(
            f"branch {branch!r}: with a token, a branch name may hold only letters, digits "
            "and . _ / + -"
        )
    return problems


def clone_folder(repo_url: str, branch: str) -> str:
    """The folder the clone goes into, named as git_clone names it (REPO-BRANCH)."""
    name = repo_url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
    return f"{name}-{branch.replace('/', '-')}"


def authorization(user: str, token: str) -> str:
    """The HTTP basic Authorization header that git sends with every request."""
    credentials = base64.b64encode(f"{user}:{token}".encode()).decode()
    return f"Authorization: Basic {credentials}"


def schedule_key(schedule: Any) -> dict[str, Any]:
    """A server-side deployment schedule in the manifest's normalised form."""
    inner = schedule.schedule
    key: dict[str, Any] = {"active": bool(schedule.active)}
    if getattr(inner, "interval", None) is not None:
        key["interval"] = inner.interval.total_seconds()
    elif getattr(inner, "cron", None) is not None:
        key["cron"] = inner.cron
    else:
        key["other"] = inner.model_dump(mode="json")
    return key


def schedule_matches(desired: dict[str, Any], actual: dict[str, Any]) -> bool:
    """The declared fields of a schedule equal the server's (a timezone only if declared)."""
    return all(actual.get(k) == v for k, v in desired.items() if k != "timezone") and (
        set(actual) - {"timezone"} == set(desired) - {"timezone"}
    )


def differences(spec: Spec, current: Any, steps: list[dict[str, Any]], paused: bool) -> list[str]:
    """The fields in which the server's deployment differs from the declaration."""
    actual_schedules = [schedule_key(s) for s in current.schedules or []]
    checks = {
        "entrypoint": current.entrypoint == spec.entrypoint,
        "work_pool": current.work_pool_name == spec.work_pool,
        "work_queue": spec.work_queue is None or current.work_queue_name == spec.work_queue,
        "job_variables": (current.job_variables or {}) == spec.job_variables,
        "description": (current.description or "") == spec.description,
        "tags": sorted(current.tags or []) == spec.tags,
        "parameters": (current.parameters or {}) == spec.parameters,
        "pull_steps": (current.pull_steps or []) == steps,
        "paused": bool(current.paused) == paused,
        "enforce_parameter_schema": bool(current.enforce_parameter_schema)
        == spec.enforce_parameter_schema,
        "parameter_schema": (current.parameter_openapi_schema or {}) == spec.parameter_schema,
        "schedules": len(actual_schedules) == len(spec.schedules)
        and all(
            schedule_matches(d, a) for d, a in zip(spec.schedules, actual_schedules, strict=True)
        ),
    }
    return [name for name, same in checks.items() if not same]


def schedule_creates(spec: Spec) -> list[Any]:
    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule

    creates = []
    for s in spec.schedules:
        if "interval" in s:
            inner = IntervalSchedule(interval=s["interval"], timezone=s.get("timezone"))
        else:
            inner = CronSchedule(cron=s["cron"], timezone=s.get("timezone"))
        creates.append(DeploymentScheduleCreate(schedule=inner, active=s["active"]))
    return creates


def from_repo(deployment: Any, repo_url: str) -> bool:
    """Whether a server deployment pulls from this repository (so --prune may remove it)."""
    for step in deployment.pull_steps or []:
        if not isinstance(step, dict):
            continue
        if step.get(GIT_CLONE, {}).get("repository") == repo_url:
            return True
        script = step.get(RUN_SHELL, {}).get("script", "")
        if script.startswith("git clone ") and repo_url in script.split():
            return True
    return False


async def reconcile(
    client: Any,
    specs: list[Spec],
    *,
    repo_url: str,
    branch: str,
    token_secret: str | None,
    active_pools: set[str] | None,
    prune: bool,
    check: bool,
    submodules: bool = False,
) -> Plan:
    """Compare the declarations with the server, then (unless check) change what differs."""
    from prefect.exceptions import ObjectNotFound

    plan = Plan()

    steps = pull_steps(repo_url, branch, token_secret, submodules)
    declared_specs = specs
    specs = with_retry_deployments(specs)
    todo: list[tuple[Spec, bool]] = []
    for spec in specs:
        inactive = active_pools is not None and spec.work_pool not in active_pools
        paused = spec.paused or inactive
        if inactive:
            plan.warnings.append(
                f"{spec.full_name} is registered paused: work pool '{spec.work_pool}' has no "
                "worker hosts in the inventory"
            )
        if paused and spec.retry_of is None:
            plan.paused.append(spec.full_name)
        try:
            current = await client.read_deployment_by_name(spec.full_name)
        except ObjectNotFound:
            plan.created.append(spec.full_name)
            todo.append((spec, paused))
            continue
        if differences(spec, current, steps, paused):
            plan.updated.append(spec.full_name)
            todo.append((spec, paused))
        else:
            plan.unchanged.append(spec.full_name)

    stale = []
    declared = {s.full_name for s in specs}
    # The replacement-run deployments of declared ones go with the bound that made them,
    # --prune or not: they are this script's, not the manifest's.
    retry_names = re.compile(
        "^("
        + "|".join(re.escape(s.full_name) for s in declared_specs)
        + ")"
        + re.escape(RETRY_SUFFIX)
        + r"[0-9]+$"
    )
    flows = {f.id: f.name for f in await read_all(client.read_flows)}
    for deployment in await read_all(client.read_deployments):
        full_name = f"{flows.get(deployment.flow_id, '?')}/{deployment.name}"
        if full_name in declared or not from_repo(deployment, repo_url):
            continue
        if prune or (declared_specs and retry_names.match(full_name)):
            plan.removed.append(full_name)
            stale.append(deployment.id)

    if check:
        return plan
    for spec, paused in todo:
        flow_id = await client.create_flow_from_name(spec.flow_name)
        # The API upserts by flow and name: an existing deployment is updated in place.
        await client.create_deployment(
            flow_id=flow_id,
            name=spec.name,
            entrypoint=spec.entrypoint,
            work_pool_name=spec.work_pool,
            work_queue_name=spec.work_queue,
            job_variables=spec.job_variables,
            description=spec.description,
            tags=spec.tags,
            parameters=spec.parameters,
            schedules=schedule_creates(spec),
            pull_steps=steps,
            paused=paused,
            enforce_parameter_schema=spec.enforce_parameter_schema,
            parameter_openapi_schema=spec.parameter_schema,
        )
    for deployment_id in stale:
        await client.delete_deployment(deployment_id)
    await reconcile_retries(client, declared_specs, plan, check=check)
    return plan


def crashed_run_parameters(schema: dict[str, Any]) -> dict[str, Any]:
    """The replacement run's parameters: each one the crashed run's value, rendered by the
    server when the automation fires (a Jinja template, JSON-decoded); the flow's default when
    the crashed run did not have it."""
    parameters = {}
    for name, prop in (schema.get("properties") or {}).items():
        key = json.dumps(name)
        value = f"flow_run.parameters[{key}] | tojson"
        if "default" in prop:
            value += (
                f" if {key} in flow_run.parameters else {json.dumps(json.dumps(prop['default']))}"
            )
        parameters[name] = {
            "__prefect_kind": "json",
            "value": {"__prefect_kind": "jinja", "template": "{{ " + value + " }}"},
        }
    return parameters


def retry_name(spec: Spec, attempt: int) -> str:
    """The automation that starts replacement run number `attempt` of spec's crashed runs."""
    name = f"{RETRY_PREFIX}{spec.full_name} after a crash"
    return name if attempt == 1 else f"{name} (attempt {attempt})"


def retry_automation(spec: Spec, attempt: int, source_id: Any, target_id: Any) -> dict[str, Any]:
    """An automation that, when a run of the deployment `source_id` ends Crashed, runs the
    deployment `target_id` (attempt `attempt` of spec's replacements) with the same
    parameters."""
    return {
        "name": retry_name(spec, attempt),
        "description": f"A crashed run of {spec.full_name} gets a replacement run with the same "
        f"parameters, at most {spec.retry_on_crash} in a row; this is attempt {attempt} "
        "(retry_on_crash in the manifest). Managed by deploy_all_from_git.",
        "enabled": True,
        "trigger": {
            "type": "event",
            "posture": "Reactive",
            "match": {"prefect.resource.id": "prefect.flow-run.*"},
            "match_related": {
                "prefect.resource.id": f"prefect.deployment.{source_id}",
                "prefect.resource.role": "deployment",
            },
            "expect": ["prefect.flow-run.Crashed"],
            "threshold": 1,
            "within": 0,
        },
        "actions": [
            {
                "type": "run-deployment",
                "source": "selected",
                "deployment_id": str(target_id),
                "parameters": crashed_run_parameters(spec.parameter_schema) or None,
            }
        ],
    }


async def read_all(read: Any) -> list[Any]:
    """Every object a client's read_* method lists, page by page (one answer holds PAGE)."""
    found: list[Any] = []
    while page := await read(limit=PAGE, offset=len(found)):
        found += page
        if len(page) < PAGE:
            break
    return found


async def reconcile_retries(client: Any, specs: list[Spec], plan: Plan, *, check: bool) -> None:
    """For a deployment with retry_on_crash N, a chain of N automations: attempt 1 watches the
    deployment and runs NAME--crash-retry-1, attempt k watches NAME--crash-retry-(k-1) and runs
    NAME--crash-retry-k; a crash of the last one starts nothing. None for the others."""
    from prefect.events.schemas.automations import AutomationCore
    from prefect.exceptions import ObjectNotFound

    owned = {
        a.name: a
        for a in await read_all(client.read_automations)
        if a.name.startswith(RETRY_PREFIX)
    }
    wanted = set()
    for spec in specs:
        names = [spec.full_name] + [
            f"{spec.full_name}{RETRY_SUFFIX}{k}" for k in range(1, spec.retry_on_crash + 1)
        ]
        for attempt in range(1, spec.retry_on_crash + 1):
            name = retry_name(spec, attempt)
            wanted.add(name)
            try:
                source = await client.read_deployment_by_name(names[attempt - 1])
                target = await client.read_deployment_by_name(names[attempt])
            except ObjectNotFound:  # check mode: the deployments are not created yet
                plan.retries.append(f"created: {name}")
                continue
            body = AutomationCore.model_validate(
                retry_automation(spec, attempt, source.id, target.id)
            )
            current = owned.get(name)
            fields = {"trigger", "actions", "enabled", "description"}
            if current is None:
                plan.retries.append(f"created: {name}")
                if not check:
                    await client.create_automation(body)
            elif current.model_dump(mode="json", include=fields) != body.model_dump(
                mode="json", include=fields
            ):
                plan.retries.append(f"updated: {name}")
                if not check:
                    await client.update_automation(current.id, body)
    # Only automations of this manifest's deployments (another repository may own others).
    mine = tuple(f"{RETRY_PREFIX}{name} after a crash" for name in plan.removed) + tuple(
        f"{RETRY_PREFIX}{s.full_name} after a crash" for s in specs
    )
    for name, automation in owned.items():
        if name not in wanted and any(name == m or name.startswith(f"{m} (") for m in mine):
            plan.retries.append(f"removed: {name}")
            if not check:
                await client.delete_automation(automation.id)


async def store_token(client: Any, block_name: str, token: str, check: bool) -> bool:
    """Create or update the Secret block holding the Git token (as the Authorization header
    git sends); True when it changed."""
    from prefect.blocks.system import Secret

    try:
        current = await Secret.aload(block_name, client=client)
    except ValueError:
        current = None
    if current is not None and current.get() == token:
        return False
    if not check:
        await Secret(value=token).asave(block_name, overwrite=True, client=client)
    return True


async def remove_token(client: Any, block_name: str, check: bool) -> bool:
    """Delete the Secret block of a token that is no longer given; True when there was one."""
    from prefect.exceptions import ObjectNotFound

    try:
        block = await client.read_block_document_by_name(block_name, block_type_slug="secret")
    except ObjectNotFound:
        return False
    if not check:
        await client.delete_block_document(block.id)
    return True


# --- command line --------------------------------------------------------------------------


def git(repo_dir: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo_dir), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def load_env_file(path: Path) -> None:
    """KEY=VALUE lines (a client.env, or the role's deploy.env, whose values are quoted as sh
    reads them where needed) into the environment, before Prefect reads it."""
    for key, value in read_env_file(path).items():
        if key.startswith("PREFECT_"):
            os.environ[key] = value


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines, read as systemd and sh read what zoe.prefect.env_value writes: a bare
    value as it stands, a double-quoted one (which may span lines) with its backslash escapes
    of backslash, double quote, dollar and backquote undone."""
    found: dict[str, str] = {}
    lines = iter(path.read_text().split("\n"))
    for line in lines:
        key, sep, value = line.partition("=")
        if not sep or key.lstrip().startswith("#"):
            continue
        if value.startswith('"'):
            value = value[1:]
            while (end := _closing_quote(value)) is None:
                value += "\n" + next(lines, '"')
            value = _ESCAPED.sub(r"\1", value[:end])
        found[key.strip()] = value
    return found


_ESCAPED = re.compile(r'\\(["\\$`])')


def _closing_quote(text: str) -> int | None:
    """Where the double-quoted value `text` (its opening quote gone) ends, or None."""
    index = 0
    while index < len(text):
        if text[index] == "\\":
            index += 2
        elif text[index] == '"':
            return index
        else:
            index += 1
    return None


def read_specs(
    args: argparse.Namespace, known_pools: set[str] | None, describe: Describer
) -> list[Spec]:
    repo_dir = args.repo_dir.resolve()
    manifest = args.manifest if args.manifest.is_absolute() else repo_dir / args.manifest
    return check_manifest(load_manifest(manifest), repo_dir, known_pools, describe)


def offline_check(args: argparse.Namespace) -> list[Spec]:
    """The manifest checked without any server and without running any of the repository's
    code: entries, and pools against --known-pools."""
    known = set(args.known_pools.split(",")) - {""} if args.known_pools is not None else None
    return read_specs(args, known, describe_statically)


async def run(args: argparse.Namespace) -> tuple[Plan, bool]:
    from prefect.client.orchestration import get_client

    repo_dir = args.repo_dir.resolve()
    async with get_client() as client:
        pools = {pool.name for pool in await read_all(client.read_work_pools)}
    hidden = [p.parent for p in (args.client_env, args.token_file) if p] + args.hide
    specs = read_specs(args, pools, describe_isolated(sorted(set(hidden))))
    repo_url = args.repo_url or git(repo_dir, "remote", "get-url", "origin")
    branch = args.branch or git(repo_dir, "rev-parse", "--abbrev-ref", "HEAD")
    if args.token_secret:
        problems = token_url_problems(repo_url, branch)
        if problems:
            raise ManifestError(problems)
    token = None
    if args.token_file:
        token = args.token_file.read_text().strip()
    elif args.token_stdin:
        token = sys.stdin.read().strip()
    if token is not None and not args.token_secret:
        raise ManifestError(["a token needs --token-secret (the Secret block's name)"])
    async with get_client() as client:
        token_changed = False
        if token:
            header = authorization(args.token_user, token)
            token_changed = await store_token(client, args.token_secret, header, args.check)
        elif args.remove_token_secret:
            token_changed = await remove_token(client, args.remove_token_secret, args.check)
        plan = await reconcile(
            client,
            specs,
            repo_url=repo_url,
            branch=branch,
            token_secret=args.token_secret,
            active_pools=set(args.active_pools.split(",")) - {""}
            if args.active_pools is not None
            else None,
            prune=args.prune,
            check=args.check,
            submodules=args.submodules,
        )
    return plan, token_changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repo-dir", type=Path, default=HERE.parent, help="checkout of the flows repository"
    )
    parser.add_argument("--manifest", type=Path, default=Path("deployments/prefect.yaml"))
    parser.add_argument("--repo-url", help="URL workers clone (default: the origin remote)")
    parser.add_argument("--branch", help="branch workers clone (default: the current branch)")
    parser.add_argument(
        "--submodules", action="store_true", help="workers clone the repository's submodules too"
    )
    parser.add_argument("--token-secret", help="Secret block holding the Git token")
    parser.add_argument("--token-stdin", action="store_true", help="read the token from stdin")
    parser.add_argument("--token-file", type=Path, help="read the token from this file")
    parser.add_argument(
        "--token-user",
        default=DEFAULT_TOKEN_USER,
        help=f"the user name sent with the token (default {DEFAULT_TOKEN_USER})",
    )
    parser.add_argument(
        "--remove-token-secret",
        metavar="BLOCK",
        help="no token any more: delete this Secret block if it exists",
    )
    parser.add_argument(
        "--active-pools",
        help="comma-separated pools that have workers; deployments on other pools are paused",
    )
    parser.add_argument(
        "--prune", action="store_true", help="remove undeclared deployments from this repo"
    )
    parser.add_argument("--check", action="store_true", help="only say what would change")
    parser.add_argument(
        "--offline",
        action="store_true",
        help="only check the manifest (no server); pools against --known-pools",
    )
    parser.add_argument("--known-pools", help="comma-separated pools the server will have")
    parser.add_argument("--client-env", type=Path, help="a client.env with PREFECT_API_* settings")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument(
        "--hide",
        type=Path,
        action="append",
        default=[],
        help="a folder the repository's code must not see (as root; repeatable)",
    )
    parser.add_argument("--describe-flows", nargs="+", metavar="ENTRYPOINT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.describe_flows:
        # The answer goes to the real stdout; whatever the repository's code prints, to stderr.
        answer = os.fdopen(os.dup(1), "w")
        os.dup2(2, 1)
        found = describe_here(args.repo_dir, args.describe_flows)
        answer.write(json.dumps({ep: vars(d) for ep, d in found.items()}) + "\n")
        answer.close()
        return 0
    # Paths as given, then away from the current folder: Prefect reads settings (.env,
    # prefect.toml, pyproject.toml) from it, which from a flows checkout would be the
    # repository's, and in the shared temporary folder anyone's. The script works in a fresh
    # folder of its own (mkdtemp: 0700, empty), removed at its end.
    for name in ("repo_dir", "manifest", "client_env", "token_file"):
        path = getattr(args, name)
        if path is not None and (name != "manifest" or path.is_absolute()):
            setattr(args, name, path.resolve())
    args.hide = [path.resolve() for path in args.hide]
    workdir = tempfile.mkdtemp(prefix="zp-deploy-")
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    os.chdir(workdir)
    if args.client_env:
        load_env_file(args.client_env)

    try:
        if args.offline:
            specs = offline_check(args)
            if args.json:
                print(json.dumps({"failed": False, "deployments": [s.full_name for s in specs]}))
            else:
                print(f"The manifest declares {len(specs)} valid deployment(s).")
            return 0
        plan, token_changed = asyncio.run(run(args))
    except ManifestError as exc:
        if args.json:
            print(json.dumps({"failed": True, "errors": exc.problems}))
        else:
            print("The manifest has errors; no deployment was changed:", file=sys.stderr)
            print("\n".join(f"  - {p}" for p in exc.problems), file=sys.stderr)
        return 2
    summary = plan.as_dict() | {"token_changed": token_changed, "check": args.check}
    summary["changed"] = plan.changed or token_changed
    if args.json:
        print(json.dumps(summary))
    else:
        verb = "would be" if args.check else "were"
        for key in ("created", "updated", "unchanged", "removed", "paused"):
            names = summary[key]
            print(f"{len(names)} {verb} {key}" + (f": {', '.join(names)}" if names else ""))
        for warning in plan.warnings:
            print(f"WARNING: {warning}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
