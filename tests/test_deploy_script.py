"""deployments/deploy_all_from_git.py: every bad manifest entry is refused, naming it, before
anything changes; against a real (temporary) Prefect API it creates, leaves alone, updates,
pauses and prunes deployments, and keeps a Git token out of the deployments.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.server
import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
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
    ("retry-not-a-bound", [entry(retry_on_crash="yes")], "'retry_on_crash' must be true"),
    ("retry-too-many", [entry(retry_on_crash={"max": 9})], "N from 0 to 5"),
    ("retry-negative", [entry(retry_on_crash={"max": -1})], "N from 0 to 5"),
    ("retry-other-key", [entry(retry_on_crash={"tries": 2})], "'retry_on_crash' must be true"),
    ("retry-name-reserved", [entry(name="a--crash-retry-1")], "are reserved for the deployments"),
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


def test_settings_planted_in_the_temporary_folder_are_not_read(api: None, tmp_path: Path) -> None:
    """Root runs the registration, and Prefect reads settings from the working folder: a .env,
    prefect.toml or pyproject.toml that another account put into the shared temporary folder
    must not reach it. Here they hold an invalid setting, which would stop the script."""
    from prefect.settings import PREFECT_API_URL

    shared = tmp_path / "shared-tmp"
    shared.mkdir()
    planted = {
        ".env": "PREFECT_API_REQUEST_TIMEOUT=planted\n",
        "prefect.toml": '[api]\nrequest_timeout = "planted"\n',
        "pyproject.toml": '[tool.prefect.api]\nrequest_timeout = "planted"\n',
    }
    for name, text in planted.items():
        (shared / name).write_text(text)
    path = repo(tmp_path / "repo", [entry()])
    # A process of its own (settings are read once per process), as a user but root, as apply()
    # runs it: as root the flows would be read in a sandboxed systemd unit.
    as_user = (
        "import os, runpy, sys; os.geteuid = lambda: 1000; sys.argv = sys.argv[1:];"
        " runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    done = subprocess.run(
        [sys.executable, "-c", as_user, str(SCRIPT), "--repo-dir", str(path), "--repo-url",
         "git://git.example/flows.git", "--branch", "main", "--json", "--check"],
        env={**os.environ, "TMPDIR": str(shared), "PREFECT_API_URL": PREFECT_API_URL.value()},
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["created"] == ["greet/greet"]
    # Its own folder (under TMPDIR) is gone again; what was planted is untouched.
    assert sorted(p.name for p in shared.iterdir()) == sorted(planted)


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
    url = "https://git.example/team/flows.git"
    extra = ("--repo-url", url, "--token-secret", "flows-repo-token")
    extra += ("--token-file", str(token_file))
    summary = apply(path, *extra)
    assert summary["token_changed"] is True
    clone, chdir = read("greet/private").pull_steps
    # A plain git clone: the URL and branch on its command line, the token nowhere but in the
    # header that git reads from its environment, scoped to the repository's URL.
    step = clone[deploy.RUN_SHELL]
    assert step["script"] == (
        f"git clone --quiet --depth 1 --single-branch --branch main -- {url} flows-main"
    )
    assert step["env"]["GIT_CONFIG_KEY_0"] == f"http.{url}.extraHeader"
    assert step["env"]["GIT_CONFIG_VALUE_0"] == "{{ prefect.blocks.secret.flows-repo-token }}"
    assert chdir == {deploy.SET_DIR: {"directory": "flows-main"}}
    assert "s3cr3t" not in json.dumps(read("greet/private").model_dump(mode="json"))
    header = "Authorization: Basic " + base64.b64encode(b"x-access-token:s3cr3t-t0ken").decode()
    assert Secret.load("flows-repo-token").get() == header
    assert apply(path, *extra)["token_changed"] is False
    # Another user name changes the header.
    other = apply(path, *extra, "--token-user", "oauth2")
    assert other["token_changed"] is True and other["updated"] == []
    assert base64.b64decode(Secret.load("flows-repo-token").get().split()[-1]) == (
        b"oauth2:s3cr3t-t0ken"
    )
    # The token removed from the inventory: the pull step is git_clone without a token again,
    # and the block goes (once). The shell step counts as pulling from this repository.
    removal = ("--repo-url", url, "--remove-token-secret", "flows-repo-token")
    assert apply(path, *removal, check=True)["token_changed"] is True
    gone = apply(path, *removal)
    assert (gone["token_changed"], gone["updated"]) == (True, ["greet/private"])
    assert read("greet/private").pull_steps == [
        {deploy.GIT_CLONE: {"repository": url, "branch": "main"}}
    ]
    with pytest.raises(ValueError):
        Secret.load("flows-repo-token")
    assert apply(path, *removal)["token_changed"] is False


@pytest.mark.parametrize(
    ("url", "branch", "problem"),
    [
        ("git://git.example/flows.git", "main", "over http(s) only"),
        ("https://git.example/a&b.git", "main", "over http(s) only"),
        ("https://git.example/flows.git", "x;y", "branch 'x;y'"),
    ],
)
def test_a_token_with_an_unsafe_url_or_branch_is_refused(
    api: None, tmp_path: Path, url: str, branch: str, problem: str
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("t\n")
    path = repo(tmp_path / "r", [entry(name="private")])
    extra = ("--repo-url", url, "--branch", branch, "--token-secret", "b", "--token-file")
    argv = ["deploy", "--repo-dir", str(path), "--json", *extra, str(token_file)]
    with (
        mock.patch.object(sys, "argv", argv),
        mock.patch.object(deploy.os, "geteuid", return_value=1000),
    ):
        from contextlib import redirect_stdout
        from io import StringIO

        out = StringIO()
        with redirect_stdout(out):
            assert deploy.main() == 2
    assert problem in " ".join(json.loads(out.getvalue())["errors"])


def test_the_token_clone_step_really_clones_with_the_header_only(api: None, tmp_path: Path) -> None:
    """The pull steps as a worker runs them, against git over HTTP with basic auth: the clone
    works, without the header it is refused, and the clone's .git/config holds no token."""
    from prefect.blocks.system import Secret
    from prefect.deployments.steps.core import run_steps

    source = tmp_path / "source"
    subprocess.run(["git", "init", "-q", "-b", "main", str(source)], check=True)
    (source / "flow.py").write_text("print('hi')\n")
    git_env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    git_env |= {"GIT_COMMITTER_EMAIL": "t@t", "PATH": os.environ["PATH"]}
    subprocess.run(["git", "-C", str(source), "add", "."], check=True)
    subprocess.run(["git", "-C", str(source), "commit", "-qm", "c"], check=True, env=git_env)
    subprocess.run(["git", "clone", "-q", "--bare", str(source), str(tmp_path / "flows.git")])
    header = deploy.authorization("x-access-token", "tok3n-s3cret")
    seen: list[str] = []
    with git_http_server(tmp_path, header.split()[-1], seen) as port:
        url = f"http://127.0.0.1:{port}/flows.git"
        Secret(value=header).save("clone-test-token", overwrite=True)
        work = tmp_path / "work"
        work.mkdir()
        before = Path.cwd()
        os.chdir(work)
        try:
            steps = deploy.pull_steps(url, "main", "clone-test-token")
            output = asyncio.run(run_steps(steps))
        finally:
            os.chdir(before)
        clone = work / "flows-main"
        assert output["directory"] == str(clone)
        assert (clone / "flow.py").read_text() == "print('hi')\n"
        config = (clone / ".git" / "config").read_text()
        assert "tok3n" not in config and header.split()[-1] not in config
        assert "extraheader" not in config.lower()
        assert seen and set(seen) == {"authorized"}
        # The same clone without the header: the server answers 401, git gives up.
        plain = subprocess.run(
            ["git", "clone", "-q", url, str(tmp_path / "anonymous")],
            capture_output=True,
            text=True,
            env={"PATH": os.environ["PATH"], "GIT_TERMINAL_PROMPT": "0", "HOME": str(tmp_path)},
        )
        assert plain.returncode != 0 and "refused" in seen


