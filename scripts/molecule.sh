#!/usr/bin/env bash
# Run molecule scenarios the way CI does, each with plain `molecule test -s NAME`, and report
# each scenario's time.
#
# usage: scripts/molecule.sh [SCENARIO ...]   (default: every scenario under molecule/)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
# shellcheck source=scripts/common.sh
. scripts/common.sh

# Plain `molecule test`, as a user types it: its dependency step (scripts/molecule-ready.sh)
# makes Docker, the base image and the Git bundle ready.
export PATH="$VENV/bin:$PATH"
# Plain output: CI logs are read as text.
export NO_COLOR=1 ANSIBLE_NOCOLOR=1 PY_COLORS=0 ANSIBLE_FORCE_COLOR=0

if [ $# -eq 0 ]; then
  set -- $(find molecule -mindepth 2 -maxdepth 2 -name molecule.yml -printf '%h\n' | xargs -n1 basename | sort)
fi

report=()
for scenario in "$@"; do
  start=$SECONDS
  if [ "$scenario" = windows ] && [ -z "${ZP_WINDOWS_HOST:-}" ]; then
    log "SKIPPED molecule/windows: no Windows host is given. It runs against a real one when"
    log "  ZP_WINDOWS_HOST, ZP_WINDOWS_USER, ZP_WINDOWS_PASSWORD, ZP_PREFECT_API_URL and"
    log "  ZP_PREFECT_API_AUTH_PASSWORD are set (see molecule/windows/molecule.yml)."
    report+=("windows: SKIPPED (no Windows host given)")
    continue
  fi
  log "molecule test -s $scenario"
  if ! molecule test -s "$scenario"; then
    log "scenario $scenario FAILED after $(( SECONDS - start )) s" >&2
    exit 1
  fi
  report+=("$scenario: $(( SECONDS - start )) s")
done
log "all scenarios passed:"
printf '  %s\n' "${report[@]}"
