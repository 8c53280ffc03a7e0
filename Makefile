# zoe-prefect: `make lab` runs the fleet on this machine, `make test` proves it.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
LAB_LINUX_WORKERS ?= 2
# molecule scenarios run by `make test`, in this order
SCENARIOS ?= postgresql prefect_server prefect_worker tls default upgrade windows

export VENV LAB_LINUX_WORKERS
export PATH := $(abspath $(BIN)):$(PATH)
export ANSIBLE_CONFIG := $(abspath ansible.cfg)

.PHONY: help venv lab lab-down lab-env test test-lab lint yamllint ansible-lint syntax pytest molecule clean

help:
	@echo "make lab        start the lab fleet on this machine (LAB_LINUX_WORKERS=$(LAB_LINUX_WORKERS))"
	@echo "make lab-down   remove the lab's containers and network"
	@echo "make lab-env    print the exports that point the prefect CLI at the lab"
	@echo "make test       lint, syntax-check, pytest and every molecule scenario"

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	@touch $@

lab: venv
	scripts/lab.sh up

lab-down:
	scripts/lab.sh down

lab-env: venv
	@scripts/lab.sh env

test: lint syntax pytest molecule test-lab

lint: venv yamllint ansible-lint
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

molecule: venv
	scripts/molecule.sh $(SCENARIOS)

clean: lab-down
	rm -rf $(VENV)
