#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine, installing Debian's docker.io and
# starting dockerd when needed. The lab and the molecule scenarios both call this.
set -euo pipefail

log() { printf '[ensure-docker] %s\n' "$*"; }

if docker info >/dev/null 2>&1; then
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    log "no Docker engine found. Install one (Debian: apt-get install docker.io) and start it," >&2
    log "or run this as root on Debian/Ubuntu so that it can do it for you." >&2
    exit 1
  fi
  log "installing Debian's docker.io"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io >/dev/null
fi

if docker info >/dev/null 2>&1; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  log "dockerd is installed but not running, and only root can start it here." >&2
  exit 1
fi

# Prefer the service manager when there is one; this kind of machine has no systemd as PID 1.
if [ -d /run/systemd/system ]; then
  systemctl start docker
else
  log "starting dockerd (log: /var/log/dockerd.log)"
  setsid nohup dockerd >/var/log/dockerd.log 2>&1 </dev/null &
fi

for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    log "Docker engine is up"
    exit 0
  fi
  sleep 1
done
log "dockerd did not answer within 60 s; see /var/log/dockerd.log" >&2
exit 1
