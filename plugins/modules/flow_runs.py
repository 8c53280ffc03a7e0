#!/usr/bin/python
"""Module zoe.prefect.flow_runs: every flow run of a Prefect API that matches a filter, read
page by page."""

from __future__ import annotations

import json

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

DOCUMENTATION = r"""
---
module: flow_runs
short_description: Lists every flow run of a Prefect 3 API in given states and work pools
description:
  - Reads C(POST /flow_runs/filter) page by page until the API has no more, so that a
    fleet with more runs in flight than one page still gets all of them.
  - Each page after the first leaves out the runs already read (by id), so a run that
    changes state between two pages can neither be read twice nor push another run past
    the page it would have been on, as an offset would.
  - Read-only; supports check mode.
version_added: 0.1.0
author: zoe-prefect
options:
  api_url:
    description: The API's URL, ending in C(/api).
    type: str
    required: true
  state_types:
    description: The state types to list (C(PENDING), C(RUNNING), ...).
    type: list
    elements: str
    required: true
  pools:
    description: The work pools whose runs to list.
    type: list
    elements: str
    required: true
  worker_name:
    description:
      - Keep only the runs whose label C(prefect.worker.name) is this worker's.
      - Empty keeps every run.
    type: str
    default: ""
  page_size:
    description: Runs per request, at most the server's C(PREFECT_SERVER_API_DEFAULT_LIMIT).
    type: int
    default: 200
  url_username:
    description: The API's basic auth user; empty for none.
    type: str
    default: ""
  url_password:
    description: The API's basic auth password.
    type: str
    default: ""
  force_basic_auth:
    description: Send the credentials with the first request.
    type: bool
    default: false
  ca_path:
    description: The CA file the API's certificate is checked against; empty for the system's.
    type: str
    default: ""
  timeout:
    description: Seconds each request may take.
    type: int
    default: 30
"""

EXAMPLES = r"""
- name: List this host's runs that have not ended
  zoe.prefect.flow_runs:
    api_url: http://127.0.0.1:4200/api
    state_types: [PENDING, RUNNING, CANCELLING]
    pools: [linux]
    worker_name: worker-1
"""

RETURN = r"""
runs:
  description: The matching runs (id, name, state_type, infrastructure_pid, labels).
  returned: always
  type: list
  elements: dict
pages:
  description: How many requests it took.
  returned: always
  type: int
"""


FIELDS = ("id", "name", "state_type", "infrastructure_pid", "labels")


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "api_url": {"type": "str", "required": True},
            "state_types": {"type": "list", "elements": "str", "required": True},
            "pools": {"type": "list", "elements": "str", "required": True},
            "worker_name": {"type": "str", "default": ""},
            "page_size": {"type": "int", "default": 200},
            "url_username": {"type": "str", "default": ""},
            "url_password": {"type": "str", "default": "", "no_log": True},
            "force_basic_auth": {"type": "bool", "default": False},
            "ca_path": {"type": "str", "default": ""},
            "timeout": {"type": "int", "default": 30},
        },
        supports_check_mode=True,
    )
    p = module.params
    if p["page_size"] < 1:
        module.fail_json(msg="page_size must be at least 1")
    url = p["api_url"].rstrip("/") + "/flow_runs/filter"
    seen: list[str] = []
    runs: list[dict] = []
    pages = 0
    while True:
        flow_runs: dict = {"state": {"type": {"any_": p["state_types"]}}}
        if seen:
            flow_runs["id"] = {"not_any_": seen}
        body = {
            "flow_runs": flow_runs,
            "work_pools": {"name": {"any_": p["pools"]}},
            "limit": p["page_size"],
        }
        try:
            answer = open_url(
                url,
                method="POST",
                data=json.dumps(body),
                headers={"Content-Type": "application/json"},
                url_username=p["url_username"] or None,
                url_password=p["url_password"] or None,
                force_basic_auth=p["force_basic_auth"],
                ca_path=p["ca_path"] or None,
                timeout=p["timeout"],
            )
            page = json.loads(answer.read())
        except Exception as error:  # noqa: BLE001 - any failure is the API's not answering
            module.fail_json(msg=f"{url}: {error}", pages=pages, runs=runs)
        pages += 1
        for run in page:
            seen.append(run["id"])
            labels = run.get("labels") or {}
            if p["worker_name"] and labels.get("prefect.worker.name") != p["worker_name"]:
                continue
            runs.append({key: run.get(key) for key in FIELDS})
        if len(page) < p["page_size"]:
            break
    module.exit_json(changed=False, runs=runs, pages=pages, status=200)


if __name__ == "__main__":
    main()
