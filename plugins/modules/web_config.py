#!/usr/bin/python
"""Module zoe.prefect.web_config: the web configuration file of a Prometheus server or
exporter (exporter-toolkit's --web.config.file) with basic auth users."""

from __future__ import annotations

import os
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

DOCUMENTATION = r"""
---
module: web_config
short_description: Writes a Prometheus web configuration file with bcrypt-hashed basic auth users
description:
  - Writes the file that Prometheus and its exporters read with C(--web.config.file)
    (exporter-toolkit), holding C(basic_auth_users) with bcrypt hashes of the passwords
    given.
  - A user's hash is kept as long as it still matches the password (bcrypt salts every hash,
    so hashing again would change the file on every run); a new password gets a new hash.
  - Needs the Python module bcrypt on the host (Debian's C(python3-bcrypt)).
version_added: 0.1.0
author: zoe-prefect
options:
  path:
    description: The file to write.
    type: path
    required: true
  users:
    description: User name to password.
    type: dict
    required: true
  owner:
    description: The file's owner.
    type: str
    default: root
  group:
    description: The file's group (the account of the service that reads it).
    type: str
    required: true
  mode:
    description: The file's mode.
    type: str
    default: "0640"
"""

EXAMPLES = r"""
- name: Put Prometheus behind basic auth
  zoe.prefect.web_config:
    path: /etc/prometheus/web.yml
    users:
      monitoring: "{{ vault_monitoring_password }}"
    group: prometheus
"""

RETURN = r"""
path:
  description: The file written.
  returned: always
  type: str
"""


try:
    import bcrypt
except ImportError:  # checked in main()
    bcrypt = None

try:
    import yaml
except ImportError:  # checked in main()
    yaml = None


def current_hashes(path: str) -> dict:
    try:
        with Path(path).open(encoding="utf-8") as handle:
            loaded = yaml.safe_load(handle) or {}
    except (OSError, yaml.YAMLError):
        return {}
    users = loaded.get("basic_auth_users") if isinstance(loaded, dict) else None
    return users if isinstance(users, dict) else {}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "users": {"type": "dict", "required": True, "no_log": True},
            "owner": {"type": "str", "default": "root"},
            "group": {"type": "str", "required": True},
            "mode": {"type": "str", "default": "0640"},
        },
        supports_check_mode=True,
    )
    if bcrypt is None:
        module.fail_json(msg=missing_required_lib("bcrypt (Debian: python3-bcrypt)"))
    if yaml is None:
        module.fail_json(msg=missing_required_lib("PyYAML (Debian: python3-yaml)"))
    p = module.params
    if not p["users"]:
        module.fail_json(msg="users must name at least one user")
    old = current_hashes(p["path"])
    hashes = {}
    for user, password in sorted(p["users"].items()):
        password = str(password).encode()
        known = str(old.get(user, "")).encode()
        try:
            keep = bool(known) and bcrypt.checkpw(password, known)
        except ValueError:
            keep = False
        made = known if keep else bcrypt.hashpw(password, bcrypt.gensalt())
        hashes[user] = made.decode()
    content = "# Written by zoe-prefect (module zoe.prefect.web_config): basic auth users.\n"
    content += "basic_auth_users:\n" + "".join(f"  {u}: {h!r}\n" for u, h in hashes.items())
    path = Path(p["path"])
    try:
        changed = path.read_text(encoding="utf-8") != content
    except OSError:
        changed = True
    if changed and not module.check_mode:
        temp = path.parent / f".{path.name}.{os.getpid()}.tmp"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
        module.atomic_move(str(temp), p["path"])
    file_args = module.load_file_common_arguments(
        {"path": p["path"], "owner": p["owner"], "group": p["group"], "mode": p["mode"]}
    )
    if path.exists():
        changed = module.set_fs_attributes_if_different(file_args, changed)
    module.exit_json(changed=changed, path=p["path"])


if __name__ == "__main__":
    main()
