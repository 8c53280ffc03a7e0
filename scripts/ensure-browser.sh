#!/usr/bin/env bash
# Make sure the browser the UI test drives is here: Debian's chromium (Playwright's own
# browser downloads are not used) and certutil (libnss3-tools), which puts the lab's CA into
# the browser's certificate store the way a user would. Installs both with apt when missing.
set -euo pipefail

log() { printf '[ensure-browser] %s\n' "$*"; }

if command -v chromium >/dev/null 2>&1 && command -v certutil >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  log "chromium and certutil are needed. Install them (Debian: apt-get install chromium" >&2
  log "libnss3-tools), or run this as root on Debian/Ubuntu so that it can do it for you." >&2
  exit 1
fi
log "installing Debian's chromium and libnss3-tools"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium libnss3-tools >/dev/null
