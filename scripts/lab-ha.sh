#!/usr/bin/env bash
# The scaled-out shape as a lab on this machine: molecule/ha's hosts (the control host with
# PostgreSQL and the background services, two more hosts of background services, two API
# replicas, three Redis hosts with Sentinel, HAProxy, two workers), converged by site.yml at the pinned release and left
# running, with HAProxy published on 127.0.0.1:4300 (ZP_HA_UI_PORT). The same containers as a
# `molecule test -s ha` typed by hand: not both at once (`make test` names its own, ZP_RUN).
#
# usage: scripts/lab-ha.sh up|down|env
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
# shellcheck source=scripts/common.sh
. scripts/common.sh

export PATH="$VENV/bin:$PATH"
export ANSIBLE_CONFIG=${ANSIBLE_CONFIG:-$here/ansible.cfg}
export NO_COLOR=1 ANSIBLE_NOCOLOR=1 PY_COLORS=0
port=${ZP_HA_UI_PORT:-4300}
url="https://127.0.0.1:${port}/api"
# The scenario's state (its inventory, with the generated credentials), in a folder of the
# lab's own.
export MOLECULE_EPHEMERAL_DIRECTORY=${MOLECULE_EPHEMERAL_DIRECTORY:-$here/.cache/molecule/lab-ha}
credentials() { echo "$MOLECULE_EPHEMERAL_DIRECTORY/inventory/.credentials"; }

cmd_up() {
  local version start=$SECONDS
  version=$("$VENV/bin/python" -c \
    'import yaml; print(yaml.safe_load(open("roles/prefect/defaults/main.yml"))["prefect_version"])')
  # The scenario converges at the release before the pinned one (for its upgrade test) unless
  # told otherwise.
  molecule converge -s ha -- -e "upgrade_to=$version"
  log "converged in $(( SECONDS - start )) s"
  cat <<MSG

The scaled-out lab is up (Prefect $version), on the Docker network zp-mol-ha.
  Prefect UI and API:  https://127.0.0.1:${port}  (API: ${url}), through HAProxy
  Its certificate's CA: $(credentials)/tls-ca.crt
  Login:               the user and password after PREFECT_API_AUTH_STRING= in $(credentials)/client.env
  CLI from here:       eval "\$(scripts/lab-ha.sh env)" && .venv/bin/prefect work-pool ls
  A shell on a host:   docker exec -it zp-mol-ha-api-1 bash (zp-mol-ha-{control,services-1,lb,redis-1,worker-1,...})
  Remove it:           make lab-ha-down
MSG
}

cmd_env() {
  local file name value
  file="$(credentials)/client.env"
  if [ ! -f "$file" ]; then
    echo "no scaled-out lab credentials in $(dirname "$file"): run 'make lab-ha' first" >&2
    exit 1
  fi
  # client.env names HAProxy by its name on the Docker network; from here it is the published port.
  while IFS='=' read -r name value; do
    case "$name" in
      PREFECT_API_URL) printf 'export %s=%q\n' "$name" "$url" ;;
      PREFECT_*) printf 'export %s=%q\n' "$name" "$value" ;;
    esac
  done <"$file"
}

case "${1:-}" in
  up) cmd_up ;;
  down) molecule destroy -s ha ;;
  env) cmd_env ;;
  *) echo "usage: $0 up|down|env" >&2; exit 2 ;;
esac
