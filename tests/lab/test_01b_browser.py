"""The UI as a user sees it, in a real browser: Debian's chromium driven by Playwright, with the
lab's CA imported into the browser's own certificate store (NSS, with certutil), as a user
imports it. Certificate errors are never ignored; the test proves that a browser without the
CA refuses the site. The browser reaches nothing but the lab's published port on 127.0.0.1:
any other request is refused before it leaves the browser (and counted)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from playwright.sync_api import Browser, Error, Page, Route, expect, sync_playwright

from conftest import LAB_UI_PORT, ROOT
from lab.helpers import api, auth, client_env, figure, lab_hosts

UI = f"https://127.0.0.1:{LAB_UI_PORT}"
SHOTS = ROOT / ".artifacts" / "browser"
# No name is looked up: everything but 127.0.0.1 resolves to nothing.
NO_DNS = "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"


def nss_home(home: Path, ca: Path | None) -> dict[str, str]:
    """A home folder whose NSS database trusts `ca` (or nothing), as chromium reads it."""
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True)
    certutil = ["certutil", "-d", f"sql:{db}"]
    subprocess.run([*certutil, "-N", "--empty-password"], check=True)
    if ca is not None:
        subprocess.run(
            [*certutil, "-A", "-t", "C,,", "-n", "zoe-prefect lab CA", "-i", ca], check=True
        )
    return {"HOME": str(home), "PATH": "/usr/bin:/bin"}


@pytest.fixture(scope="module")
def chromium() -> Iterator[tuple[object, str]]:
    subprocess.run([ROOT / "scripts" / "ensure-browser.sh"], check=True)
    with sync_playwright() as playwright:
        yield playwright, shutil.which("chromium") or "/usr/bin/chromium"


def launch(chromium: tuple[object, str], env: dict[str, str]) -> Browser:
    playwright, executable = chromium
    return playwright.chromium.launch(executable_path=executable, env=env, args=[NO_DNS])


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}.png", full_page=True)


def test_a_browser_without_the_labs_ca_refuses_the_ui(
    chromium: tuple[object, str], tmp_path: Path
) -> None:
    browser = launch(chromium, nss_home(tmp_path / "home", None))
    try:
        with pytest.raises(Error, match="ERR_CERT_AUTHORITY_INVALID"):
            browser.new_page().goto(f"{UI}/")
    finally:
        browser.close()


def test_the_ui_in_a_real_browser(chromium: tuple[object, str], tmp_path: Path) -> None:
    """Logged out: the login page. Logged in with the auth string: Deployments lists the
    manifest's deployments, the `linux` pool's Workers tab shows every lab worker Online, and a
    flow run's page draws its graph. The UI asks no other host for anything (its
    Content-Security-Policy allows its own origin only), and the policy blocks nothing the
    pages use."""
    ca = Path(client_env()["PREFECT_API_SSL_CERT_FILE"])
    auth_string = ":".join(auth())
    manifest = yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text())
    deployments = [d["name"] for d in manifest["deployments"]]
    workers = lab_hosts("status=running", "label=zoe-prefect.group=linux_workers")
    assert deployments and workers

    browser = launch(chromium, nss_home(tmp_path / "home", ca))
    refused: list[str] = []
    blocked: list[str] = []
    completed = {"flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}, "limit": 1}
    run = api("POST", "/flow_runs/filter", completed)[0]

    def only_the_lab(route: Route) -> None:
        if urlsplit(route.request.url).netloc == f"127.0.0.1:{LAB_UI_PORT}":
            route.continue_()
        else:
            refused.append(urlsplit(route.request.url).netloc)
            route.abort()

    try:
        context = browser.new_context()
        context.set_default_timeout(30_000)
        context.route("**/*", only_the_lab)
        page = context.new_page()
        # What the policy refused, as the browser reports it.
        page.on(
            "console",
            lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None,
        )

        response = page.goto(f"{UI}/")
        policy = response.headers.get("content-security-policy", "")
        assert "connect-src 'self'" in policy and "default-src 'self'" in policy, policy
        expect(page).to_have_url(re.compile(r"/login"))
        login = page.get_by_placeholder("admin:pass")
        expect(login).to_be_visible()
        shot(page, "01-login")

        login.fill(auth_string)
        page.get_by_role("button", name="Login").click()
        expect(page).to_have_url(re.compile(r"/dashboard"))
        shot(page, "02-dashboard")

        page.get_by_role("link", name="Deployments", exact=True).click()
        expect(page).to_have_url(re.compile(r"/deployments"))
        for name in deployments:
            expect(page.get_by_role("link", name=name, exact=True).first).to_be_visible()
        shot(page, "03-deployments")

        page.get_by_role("link", name="Work Pools", exact=True).click()
        page.get_by_role("link", name="linux", exact=True).click()
        page.get_by_role("tab", name="Workers").click()
        for worker in workers:
            row = page.get_by_role("row").filter(has_text=worker)
            expect(row).to_contain_text("Online")
        shot(page, "04-linux-pool-workers")

        page.goto(f"{UI}/runs/flow-run/{run['id']}")
        expect(page.get_by_text(run["name"]).first).to_be_visible()
        expect(page.locator("canvas").first).to_be_visible()
        shot(page, "05-flow-run")
    finally:
        browser.close()
    assert refused == [], f"the UI asked other hosts: {sorted(set(refused))}"
    # The policy stopped the UI's calls to other hosts before they were made (its bundle asks an
    # analytics host on every load); it must block nothing of the fleet's own.
    elsewhere = [m for m in blocked if re.search(r"https?://(?!127\.0\.0\.1[:/])", m)]
    assert [m for m in blocked if m not in elsewhere] == [], blocked
    figure(
        f"the UI in chromium: login, {len(deployments)} deployments, {len(workers)} workers "
        f"Online, a flow run's graph; screenshots in {SHOTS}; no request to another host, "
        f"{len(elsewhere)} attempt(s) stopped by the Content-Security-Policy"
    )
