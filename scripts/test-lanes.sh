#!/usr/bin/env bash
# The slow half of `make test` in two lanes at once, since much of each lane's time is spent
# waiting (systemd booting, a server starting, a zombie timeout, a schedule coming due) rather
# than computing:
#   lane "pytest": pytest (flows, templates, preflight cases), then the lab tests (tests/lab);
#   lane "molecule": every molecule scenario (scripts/molecule.sh).
# The lanes share nothing but the base image and the wheelhouse cache (both written
# atomically); their containers, networks and names are their own. Each lane's lines are
# prefixed with its name; the script fails when either lane fails, after both have ended.
#
# usage: scripts/test-lanes.sh [SCENARIO ...]    (TEST_LANES=serial runs them one after the other)
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
# shellcheck source=scripts/common.sh
. scripts/common.sh

VENV=${VENV:-.venv}
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

# Both lanes need the engine and the image: make them ready once, before the lanes start.
ensure_docker || exit 1
build_image || exit 1

lane_pytest() {
  "$VENV/bin/pytest" -q tests --ignore=tests/lab && "$VENV/bin/pytest" -q -s tests/lab
}
lane_molecule() { scripts/molecule.sh "$@"; }

run_lane() {
  local name=$1 start=$SECONDS rc
  shift
  "lane_$name" "$@" 2>&1 | tee "$logs/$name.log" | sed -u "s/^/[$name] /"
  rc=${PIPESTATUS[0]}
  echo "$rc $(( SECONDS - start ))" >"$logs/$name.rc"
  return "$rc"
}

start=$SECONDS
if [ "${TEST_LANES:-parallel}" = serial ]; then
  run_lane pytest
  run_lane molecule "$@"
else
  # Each lane in a process group of its own, so that an interrupt (or CI's time limit) ends
  # both with everything they started.
  setsid bash -c "$(declare -f lane_pytest lane_molecule run_lane); VENV=$VENV logs=$logs run_lane pytest" &
  pytest_pid=$!
  setsid bash -c "$(declare -f lane_pytest lane_molecule run_lane); VENV=$VENV logs=$logs run_lane molecule $*" &
  molecule_pid=$!
  trap 'kill -TERM -- -$pytest_pid -$molecule_pid 2>/dev/null; exit 130' INT TERM
  wait "$pytest_pid" "$molecule_pid"
fi
failed=0
# pytest's own closing lines, unprefixed, for whoever reads the end of the log.
grep -E '^[0-9]+ (passed|failed)|^(FAILED|ERROR) ' "$logs/pytest.log" || true
for name in pytest molecule; do
  read -r rc seconds <"$logs/$name.rc" || { rc=1; seconds=?; }
  if [ "$rc" -eq 0 ]; then
    log "lane $name passed in $seconds s"
  else
    log "lane $name FAILED (exit $rc) after $seconds s" >&2
    failed=1
  fi
done
log "both lanes ended after $(( SECONDS - start )) s"
exit "$failed"
