"""The fleet's alert rules, rendered with the role's defaults, checked and unit-tested by
promtool (Debian's, fetched by scripts/promtool.sh when it is not on PATH)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import jinja2
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ROLE = ROOT / "roles" / "prefect_monitoring"
TESTS = ROOT / "tests" / "data" / "alert_rules_test.yml"


@pytest.fixture(scope="module")
def promtool() -> str:
    done = subprocess.run(
        [ROOT / "scripts" / "promtool.sh"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def promtool_run(promtool: str, *args: object, cwd: Path | None = None):
    return subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True, check=False)


def render(overrides: dict | None = None) -> str:
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    template = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(
        (ROLE / "templates" / "zoe-prefect.rules.yml.j2").read_text()
    )
    # The pools the inventory's workers serve (roles/prefect/vars/main.yml computes them).
    fleet = {
        "ansible_managed": "rendered by the tests",
        "_prefect_inventory_pools": ["gpu", "linux"],
    }
    values = defaults | fleet | (overrides or {})
    return template.render(**values)


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    (tmp_path / "zoe-prefect.yml").write_text(render())
    shutil.copy(TESTS, tmp_path / TESTS.name)
    return tmp_path


def test_the_rules_are_valid(promtool: str, rules_dir: Path) -> None:
    done = promtool_run(promtool, "check", "rules", rules_dir / "zoe-prefect.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 12 rules found" in done.stdout


def test_every_rule_fires_and_stays_quiet_where_it_should(promtool: str, rules_dir: Path) -> None:
    cases = yaml.safe_load(TESTS.read_text())["tests"]
    rules = yaml.safe_load((rules_dir / "zoe-prefect.yml").read_text())["groups"][0]["rules"]
    checks = [check for case in cases for check in case["alert_rule_test"]]
    for rule in rules:
        mine = [check for check in checks if check["alertname"] == rule["alert"]]
        assert any(check["exp_alerts"] for check in mine), f"{rule['alert']} never fires"
        assert any(not check["exp_alerts"] for check in mine), f"{rule['alert']} never quiet"
    done = promtool_run(promtool, "test", "rules", TESTS.name, cwd=rules_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    print(f"promtool: {len(rules)} rules, {len(cases)} test groups, {len(checks)} checks")


def test_a_changed_threshold_changes_what_fires(promtool: str, rules_dir: Path) -> None:
    # The linux pool's 3 failed or crashed runs of 9 are under a ratio of 0.4: the test that
    # expects the alert now fails, so the threshold really reaches the rule.
    (rules_dir / "zoe-prefect.yml").write_text(render({"prefect_monitoring_failure_ratio": 0.4}))
    done = promtool_run(promtool, "test", "rules", TESTS.name, cwd=rules_dir)
    assert done.returncode != 0
    failed = re.findall(r"alertname: (\w+), time", done.stdout + done.stderr)
    assert failed == ["PrefectFlowRunFailureRatioHigh"], done.stdout
