# Shared by scripts/lab.sh and the molecule scenarios' helpers: where things are and how a
# systemd container is started on machines where `docker run --privileged` is refused.
# shellcheck shell=bash

VENV=${VENV:-$PWD/.venv}
# The base image's tag carries a hash of its recipe: a changed recipe builds a new image.
IMAGE=${ZP_IMAGE:-zoe-prefect/systemd:bookworm-$(sha256sum "$PWD/scripts/build-image.sh" | cut -c1-10)}
CACHE_DIR=${ZP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/zoe-prefect}

# `--privileged` fails on these VMs; this set runs systemd as PID 1.
SYSTEMD_RUN_ARGS=(
  --cap-add SYS_ADMIN --cap-add NET_ADMIN
  --security-opt seccomp=unconfined --security-opt apparmor=unconfined
  --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw
  --tmpfs /run --tmpfs /run/lock
  # systemd shuts down cleanly on SIGRTMIN+3 (docker stop/restart), not on SIGTERM.
  --stop-signal SIGRTMIN+3
)

log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*"; }

ensure_docker() { "$PWD/scripts/ensure-docker.sh"; }

build_image() { "$PWD/scripts/build-image.sh" "$IMAGE" bookworm; }

# wait_for_systemd NAME: until systemd in the container reports a started system.
wait_for_systemd() {
  local name=$1 state
  for _ in $(seq 1 120); do
    state=$(docker exec "$name" systemctl is-system-running 2>/dev/null || true)
    case "$state" in
      running|degraded) return 0 ;;
    esac
    sleep 0.5
  done
  log "systemd in $name did not start (state: ${state:-unknown})" >&2
  docker logs --tail 20 "$name" >&2 || true
  return 1
}

# The lab and the tests opt in to Mitogen (lab/strategy: one Python per host for the whole
# run, about 40 % less time than Ansible's linear strategy); the project's ansible.cfg, which
# users run, keeps linear. ZP_MITOGEN=0 turns it off here too.
if [ "${ZP_MITOGEN:-1}" = 1 ]; then
  export ANSIBLE_STRATEGY_PLUGINS="$PWD/lab/strategy" ANSIBLE_STRATEGY="${ANSIBLE_STRATEGY:-mitogen_linear}"
fi