@contextlib.contextmanager
def git_http_server(root: Path, credentials: str, seen: list[str]) -> Iterator[int]:
    """Git's smart HTTP protocol (git http-backend as a CGI) behind basic auth, on loopback."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.serve()

        def do_POST(self) -> None:
            self.serve()

        def serve(self) -> None:
            if self.headers.get("Authorization") != f"Basic {credentials}":
                seen.append("refused")
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="flows"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            seen.append("authorized")
            path, _, query = self.path.partition("?")
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            env = {
                "PATH": os.environ["PATH"],
                "GIT_PROJECT_ROOT": str(root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "REMOTE_USER": "x-access-token",
                "REQUEST_METHOD": self.command,
                "PATH_INFO": path,
                "QUERY_STRING": query,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(body)),
                "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
                "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            }
            answer = subprocess.run(
                ["git", "http-backend"], input=body, env=env, capture_output=True, check=True
            ).stdout
            head, _, content = answer.partition(b"\r\n\r\n")
            fields = [line.split(": ", 1) for line in head.decode().split("\r\n") if line]
            status = next((int(v.split()[0]) for k, v in fields if k == "Status"), 200)
            self.send_response(status)
            for key, value in fields:
                if key != "Status":
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_retry_on_crash_is_a_bounded_chain_of_automations(api: None, tmp_path: Path) -> None:
    """retry_on_crash {max: 2}: attempt 1 watches the deployment and runs NAME--crash-retry-1,
    attempt 2 watches that one and runs NAME--crash-retry-2, whose crashes start nothing."""
    from prefect.client.orchestration import get_client

    def automations() -> dict:
        with get_client(sync_client=True) as client:
            found = client.read_automations()
        return {a.name: a for a in found if a.name.startswith(deploy.RETRY_PREFIX)}

    def ids(automation) -> tuple[str, str]:
        (watched,) = automation.trigger.match_related["prefect.resource.id"]
        return watched.removeprefix("prefect.deployment."), str(automation.actions[0].deployment_id)

    first = "zoe-prefect: re-run greet/resilient after a crash"
    second = f"{first} (attempt 2)"
    path = repo(tmp_path / "a", [entry(name="resilient", retry_on_crash={"max": 2})])
    summary = apply(path)
    assert summary["created"] == [
        "greet/resilient",
        "greet/resilient--crash-retry-1",
        "greet/resilient--crash-retry-2",
    ]
    assert summary["retries"] == [f"created: {first}", f"created: {second}"]
    base, one, two = (
        str(read(f"greet/resilient{suffix}").id)
        for suffix in ("", "--crash-retry-1", "--crash-retry-2")
    )
    found = automations()
    assert set(found) == {first, second}
    assert ids(found[first]) == (base, one) and ids(found[second]) == (one, two)
    # Nothing watches the last one: the chain ends after two replacements.
    assert two not in {ids(a)[0] for a in found.values()}
    assert read("greet/resilient--crash-retry-1").schedules == []
    # The server renders the replacement's parameters from the crashed run: its values, and
    # the flow's defaults for what it did not have (rendered here by Prefect's own code).
    from prefect.client.schemas.objects import FlowRun
    from prefect.utilities.schema_tools.hydration import HydrationContext, hydrate

    for given, expected in [
        ({"name": "crash's", "times": 3}, {"name": "crash's", "times": 3}),
        ({"name": 'x <&> "y"'}, {"name": 'x <&> "y"', "times": 1}),
        ({}, {"name": "you", "times": 1}),
    ]:
        crashed = FlowRun(flow_id=base, parameters=given)
        context = HydrationContext(
            render_jinja=True, raise_on_error=True, jinja_context={"flow_run": crashed}
        )
        for automation in found.values():
            assert hydrate(automation.actions[0].parameters, context) == expected
    again = apply(path)
    assert (again["retries"], again["changed"]) == ([], False)

    # true is one replacement: the second attempt's deployment and automation go (without
    # --prune: they are the script's own).
    path = repo(tmp_path / "b", [entry(name="resilient", retry_on_crash=True)])
    one_only = apply(path)
    assert one_only["removed"] == ["greet/resilient--crash-retry-2"]
    # (the first attempt's description names the bound, so it is updated)
    assert one_only["retries"] == [f"updated: {first}", f"removed: {second}"]
    assert set(automations()) == {first}
    path = repo(tmp_path / "c", [entry(name="resilient", retry_on_crash=False)])
    none = apply(path)
    assert none["removed"] == ["greet/resilient--crash-retry-1"]
    assert none["retries"] == [f"removed: {first}"]
    assert automations() == {}


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


def test_crashed_runs_are_replaced_at_most_max_times(api: None, tmp_path: Path) -> None:
    """The chain at work on a real server: a crashed run with non-default parameters gets a
    replacement with the same parameters; so does that one's crash; the second replacement's
    crash gets none."""
    from prefect.client.orchestration import get_client
    from prefect.states import Crashed

    path = repo(tmp_path, [entry(name="chained", retry_on_crash={"max": 2})])
    apply(path)
    names = ["greet/chained", "greet/chained--crash-retry-1", "greet/chained--crash-retry-2"]
    ids = [read(name).id for name in names]
    params = {"name": "crash-test", "times": 7}

    def runs_of(deployment_id) -> list:
        with get_client(sync_client=True) as client:
            from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

            return client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
            )

    with get_client(sync_client=True) as client:
        run = client.create_flow_run_from_deployment(ids[0], parameters=params)
        slowest = 0.0
        for attempt in (1, 2):
            crashed_at = time.monotonic()
            client.set_flow_run_state(run.id, Crashed(message="test"), force=True)
            deadline = crashed_at + 60
            while not (replacements := runs_of(ids[attempt])) and time.monotonic() < deadline:
                time.sleep(0.2)
            slowest = max(slowest, time.monotonic() - crashed_at)
            assert len(replacements) == 1, f"attempt {attempt}: {replacements}"
            run = replacements[0]
            assert run.parameters == params
        client.set_flow_run_state(run.id, Crashed(message="test"), force=True)
        # The last crash fires nothing: no new run of any of the three within three times what
        # the slowest replacement took to appear (at least 5 s).
        time.sleep(max(5.0, 3 * slowest))
        assert [len(runs_of(i)) for i in ids] == [1, 1, 1]


def test_the_pull_steps_clone_submodules_only_when_asked() -> None:
    """A .gitmodules would make every worker's clone fetch the URLs it names: off unless the
    inventory turns submodules on (prefect_flows_repo.submodules, the script's --submodules)."""
    public = deploy.pull_steps("git://git.example/f.git", "main", None)
    assert public == [
        {deploy.GIT_CLONE: {"repository": "git://git.example/f.git", "branch": "main"}}
    ]
    asked = deploy.pull_steps("git://git.example/f.git", "main", None, True)
    assert asked[0][deploy.GIT_CLONE]["include_submodules"] is True
    private = deploy.pull_steps("https://git.example/f.git", "main", "repo-token")
    assert "--recurse-submodules" not in private[0][deploy.RUN_SHELL]["script"]
    private = deploy.pull_steps("https://git.example/f.git", "main", "repo-token", True)
    assert "--recurse-submodules --shallow-submodules" in private[0][deploy.RUN_SHELL]["script"]
