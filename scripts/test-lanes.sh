#!/usr/bin/env bash
# The slow half of `make test` in lanes run at once, since part of each lane's time is spent
# waiting (systemd booting, a server starting, a zombie timeout, a schedule coming due) rather
# than computing. Two lanes by default:
#   lane "lab":   the lab tests (tests/lab), which drive one lab from `make lab` to a restore,
#                 then the scenarios of LAB_LANE_SCENARIOS (default: ha);
#   lane "roles": pytest (flows, templates, preflight cases), then the other molecule scenarios.
# Measured on 2 cores (2026-11-30, make test of 40b6440): lane lab 2301 s (the lab tests 2130),
# lane roles 2644 s (pytest 924, then upgrade, prefect_worker, prefect_server, windows), so
# pytest goes with the longer scenarios, and ha with the lab tests, so that the two lanes end
# within a few minutes of each other. Since ha grew (2026-12-01, make test of 7c26c5f: lane lab
# 1957 s with the lab tests 1206, ha 679 and postgresql 71, lane roles 1500 s), postgresql runs
# in lane roles.
# TEST_LANES=three splits a third lane off: "unit" runs pytest and part of the scenarios, shared
# out by their usual duration (seconds measured on a 2-core machine, below), the longest first,
# each to the lane with less work. On 2 cores the machine is then CPU-bound throughout, and
# under that load Docker exec calls were seen to return empty output now and then (Ansible:
# "failed to resolve remote temporary directory"), so two lanes are the default.
# TEST_LANES=serial runs the lanes one after another.
# The lanes share nothing but the base image and the wheelhouse cache (both written
# atomically); their containers, networks and names are their own. Each lane's lines are
# prefixed with its name; the script fails when any lane fails, after all of them have ended.
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

# Usual durations in seconds (molecule test -s NAME; pytest without the lab tests).
declare -A weight=([unit]=900 [postgresql]=170 [prefect_server]=300 [prefect_worker]=440
  [default]=533 [upgrade]=820 [windows]=160 [ha]=1150)
unit_scenarios=() roles_scenarios=() lab_scenarios=()
unit_load=${weight[unit]} roles_load=0
mode=${TEST_LANES:-two}
# With two lanes, the scenarios named here run in lane lab after the lab tests (which end a few
# minutes before lane roles otherwise).
lab_lane=" ${LAB_LANE_SCENARIOS-ha} "
for scenario in $(for s in "$@"; do echo "${weight[$s]:-300} $s"; done | sort -rn | cut -d' ' -f2); do
  if [ "$mode" = two ] && [[ $lab_lane == *" $scenario "* ]]; then
    lab_scenarios+=("$scenario")
  elif [ "$mode" = three ] && [ "$unit_load" -le "$roles_load" ]; then
    unit_scenarios+=("$scenario") unit_load=$(( unit_load + ${weight[$scenario]:-300} ))
  else
    roles_scenarios+=("$scenario") roles_load=$(( roles_load + ${weight[$scenario]:-300} ))
  fi
done

lane_lab() {
  "$VENV/bin/pytest" -q -s --durations=0 tests/lab || return 1
  [ $# -eq 0 ] || scripts/molecule.sh "$@"
}
lane_unit() {
  "$VENV/bin/pytest" -q --durations=20 -m containers tests --ignore=tests/lab || return 1
  [ $# -eq 0 ] || scripts/molecule.sh "$@"
}
lane_roles() {
  if [ "${TEST_LANES:-two}" != three ]; then
    "$VENV/bin/pytest" -q --durations=20 -m containers tests --ignore=tests/lab || return 1
  fi
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

if [ "$mode" = three ]; then lanes=(lab unit roles); else lanes=(lab roles); fi
log "run $ZP_RUN (lab $ZP_LAB_NAME on 127.0.0.1:$LAB_UI_PORT); lanes: ${lanes[*]}; scenarios in lane roles: ${roles_scenarios[*]}${unit_scenarios:+; in lane unit: ${unit_scenarios[*]}}${lab_scenarios:+; in lane lab, after the lab tests: ${lab_scenarios[*]}}"
start=$SECONDS
if [ "$mode" = serial ]; then
  run_lane lab "${lab_scenarios[@]}"
  run_lane roles "${roles_scenarios[@]}"
else
  # Each lane in a process group of its own, so that an interrupt (or CI's time limit) ends
  # every lane with everything it started.
  funcs=$(declare -f lane_lab lane_unit lane_roles run_lane)
  pids=()
  setsid bash -c "$funcs; VENV=$VENV logs=$logs run_lane lab ${lab_scenarios[*]}" &
  pids+=($!)
  if [ "$mode" = three ]; then
    setsid bash -c "$funcs; VENV=$VENV logs=$logs run_lane unit ${unit_scenarios[*]}" &
    pids+=($!)
  fi
  setsid bash -c "$funcs; VENV=$VENV logs=$logs TEST_LANES=$mode run_lane roles ${roles_scenarios[*]}" &
  pids+=($!)
  trap 'for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null; done; exit 130' INT TERM
  wait "${pids[@]}"
fi
failed=0
# pytest's own closing lines, unprefixed, for whoever reads the end of the log.
grep -hE '^[0-9]+ (passed|failed)|^(FAILED|ERROR) ' "$logs"/lab.log "$logs"/unit.log "$logs"/roles.log 2>/dev/null || true
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
