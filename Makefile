# zoe-prefect: `make lab` runs the fleet on this machine, `make check` is the fast gate (no
# containers, at most 5 minutes), `make test` proves every shape on real hosts.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
LAB_LINUX_WORKERS ?= 2
# molecule scenarios run by `make test`. molecule/default (the whole fleet) is not among them:
# the lab tests converge the same fleet and run its verify playbook against it. molecule/windows
# runs when there is a Windows host to run it against (ZP_WINDOWS_HOST, docs/windows.md);
# without one, the lab tests check what it would (a Windows host that does not answer fails
# alone, the Linux hosts converge with the Windows pool). `make molecule` runs every scenario.
SCENARIOS ?= postgresql prefect_server prefect_worker database ha $(if $(ZP_WINDOWS_HOST),windows)
MOLECULE_SCENARIOS ?= postgresql prefect_server prefect_worker database windows ha

# Host packages: the hash-locked locks (make lock) and the wheelhouses built from them.
LOCK_DIR ?= roles/prefect/files/locks
REQUIREMENTS ?=
WHEELHOUSE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/zoe-prefect/wheelhouse
PACKAGES := $(PY) roles/prefect/files/packages.py

# The collection's tarball (`make collection`, part of `make check`).
DIST ?= .cache/dist
COLLECTION_VERSION := $(shell sed -n 's/^version: *//p' galaxy.yml)

export VENV LAB_LINUX_WORKERS
export PATH := $(abspath $(BIN)):$(PATH)
export ANSIBLE_CONFIG := $(abspath ansible.cfg)

.PHONY: help venv lab lab-down lab-env lab-ha lab-ha-down check check-parts test test-ready test-lab lint yamllint ansible-lint ruff syntax pytest pytest-unit molecule clean lock lock-check wheelhouse bench bench-ha bench-db collection docs docs-check changelog

help:
	@echo "make lab        start the lab fleet on this machine (LAB_LINUX_WORKERS=$(LAB_LINUX_WORKERS))"
	@echo "make lab-down   remove the lab's containers and network"
	@echo "make lab-env    print the exports that point the prefect CLI at the lab"
	@echo "make lab-ha     start the scaled-out shape (molecule/ha's hosts) on this machine"
	@echo "make lab-ha-down remove it"
	@echo "make check      the fast gate: lint, syntax, the collection's tarball, pytest without containers"
	@echo "make test       make check, then the lab tests and the molecule scenarios on containers"
	@echo "make collection build $(DIST)/zoe-prefect-$(COLLECTION_VERSION).tar.gz"
	@echo "make docs       write the role READMEs' variable tables and docs/performance.md"
	@echo "make lock       lock the hosts' packages again (LOCK_DIR, REQUIREMENTS='prefect==... ...')"
	@echo "make bench      the lab's figures beside their floors (docs/data/bench.json)"
	@echo "make bench-ha   API reads/s with 2 replicas against 1 on molecule/ha (docs/data/bench_ha.json)"
	@echo "make bench-db   failover figures and the cost of synchronous commits (docs/data/bench_db.json)"
	@echo "make wheelhouse build every kind of host's wheelhouse into $(WHEELHOUSE_DIR)"

venv: $(VENV)/.installed

# uv installs the controller's requirements (about 15 s, against 2-3 min for pip), with their
# bytecode compiled (about 30 s more, once): where PYTHONDONTWRITEBYTECODE is set, Python would
# otherwise compile Ansible, molecule and prefect again in every process.
$(VENV)/.installed: requirements.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check "$$(grep '^uv==' requirements.txt)"
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(PY) -r requirements.txt
	@touch $@

lab: venv
	scripts/lab.sh up

lab-down:
	scripts/lab.sh down

lab-env: venv
	@scripts/lab.sh env

# The scaled-out shape (docs/scaling-out.md) as a lab: molecule/ha's hosts,
# converged at the pinned release and left running; `scripts/lab-ha.sh env` for the CLI.
lab-ha: venv
	scripts/lab-ha.sh up

lab-ha-down: venv
	scripts/lab-ha.sh down

