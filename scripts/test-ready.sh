#!/usr/bin/env bash
# What the container tests need, made ready while `make check` runs beside it (make test): the
# Docker engine, the base image, and the wheelhouses of the Linux hosts (the project's lock and
# molecule/ha's, of the release it upgrades from). Most of it is waiting for downloads and
# disks, which costs make check little; scripts/test-lanes.sh then finds all of it in place.
# Each step is the one the tests would run themselves, so this changes nothing they check.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/common.sh
. scripts/common.sh

start=$SECONDS
ensure_docker
build_image
cache=${WHEELHOUSE_DIR:-$CACHE_DIR/wheelhouse}
for lock_dir in roles/prefect/files/locks molecule/ha/locks; do
  "$VENV/bin/python" roles/prefect/files/packages.py wheelhouse --dir "$lock_dir" --target linux-cp311 \
    --cache "$cache" >/dev/null
done
log "ready in $(( SECONDS - start )) s"
