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

# molecule/windows with ZP_WINDOWS_HOST=127.0.0.1 and port 1: converge fails, and only at the
# Windows host, which preflight reports as not answering; the control host converges in full.
windows_without_host() {
  local out rc control windows
  out=$(mktemp)
  ZP_WINDOWS_HOST=127.0.0.1 ZP_WINDOWS_PORT=1 molecule converge -s windows 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  molecule destroy -s windows >/dev/null 2>&1 || true
  control=$(grep -E '^zp-mol-winctl +:' "$out" | tail -1)
  windows=$(grep -E '^zp-mol-windows +:' "$out" | tail -1)
  local ok=1
  [ "$rc" -ne 0 ] || { log "expected converge to fail at the Windows host; it passed" >&2; ok=0; }
  [[ $control =~ changed=[1-9] && $control == *"unreachable=0"*"failed=0"* ]] ||
    { log "the control host did not converge: $control" >&2; ok=0; }
  [[ $windows == *"failed=1"* ]] || { log "the Windows host did not fail alone: $windows" >&2; ok=0; }
  tr -s ' \n' ' ' <"$out" | grep -q 'zp-mol-windows does not answer over winrm (127.0.0.1:1)' ||
    { log "no 'does not answer' message for the Windows host" >&2; ok=0; }
  rm -f "$out"
  [ "$ok" = 1 ]
}

report=()
for scenario in "$@"; do
  start=$SECONDS
  # A test run (ZP_RUN) keeps each scenario's state (inventory, SSH keys, credentials) in a
  # folder of its own: molecule's default folder is named after this checkout's folder name
  # and the scenario only, and would be shared with another run or with `make lab-ha`.
  if [ -n "${ZP_RUN:-}" ]; then
    export MOLECULE_EPHEMERAL_DIRECTORY="$here/.cache/molecule/$ZP_RUN/$scenario"
  fi
  if [ "$scenario" = windows ] && [ -z "${ZP_WINDOWS_HOST:-}" ]; then
    # No Windows host given: the scenario up to the Windows host, with an address that does
    # not answer. The control host must converge; the Windows host alone must fail.
    log "molecule/windows without a Windows host: the control host, and 127.0.0.1:1 as the"
    log "  Windows host (set ZP_WINDOWS_HOST etc. to run it against a real one, see"
    log "  molecule/windows/molecule.yml)"
    if ! windows_without_host; then
      log "scenario windows FAILED after $(( SECONDS - start )) s" >&2
      exit 1
    fi
    report+=("windows: $(( SECONDS - start )) s (no Windows host given: the control host converged, the Windows host did not answer, as expected)")
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
