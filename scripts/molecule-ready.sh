#!/usr/bin/env bash
# molecule's dependency step (.config/molecule/config.yml), so that `molecule test` works as
# typed: the Docker engine up, the systemd base image built if missing and tagged
# zoe-prefect/systemd:bookworm (the scenarios' default image), the uv cache folder, and a
# `git bundle` of this checkout's HEAD for the scenarios that serve the flows from Git.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/common.sh
. scripts/common.sh
ensure_docker
if [ -z "${ZP_IMAGE:-}" ]; then
  build_image
  docker tag "$IMAGE" zoe-prefect/systemd:bookworm
fi
mkdir -p .cache/uv
git bundle create --quiet .cache/molecule-repo.bundle HEAD
