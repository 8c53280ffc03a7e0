#!/usr/bin/env bash
# The container half of `make test` (after `make check`) in two lanes run at once: part of each
# lane's time is waiting (systemd booting, a server starting, a zombie timeout, a schedule
# coming due, a download) rather than computing, and the two lanes together keep both cores of
# this kind of machine busy.
#   lane "lab":   the lab tests (tests/lab), which drive one lab from `make lab` to a restore,
#                 then the scenarios of LAB_LANE_SCENARIOS (default: database postgresql);
#   lane "roles": pytest's cases that need containers (the preflight cases, two at a time while
#                 the lab lane waits for its first downloads and boots), then the other
#                 molecule scenarios.
# The scenarios are split so that the lanes end close together; docs/testing.md has the lanes'
# current times. TEST_LANES=serial runs the lanes one after the other.
# The lanes share nothing but the base image and the wheelhouse cache (both written
# atomically); every Docker name a lane creates carries this run's prefix (ZP_RUN). Each
# lane's lines are prefixed with its name; the script fails when any lane fails, after all of
# them have ended.
#
# usage: scripts/test-lanes.sh [SCENARIO ...]
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
# shellcheck source=scripts/common.sh
. scripts/common.sh

VENV=${VENV:-.venv}
logs=$(mktemp -d)

# Everything this run creates in Docker carries the run's own prefix (ZP_RUN: containers,
# networks, the lab's name and label), and what it publishes on 127.0.0.1 takes ports that are
# free now, so that this run never touches `make lab`'s fleet or another run's hosts.
free_port() { "$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
export ZP_RUN=${ZP_RUN:-zpt$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')}
export ZP_LAB_NAME=${ZP_LAB_NAME:-$ZP_RUN-lab}
export LAB_UI_PORT=${LAB_UI_PORT:-$(free_port)} LAB_PROMETHEUS_PORT=${LAB_PROMETHEUS_PORT:-$(free_port)}
export ZP_HA_UI_PORT=${ZP_HA_UI_PORT:-$(free_port)}
windows_port=$(free_port)
export ZP_WINDOWS_API_PUBLISH=${ZP_WINDOWS_API_PUBLISH:-127.0.0.1:$windows_port}
export ZP_PREFECT_API_URL=${ZP_PREFECT_API_URL:-http://127.0.0.1:$windows_port/api}
export ZP_WINDOWS_GIT_PUBLISH=${ZP_WINDOWS_GIT_PUBLISH:-127.0.0.1:$(free_port)}
# Whatever a lane left behind when it failed or was stopped: this run's containers, networks
# and its lab's inventory (the prefix makes them this run's only).
cleanup() {
  local ids
  ids=$(docker ps -aq --filter "name=^$ZP_RUN-" 2>/dev/null || true)
  # shellcheck disable=SC2086
  [ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1 || true
  docker network ls -q --filter "name=^$ZP_RUN-" | xargs -r docker network rm >/dev/null 2>&1 || true
  rm -rf "$logs" ".cache/labs/$ZP_LAB_NAME" ".cache/molecule/$ZP_RUN"
}
trap cleanup EXIT

# Every lane needs the engine and the image: make them ready once, before the lanes start.
ensure_docker || exit 1
build_image || exit 1

# Which scenarios run in which lane, after the lane's pytest: the two lanes take about the same
# time on 2 cores (docs/testing.md). A scenario named in neither list runs in lane roles.
lab_lane=" ${LAB_LANE_SCENARIOS-database postgresql} "
lab_scenarios=() roles_scenarios=()
for scenario in "$@"; do
  if [[ $lab_lane == *" $scenario "* ]]; then
    lab_scenarios+=("$scenario")
  else
    roles_scenarios+=("$scenario")
  fi
done

lane_lab() {
  "$VENV/bin/pytest" -q -s --durations=0 tests/lab || return 1
  [ $# -eq 0 ] || scripts/molecule.sh "$@"
}
lane_roles() {
  "$VENV/bin/pytest" -q -n 2 --durations=20 -m containers tests --ignore=tests/lab || return 1
  [ $# -eq 0 ] || scripts/molecule.sh "$@"
}

run_lane() {
  local name=$1 start=$SECONDS rc
  shift
  "lane_$name" "$@" 2>&1 | tee "$logs/$name.log" | sed -u "s/^/[$name] /"
  rc=${PIPESTATUS[0]}
  echo "$rc $(( SECONDS - start ))" >"$logs/$name.rc"
  return "$rc"
}

lanes=(lab roles)
log "run $ZP_RUN (lab $ZP_LAB_NAME on 127.0.0.1:$LAB_UI_PORT); lane lab: the lab tests, then ${lab_scenarios[*]:-no scenario}; lane roles: pytest's container cases, then ${roles_scenarios[*]:-no scenario}"
start=$SECONDS
if [ "${TEST_LANES:-lanes}" = serial ]; then
  run_lane lab "${lab_scenarios[@]}"
  run_lane roles "${roles_scenarios[@]}"
else
  # Each lane in a process group of its own, so that an interrupt (or CI's time limit) ends
  # every lane with everything it started.
  funcs=$(declare -f lane_lab lane_roles run_lane)
  pids=()
  setsid bash -c "$funcs; VENV=$VENV logs=$logs run_lane lab ${lab_scenarios[*]}" &
  pids+=($!)
  setsid bash -c "$funcs; VENV=$VENV logs=$logs run_lane roles ${roles_scenarios[*]}" &
  pids+=($!)
  trap 'for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null; done; exit 130' INT TERM
  wait "${pids[@]}"
fi
failed=0
# pytest's own closing lines, unprefixed, for whoever reads the end of the log.
grep -hE '^[0-9]+ (passed|failed)|^(FAILED|ERROR) ' "$logs"/lab.log "$logs"/roles.log 2>/dev/null || true
for name in "${lanes[@]}"; do
  read -r rc seconds <"$logs/$name.rc" || { rc=1; seconds=?; }
  if [ "$rc" -eq 0 ]; then
    log "lane $name passed in $seconds s"
  else
    log "lane $name FAILED (exit $rc) after $seconds s" >&2
    failed=1
  fi
done
log "all lanes ended after $(( SECONDS - start )) s"
exit "$failed"
