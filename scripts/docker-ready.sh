#!/usr/bin/env bash
# Make the Docker engine and the systemd base image ready, and print the image's name.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/common.sh
. scripts/common.sh
ensure_docker >&2
build_image >&2
echo "$IMAGE"
