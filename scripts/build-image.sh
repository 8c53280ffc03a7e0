#!/usr/bin/env bash
# Build the systemd base image that the lab and molecule use as "machines", without any
# container registry: mmdebstrap makes a Debian root filesystem from this machine's own apt
# sources and `docker import` turns it into an image. An image that already exists is reused.
#
# usage: scripts/build-image.sh IMAGE [SUITE]    (SUITE: bookworm (default) or trixie)
# scripts/common.sh names the image after a hash of this file, so a changed recipe builds anew.
set -euo pipefail

image=${1:?usage: $0 IMAGE [SUITE]}
suite=${2:-bookworm}
log() { printf '[build-image] %s\n' "$*"; }

if docker image inspect "$image" >/dev/null 2>&1; then
  log "reusing $image"
  exit 0
fi

if ! command -v mmdebstrap >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    log "mmdebstrap is missing: apt-get install mmdebstrap (as root)" >&2
    exit 1
  fi
  log "installing mmdebstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null
fi

# What every test host has before Ansible touches it, like a minimal cloud image:
# systemd as init, Python for Ansible, CA certificates, an SSH server and a `deploy` account
# with passwordless sudo (the account inventory/example uses; the lab authorizes its own key
# for it). Everything else is the roles' job.
packages=systemd,systemd-sysv,dbus,python3,python3-apt,sudo,ca-certificates,iproute2,procps,openssh-server

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
log "building $image from $suite (mmdebstrap, the machine's own apt sources)"
# Units that have no business in a container: they fail or wait for hardware there.
mmdebstrap --quiet --variant=apt --include="$packages" --skip=cleanup/apt/lists \
  --customize-hook='chroot "$1" systemctl mask systemd-udevd.service systemd-udev-trigger.service getty.target console-getty.service systemd-logind.service systemd-firstboot.service >/dev/null 2>&1 || true' \
  --customize-hook='rm -f "$1"/etc/machine-id && touch "$1"/etc/machine-id' \
  --customize-hook='rm -f "$1"/etc/ssh/ssh_host_*' \
  --customize-hook='mkdir -p "$1"/etc/systemd/system/ssh.service.d && printf "%s\n" "[Service]" "# Host keys of its own, made at the first boot of each container." "ExecStartPre=" "ExecStartPre=/usr/bin/ssh-keygen -A" "ExecStartPre=/usr/sbin/sshd -t" >"$1"/etc/systemd/system/ssh.service.d/host-keys.conf' \
  --customize-hook='printf "%s\n" "PasswordAuthentication no" "KbdInteractiveAuthentication no" "PermitRootLogin no" >"$1"/etc/ssh/sshd_config.d/zoe-prefect.conf' \
  --customize-hook='chroot "$1" useradd --create-home --shell /bin/bash deploy && echo "deploy ALL=(ALL) NOPASSWD: ALL" >"$1"/etc/sudoers.d/deploy && chmod 0440 "$1"/etc/sudoers.d/deploy' \
  "$suite" "$work/rootfs.tar"
docker import \
  --change 'CMD ["/lib/systemd/systemd"]' \
  --change 'ENV container=docker' \
  "$work/rootfs.tar" "$image" >/dev/null
log "built $image in $(( $(date +%s) - start )) s"