# The fast gate, for every change: no container, at most 5 minutes. ansible-lint (one core)
# and pytest's cases that need no container run side by side.
check: venv
	$(MAKE) --no-print-directory -j3 --output-sync=target ansible-lint pytest-unit check-parts

check-parts: yamllint ruff lock-check docs-check syntax collection

# make check, with what the container tests need made ready beside it (scripts/test-ready.sh:
# Docker, the base image, the Linux wheelhouses; mostly downloads), then the container tests in
# two lanes run at once (scripts/test-lanes.sh: the lab tests with some scenarios, the preflight
# cases with the others; TEST_LANES=serial for one after the other). make check beside the
# lanes made the pytest harness's server miss its start timeout under the load.
test: venv
	$(MAKE) --no-print-directory -j2 --output-sync=target check test-ready
	scripts/test-lanes.sh $(SCENARIOS)

test-ready: venv
	scripts/test-ready.sh

lint: venv yamllint ansible-lint ruff lock-check

ruff: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

yamllint: venv
	$(BIN)/yamllint --strict .

ansible-lint: venv
	$(BIN)/ansible-lint --profile production

syntax: venv
	$(BIN)/ansible-playbook --syntax-check -i inventory/example site.yml

pytest: venv
	$(BIN)/pytest -q tests --ignore=tests/lab

# Every pytest case that needs no container (the others carry the `containers` mark).
pytest-unit: venv
	$(BIN)/pytest -q -n 2 -m "not containers" tests --ignore=tests/lab

# The collection's tarball, as `ansible-galaxy collection install` takes it.
collection: venv
	$(BIN)/ansible-galaxy collection build --force --output-path $(DIST) .

# The generated docs: the role READMEs' variable tables (from argument_specs) and
# docs/performance.md (from the benchmarks' JSON in docs/data); docs-check fails when stale.
docs: venv
	$(PY) scripts/role_docs.py
	$(PY) scripts/perf_docs.py

docs-check: venv
	$(PY) scripts/role_docs.py --check
	$(PY) scripts/perf_docs.py --check

# The CHANGELOG from changelogs/fragments (antsibull-changelog).
changelog: venv
	$(BIN)/antsibull-changelog generate

# The lab as a user drives it (make lab, again, scaled to 3 workers, a timed run); prints figures.
test-lab: venv
	$(BIN)/pytest -q -s tests/lab

# Lock the hosts' packages (uv pip compile with hashes, one lock per kind of host).
lock: venv
	$(PACKAGES) lock --dir $(LOCK_DIR) $(foreach r,$(REQUIREMENTS),--requirement '$(r)')

# Fails when the locks do not match the roles' defaults (prefect, prefect-shell, uv versions).
lock-check: venv
	$(PACKAGES) check --dir $(LOCK_DIR)

# Download every kind of host's wheelhouse now (e.g. to carry it to a controller without
# access to the index); site.yml builds the ones it needs by itself.
wheelhouse: venv
	@for target in linux-cp311 linux-cp313 windows-cp312; do \
	  $(PACKAGES) wheelhouse --dir $(LOCK_DIR) --target $$target --cache $(WHEELHOUSE_DIR) || exit 1; \
	done

# Figures of the lab (converge, re-run, scale-out, install, dispatch, bursts), each beside a
# floor measured in the same run, written to docs/data/bench.json (make docs renders them).
# BENCH_SCALE="8 16": fresh fleets of that size; BENCH_POLL=0 skips the polling cost.
bench: venv
	$(PY) scripts/bench.py

# API reads through HAProxy with 2 API replicas against 1, on molecule/ha's hosts (converged
# first when they are not up, and left up). BENCH_HA_ROUNDS, BENCH_HA_REQUESTS.
bench-ha: venv
	$(PY) scripts/bench_ha.py

# The replicated database on fresh molecule/database hosts: its faults' figures (failover,
# write gaps, rejoin) beside the ttl, and a commit's cost with synchronous replication beside
# the primary's alone; written to docs/data/bench_db.json. BENCH_DB_ROUNDS, BENCH_DB_SECONDS.
bench-db: venv
	$(PY) scripts/bench_db.py

molecule: venv
	scripts/molecule.sh $(MOLECULE_SCENARIOS)

clean: lab-down
	rm -rf $(VENV)
