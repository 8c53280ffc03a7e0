"""The shared firewall's rules (roles/prefect/templates/firewall.nft.j2), rendered by Ansible for
hosts with known addresses: each rule's set holds loopback, its hosts' own addresses (IPv4 and
IPv6 network facts, ansible_host when it is an address) and its other addresses, and nothing of
the hosts it does not name; the last rule resets every guarded port; nft accepts the file."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, VENV_BIN

TEMPLATE = ROOT / "roles" / "prefect" / "templates" / "firewall.nft.j2"
# Three hosts: a server (two IPv4 addresses and an IPv6 one), a database host reached by
# ansible_host, and a worker that no rule names.
FACTS = {
    "server": {"all_ipv4_addresses": ["10.0.0.2", "192.168.7.2"],
               "all_ipv6_addresses": ["FD00::2"]},
    "db": {"all_ipv4_addresses": ["10.0.0.3"], "all_ipv6_addresses": []},
    "worker": {"all_ipv4_addresses": ["10.0.0.9"], "all_ipv6_addresses": ["fd00::9"]},
}  # fmt: skip
FIREWALL = {
    "name": "example",
    "what": "an example",
    "enabled": True,
    "before": ["example.service"],
    "rules": [
        {"what": "servers and the database", "ports": [5432, 8008], "hosts": ["server", "db"],
         "allowed": ["172.16.0.0/12", "2001:DB8::/32"]},
        {"what": "the database alone", "ports": [2379], "hosts": ["db"]},
    ],
}  # fmt: skip


def render(tmp_path: Path) -> str:
    out = tmp_path / "example-firewall.nft"
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        yaml.safe_dump(
            {"all": {"hosts": {"server": {}, "db": {"ansible_host": "10.0.1.3"}, "worker": {}}}}
        )
    )
    playbook = tmp_path / "render.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "hosts": "all",
                    "gather_facts": False,
                    "connection": "local",
                    "tasks": [
                        {
                            "ansible.builtin.set_fact": {
                                "ansible_facts": "{{ facts[inventory_hostname] }}"
                            }
                        },
                        {
                            "ansible.builtin.template": {
                                "src": str(TEMPLATE),
                                "dest": str(out),
                                "mode": "0600",
                            },
                            "run_once": True,
                        },
                    ],
                }
            ]
        )  # fmt: skip
    )
    done = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(playbook),
         "-e", json.dumps({"facts": FACTS, "_prefect_firewall": FIREWALL,
                           "ansible_python_interpreter": sys.executable})],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return out.read_text()


def elements(rules: str, name: str) -> set[str]:
    match = re.search(r"set " + name + r" \{.*?elements = \{ (.*?) \}", rules, re.S)
    assert match, f"no set {name}"
    return set(match.group(1).split(", "))


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> str:
    return render(tmp_path_factory.mktemp("firewall"))


def test_each_rule_admits_its_hosts_and_addresses_only(rules: str) -> None:
    assert elements(rules, "reach1_ipv4") == {
        "127.0.0.0/8", "10.0.0.2", "192.168.7.2", "10.0.0.3", "10.0.1.3", "172.16.0.0/12"
    }  # fmt: skip
    assert elements(rules, "reach1_ipv6") == {"::1", "fd00::2", "2001:db8::/32"}
    assert elements(rules, "reach2_ipv4") == {"127.0.0.0/8", "10.0.0.3", "10.0.1.3"}
    assert elements(rules, "reach2_ipv6") == {"::1"}
    assert "10.0.0.9" not in rules and "fd00::9" not in rules


def test_the_guarded_ports_are_reset_for_everyone_else(rules: str) -> None:
    chain = rules[rules.index("chain input") :]
    assert "tcp dport { 5432, 8008 } ip saddr @reach1_ipv4 accept" in chain
    assert "tcp dport { 2379 } ip6 saddr @reach2_ipv6 accept" in chain
    # The reset comes after every accept, and covers every port of every rule.
    last = [line.strip() for line in chain.splitlines() if "dport" in line][-1]
    assert last == "tcp dport { 5432, 8008, 2379 } reject with tcp reset"
    # The file replaces the whole table at once.
    assert rules.index("delete table inet zoe_prefect_example") < rules.index(
        "table inet zoe_prefect_example {"
    )


@pytest.mark.skipif(shutil.which("nft") is None, reason="needs nft (Debian's nftables)")
def test_nft_accepts_the_rules(rules: str, tmp_path: Path) -> None:
    path = tmp_path / "rules.nft"
    path.write_text(rules)
    done = subprocess.run(["nft", "--check", "--file", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
