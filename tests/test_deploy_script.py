"""deployments/deploy_all_from_git.py: every bad manifest entry is refused, naming it, before
anything changes; against a real (temporary) Prefect API it creates, leaves alone, updates,
pauses and prunes deployments, and keeps a Git token out of the deployments.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
import yaml

from conftest import ROOT

SCRIPT = ROOT / "deployments" / "deploy_all_from_git.py"
FLOW = """from prefect import flow


@flow
def greet(name: str = "you", times: int = 1) -> str:
    return name * times


@flow(name="custom-name")
def renamed() -> None:
    pass
"""


def load_script():
    spec = importlib.util.spec_from_file_location("deploy_all_from_git", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


deploy = load_script()


def repo(tmp_path: Path, entries: list) -> Path:
    """A flows repository checkout with one flow file and a manifest of `entries`."""
    (tmp_path / "flows").mkdir(parents=True)
    (tmp_path / "flows" / "greet.py").write_text(FLOW)
    (tmp_path / "deployments").mkdir()
    (tmp_path / "deployments" / "prefect.yaml").write_text(yaml.safe_dump({"deployments": entries}))
    return tmp_path


def entry(**fields: object) -> dict:
    base = {"name": "greet", "entrypoint": "flows/greet.py:greet", "work_pool": {"name": "linux"}}
    return {k: v for k, v in (base | fields).items() if v is not None}


def offline(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--offline", "--repo-dir", str(path), "--json", *extra],
        capture_output=True,
        text=True,
        check=False,
    )


# (case, manifest entries, text the error must hold)
BAD_MANIFESTS = [
    ("missing-entrypoint", [entry(entrypoint=None)], "(greet): 'entrypoint' is missing"),
    (
        "entrypoint-file-missing",
        [entry(entrypoint="flows/nope.py:greet")],
        "entrypoint file flows/nope.py does not exist in the repository",
    ),
    (
        "entrypoint-function-missing",
        [entry(entrypoint="flows/greet.py:nope")],
        "flows/greet.py defines no function 'nope'",
    ),
    (
        "entrypoint-outside-repo",
        [entry(entrypoint="../../etc/passwd:x")],
        "does not exist in the repository",
    ),
    (
        "entrypoint-file-not-python",
        [entry(entrypoint="deployments/prefect.yaml:greet")],
        "deployments/prefect.yaml is not valid Python: ",
    ),
    ("unknown-pool", [entry(work_pool={"name": "gpu"})], "work pool 'gpu' does not exist"),
    ("missing-pool", [entry(work_pool=None)], "'work_pool: {name: ...}' is missing"),
    (
        "interval-and-cron",
        [entry(schedules=[{"interval": 60, "cron": "* * * * *"}])],
        "schedules[0] has both 'interval' and 'cron'",
    ),
    ("bad-cron", [entry(schedules=[{"cron": "every day"}])], "invalid cron 'every day'"),
    ("negative-interval", [entry(schedules=[{"interval": -5}])], "interval must be a positive"),
    ("empty-schedule", [entry(schedules=[{}])], "needs 'interval' (seconds) or 'cron'"),
    (
        "duplicate-names",
        [entry(), entry()],
        "deployments[1] (greet): duplicate deployment greet/greet (also deployments[0] (greet))",
    ),
    ("name-with-spaces", [entry(name="my flow")], "'name' must be letters, digits"),
    ("unknown-key", [entry(schedule={"interval": 60})], "unknown key 'schedule'"),
    (
        "unknown-parameter",
        [entry(parameters={"nmae": "x"})],
        "the flow takes no parameter nmae (it takes name, times)",
    ),
    ("tags-not-a-list", [entry(tags="demo")], "'tags' must be a list of strings"),
]


@pytest.mark.parametrize(
    ("entries", "message"), [c[1:] for c in BAD_MANIFESTS], ids=[c[0] for c in BAD_MANIFESTS]
)
def test_bad_manifest_entries_are_refused(tmp_path: Path, entries: list, message: str) -> None:
    result = offline(repo(tmp_path, entries), "--known-pools", "linux,windows")
    assert result.returncode == 2, result.stdout + result.stderr
    errors = json.loads(result.stdout)["errors"]
    assert any(message in e for e in errors), errors


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    entries = [entry(name="a", entrypoint=None), entry(name="b", work_pool={"name": "gpu"})]
    errors = json.loads(offline(repo(tmp_path, entries), "--known-pools", "linux").stdout)["errors"]
    assert len(errors) == 2 and "(a)" in errors[0] and "(b)" in errors[1]


# A flow module whose top-level code tries to leave a mark; its flow name says what it managed.
PRYING = """import os
from pathlib import Path

from prefect import flow


def attempt(action):
    try:
        action()
        return "done"
    except OSError:
        return "denied"


WROTE = attempt(lambda: Path({mark!r}).write_text("ran"))
API = "seen" if os.environ.get("PREFECT_API_AUTH_STRING") else "unseen"
HOME = "own" if "zp-describe-" in os.environ.get("HOME", "") else "inherited"


