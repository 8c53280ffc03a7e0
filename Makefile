# zoe-prefect: `make lab` runs the fleet on this machine, `make test` proves it.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
LAB_LINUX_WORKERS ?= 2
# molecule scenarios run by `make test`. molecule/default (the whole fleet) is not among them:
# the lab tests converge the same fleet and run its verify playbook against it.
SCENARIOS ?= postgresql prefect_server prefect_worker upgrade windows ha

# Host packages: the hash-locked locks (make lock) and the wheelhouses built from them.
LOCK_DIR ?= roles/prefect/files/locks
REQUIREMENTS ?=
WHEELHOUSE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/zoe-prefect/wheelhouse
PACKAGES := $(PY) roles/prefect/files/packages.py

export VENV LAB_LINUX_WORKERS
export PATH := $(abspath $(BIN)):$(PATH)
export ANSIBLE_CONFIG := $(abspath ansible.cfg)

.PHONY: help venv lab lab-down lab-env lab-ha lab-ha-down test test-lab lint yamllint ansible-lint syntax pytest molecule clean lock lock-check wheelhouse bench bench-ha

help:
	@echo "make lab        start the lab fleet on this machine (LAB_LINUX_WORKERS=$(LAB_LINUX_WORKERS))"
	@echo "make lab-down   remove the lab's containers and network"
	@echo "make lab-env    print the exports that point the prefect CLI at the lab"
	@echo "make lab-ha     start the scaled-out shape (molecule/ha's hosts) on this machine"
	@echo "make lab-ha-down remove it"
	@echo "make test       lint, syntax-check, pytest and every molecule scenario"
	@echo "make lock       lock the hosts' packages again (LOCK_DIR, REQUIREMENTS='prefect==... ...')"
	@echo "make bench      the lab's figures beside their floors (.bench/bench.json)"
	@echo "make bench-ha   API reads/s with 2 replicas against 1 on molecule/ha (.bench/bench_ha.json)"
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

# The scaled-out shape (README, "Scaling out the control plane") as a lab: molecule/ha's hosts,
# converged at the pinned release and left running; `scripts/lab-ha.sh env` for the CLI.
lab-ha: venv
	scripts/lab-ha.sh up

lab-ha-down: venv
	scripts/lab-ha.sh down

# pytest and the lab tests in one lane, the molecule scenarios in another, run at once
# (scripts/test-lanes.sh; TEST_LANES=three for three lanes, serial for one after the other).
test: lint syntax
	scripts/test-lanes.sh $(SCENARIOS)

lint: venv yamllint ansible-lint lock-check
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
# floor measured in the same run; a JSON copy in .bench/bench.json. BENCH_SCALE="2 8 16".
bench: venv
	$(PY) scripts/bench.py

# API reads through HAProxy with 2 API replicas against 1, on molecule/ha's hosts (converged
# first when they are not up, and left up). BENCH_HA_ROUNDS, BENCH_HA_REQUESTS.
bench-ha: venv
	$(PY) scripts/bench_ha.py

molecule: venv
	scripts/molecule.sh $(SCENARIOS)

clean: lab-down
	rm -rf $(VENV)