@flow(name=f"wrote-{{WROTE}}-api-{{API}}-home-{{HOME}}")
def prying(times: int = 1) -> None:
    pass
"""


def test_the_offline_check_runs_none_of_the_repositorys_code(tmp_path: Path) -> None:
    path = repo(tmp_path, [entry(name="p", entrypoint="flows/prying.py:prying")])
    (path / "flows" / "prying.py").write_text(PRYING.format(mark=str(tmp_path / "mark")))
    result = offline(path, "--known-pools", "linux")
    assert result.returncode == 0, result.stdout + result.stderr
    # The name is not a literal, so the check names the deployment after the function.
    assert json.loads(result.stdout)["deployments"] == ["prying/p"]
    assert not (tmp_path / "mark").exists()
    bad = repo(
        tmp_path / "bad",
        [entry(name="p", entrypoint="flows/prying.py:prying", parameters={"time": 2})],
    )
    (bad / "flows" / "prying.py").write_text(PRYING.format(mark=str(tmp_path / "mark")))
    errors = json.loads(offline(bad, "--known-pools", "linux").stdout)["errors"]
    assert errors == ["deployments[0] (p): the flow takes no parameter time (it takes times)"]
    assert not (tmp_path / "mark").exists()


def test_the_projects_manifest_is_valid() -> None:
    result = offline(ROOT, "--known-pools", "linux,windows")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(json.loads(result.stdout)["deployments"]) == 5


# --- against a real, temporary Prefect API --------------------------------------------------


@pytest.fixture(scope="module")
def api() -> Iterator[None]:
    from prefect.settings import PREFECT_SERVER_ANALYTICS_ENABLED, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with (
        temporary_settings(updates={PREFECT_SERVER_ANALYTICS_ENABLED: False}),
        prefect_test_harness(server_startup_timeout=60),
    ):
        asyncio.run(create_pools("linux", "windows"))
        yield


async def create_pools(*names: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    async with get_client() as client:
        for name in names:
            await client.create_work_pool(WorkPoolCreate(name=name, type="process"))


def apply(path: Path, *extra: str, check: bool = False) -> dict:
    """Run the script's main() in-process against the harness API; return its JSON summary.

    The flows are read by the script's child process as for any user but root: as root it
    would start a sandboxed systemd unit, which molecule/default tests on a real host."""
    argv = ["deploy", "--repo-dir", str(path), "--repo-url", "git://git.example/flows.git"]
    argv += ["--branch", "main", "--json", *extra] + (["--check"] if check else [])
    old_argv = sys.argv
    sys.argv = argv
    try:
        from contextlib import redirect_stdout
        from io import StringIO

        out = StringIO()
        with redirect_stdout(out), mock.patch.object(deploy.os, "geteuid", return_value=1000):
            rc = deploy.main()
    finally:
        sys.argv = old_argv
    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    summary["rc"] = rc
    return summary


def read(name: str):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_deployment_by_name(name)


def test_create_leave_alone_update_and_prune(api: None, tmp_path: Path) -> None:
    path = repo(tmp_path, [entry(schedules=[{"interval": 300}], parameters={"name": "a"})])
    first = apply(path)
    assert (first["rc"], first["created"], first["changed"]) == (0, ["greet/greet"], True)
    created = read("greet/greet")
    assert created.pull_steps == [
        {
            "prefect.deployments.steps.git_clone": {
                "repository": "git://git.example/flows.git",
                "branch": "main",
            }
        }
    ]
    assert created.schedules[0].schedule.interval.total_seconds() == 300

    second = apply(path)
    assert (second["unchanged"], second["changed"]) == (["greet/greet"], False)
    assert read("greet/greet").updated == created.updated  # not touched at all

    path = repo(tmp_path / "v2", [entry(schedules=[{"cron": "0 2 * * *"}], parameters={})])
    assert apply(path, check=True)["updated"] == ["greet/greet"]
    assert read("greet/greet").schedules[0].schedule.interval.total_seconds() == 300
    third = apply(path)
    assert third["updated"] == ["greet/greet"]
    assert read("greet/greet").schedules[0].schedule.cron == "0 2 * * *"

    other = repo(tmp_path / "v3", [entry(name="renamed", entrypoint="flows/greet.py:renamed")])
    fourth = apply(other, "--prune")
    assert fourth["created"] == ["custom-name/renamed"]
    assert fourth["removed"] == ["greet/greet"]


def test_flows_are_read_in_a_child_without_the_api_settings(
    api: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = repo(tmp_path, [entry(name="p", entrypoint="flows/prying.py:prying")])
    (path / "flows" / "prying.py").write_text(PRYING.format(mark=str(tmp_path / "mark")))
    monkeypatch.setenv("PREFECT_API_AUTH_STRING", "admin:not-for-flows")  # the harness ignores it
    summary = apply(path, check=True)
    # The child ran the module (the name is computed), without the script's API settings and
    # with a home of its own.
    assert summary["created"] == ["wrote-done-api-unseen-home-own/p"], summary
    assert (tmp_path / "mark").read_text() == "ran"


def test_pool_without_workers_is_registered_paused(api: None, tmp_path: Path) -> None:
    path = repo(tmp_path, [entry(name="win", work_pool={"name": "windows"})])
    summary = apply(path, "--active-pools", "linux")
    assert summary["paused"] == ["greet/win"]
    assert "no worker hosts in the inventory" in summary["warnings"][0]
    assert read("greet/win").paused is True
    summary = apply(path, "--active-pools", "linux,windows")
    assert summary["updated"] == ["greet/win"] and read("greet/win").paused is False


def test_token_lives_only_in_a_secret_block(api: None, tmp_path: Path) -> None:
    from prefect.blocks.system import Secret

    token_file = tmp_path / "token"
    token_file.write_text("s3cr3t-t0ken\n")
    path = repo(tmp_path / "r", [entry(name="private")])
    extra = ("--token-secret", "flows-repo-token", "--token-file", str(token_file))
    summary = apply(path, *extra)
    assert summary["token_changed"] is True
    step = read("greet/private").pull_steps[0]["prefect.deployments.steps.git_clone"]
    assert step["access_token"] == "{{ prefect.blocks.secret.flows-repo-token }}"
    assert "s3cr3t" not in json.dumps(read("greet/private").model_dump(mode="json"))
    assert Secret.load("flows-repo-token").get() == "s3cr3t-t0ken"
    assert apply(path, *extra)["token_changed"] is False
    # The token removed from the inventory: the pull step stops naming the block, and the
    # block goes (once).
    removal = ("--remove-token-secret", "flows-repo-token")
    assert apply(path, *removal, check=True)["token_changed"] is True
    gone = apply(path, *removal)
    assert (gone["token_changed"], gone["updated"]) == (True, ["greet/private"])
    assert "access_token" not in read("greet/private").pull_steps[0][deploy.GIT_CLONE]
    with pytest.raises(ValueError):
        Secret.load("flows-repo-token")
    assert apply(path, *removal)["token_changed"] is False


def test_retry_on_crash_is_an_automation_of_the_deployment(api: None, tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client

    def automations() -> list:
        with get_client(sync_client=True) as client:
            return [a for a in client.read_automations() if a.name.startswith(deploy.RETRY_PREFIX)]

    path = repo(tmp_path / "a", [entry(name="resilient", retry_on_crash=True)])
    assert apply(path)["retries"] == ["created: zoe-prefect: re-run greet/resilient after a crash"]
    (automation,) = automations()
    deployment_id = str(read("greet/resilient").id)
    related = automation.trigger.match_related["prefect.resource.id"]
    assert related == [f"prefect.deployment.{deployment_id}"]
    assert str(automation.actions[0].deployment_id) == deployment_id
    # The server renders the replacement's parameters from the crashed run: its values, and
    # the flow's defaults for what it did not have (rendered here by Prefect's own code).
    from prefect.client.schemas.objects import FlowRun
    from prefect.utilities.schema_tools.hydration import HydrationContext, hydrate

    for given, expected in [
        ({"name": "crash's", "times": 3}, {"name": "crash's", "times": 3}),
        ({"name": 'x <&> "y"'}, {"name": 'x <&> "y"', "times": 1}),
        ({}, {"name": "you", "times": 1}),
    ]:
        crashed = FlowRun(flow_id=deployment_id, parameters=given)
        context = HydrationContext(
            render_jinja=True, raise_on_error=True, jinja_context={"flow_run": crashed}
        )
        assert hydrate(automation.actions[0].parameters, context) == expected
    again = apply(path)
    assert (again["retries"], again["changed"]) == ([], False)
    path = repo(tmp_path / "b", [entry(name="resilient", retry_on_crash=False)])
    assert apply(path)["retries"] == ["removed: zoe-prefect: re-run greet/resilient after a crash"]
    assert automations() == []


def test_prune_keeps_declared_deployments_past_the_apis_page_size(
    api: None, tmp_path: Path
) -> None:
    """The API answers 200 objects per call: a server with more flows than that must not make
    a declared deployment look undeclared (and pruned)."""
    from prefect.client.orchestration import get_client

    async def many_flows() -> None:
        async with get_client() as client:
            for number in range(deploy.PAGE + 5):
                await client.create_flow_from_name(f"aaa-filler-{number:03}")

    asyncio.run(many_flows())  # sorted by name, "greet" is now past the first page
    path = repo(tmp_path, [entry(name="paged")])
    assert apply(path)["created"] == ["greet/paged"]
    summary = apply(path, "--prune")
    assert "greet/paged" in summary["unchanged"]
    assert [name for name in summary["removed"] if name.endswith("/paged")] == []
    assert read("greet/paged")
