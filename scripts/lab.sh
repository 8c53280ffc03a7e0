#!/usr/bin/env bash
# The local lab: systemd containers on a Docker network of the lab's own, converged by
# `ansible-playbook site.yml -i inventory/lab`.
#
#   scripts/lab.sh up     start (or keep) the containers and converge them
#   scripts/lab.sh down   remove the containers and the network (not the image)
#   scripts/lab.sh env    print the exports that point the prefect CLI at the lab
#
# env: LAB_LINUX_WORKERS (default 2), ZP_IMAGE, ZP_CACHE_DIR, ANSIBLE_ARGS (extra arguments
#      for ansible-playbook), and for a second lab beside the first (the tests run one):
#      ZP_LAB_NAME (default zp-lab: the network, the containers' prefix and their label),
#      LAB_INVENTORY (default inventory/lab for zp-lab, .cache/labs/NAME for another name: the
#      lab's inventory, its vault and its .credentials), LAB_UI_PORT (4200) and
#      LAB_PROMETHEUS_PORT (9090) on 127.0.0.1.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
# shellcheck source=scripts/common.sh
. scripts/common.sh

lab_name=${ZP_LAB_NAME:-zp-lab}
if ! [[ $lab_name =~ ^[a-z0-9][a-z0-9-]*$ ]]; then
  echo "ZP_LAB_NAME must be lower-case letters, digits and -, not '$lab_name'" >&2
  exit 2
fi
if [ "$lab_name" = zp-lab ]; then
  inventory=${LAB_INVENTORY:-$here/inventory/lab}
else
  inventory=${LAB_INVENTORY:-$here/.cache/labs/$lab_name}
fi
network=$lab_name
control=$lab_name-control
credentials=$inventory/.credentials
vault_pass=$credentials/vault_pass
vault_file=$inventory/group_vars/all/vault.yml
ssh_key=$credentials/ssh_deploy
known_hosts=$credentials/known_hosts
ui_port=${LAB_UI_PORT:-4200}
prometheus_port=${LAB_PROMETHEUS_PORT:-9090}

# 32 letters and digits.
generate_secret() {
  "$VENV/bin/python" -c 'import secrets, string
chars = string.ascii_letters + string.digits
print("".join(secrets.choice(chars) for _ in range(32)))'
}

# The Secret blocks' key: the one a running lab's database holds (Prefect made it there before
# the roles gave one), or a new Fernet key.
generate_encryption_key() {
  docker exec "$control" runuser -u postgres -- psql -d prefect -tAc \
    "SELECT value->>'fernet_key' FROM configuration WHERE key = 'ENCRYPTION_KEY'" 2>/dev/null | grep . ||
    "$VENV/bin/python" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'
}

# The lab's vault, made once: a generated vault password (0600), and the lab's secrets
# encrypted with it in group_vars/all/vault.yml: the API's and the database's passwords, the
# monitoring's password, the passphrase of the CA's key and the Secret blocks' key. A secret
# the vault lacks is added (a lab made before keeps what the roles generated into .credentials,
# whose file is then removed, and the key its database holds), so nothing on its hosts changes.
ensure_vault() {
  install -d -m 0700 "$credentials"
  if [ ! -s "$vault_pass" ]; then
    (umask 077; generate_secret >"$vault_pass")
  fi
  local held="" added="" name file value
  if [ -f "$vault_file" ]; then
    held=$("$VENV/bin/ansible-vault" view --vault-password-file "$vault_pass" "$vault_file")
  fi
  for name in api_auth_password database_password monitoring_password api_tls_ca_passphrase \
    server_encryption_key; do
    if ! grep -q "^vault_prefect_$name:" <<<"$held"; then
      file=$credentials/$name
      if [ "$name" = server_encryption_key ]; then
        value=$(cat "$file" 2>/dev/null || generate_encryption_key)
      else
        value=$(cat "$file" 2>/dev/null || generate_secret)
      fi
      held+=$'\n'"vault_prefect_$name: $value"
      added+=" $name"
    fi
  done
  if [ -n "$added" ]; then
    sed '/^$/d' <<<"$held" |
      (umask 077; "$VENV/bin/ansible-vault" encrypt --vault-password-file "$vault_pass" \
        --output "$vault_file.new" -)
    mv "$vault_file.new" "$vault_file"
    for name in $added; do rm -f "$credentials/$name"; done
    log "the lab's secrets ($added ) are in $vault_file (ansible-vault, password in $vault_pass)"
  fi
}

# The lab's inventory: inventory/lab itself, or for another lab a copy of its files with the
# lab's name in docker.yml; then this lab's own settings (lab.yml, written at every `up`).
ensure_inventory() {
  if [ "$inventory" != "$here/inventory/lab" ]; then
    install -d -m 0755 "$inventory/group_vars/all"
    cp "$here/inventory/lab/hosts.yml" "$inventory/hosts.yml"
    cp "$here/inventory/lab/group_vars/all/main.yml" "$inventory/group_vars/all/main.yml"
    sed "s/zp-lab/$lab_name/g" "$here/inventory/lab/docker.yml" >"$inventory/docker.yml"
  fi
  # The network's gateway: where this machine's connections to the published ports come from.
  local gateway
  gateway=$(docker network inspect -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}' "$network")
  cat >"$inventory/group_vars/all/lab.yml" <<YAML
---
# Written by scripts/lab.sh at every 'make lab': this lab's own settings.
lab_name: $lab_name
lab_ui_port: $ui_port
lab_checkout: $here
lab_gateway: $gateway
YAML
}

# The key Ansible logs in with as `deploy` on every lab host, made once (0600).
ensure_ssh_key() {
  install -d -m 0700 "$credentials"
  if [ ! -s "$ssh_key" ]; then
    ssh-keygen -q -t ed25519 -N '' -C "zoe-prefect lab (deploy)" -f "$ssh_key"
    log "the lab's SSH key for deploy: $ssh_key"
  fi
}

# A host's first boot, as cloud-init would do it: the lab's key authorized for `deploy` (the
# image has the account, with passwordless sudo). Prints the host's own SSH key, read over
# `docker exec` (a channel that is already trusted), as a known_hosts line under its name.
bootstrap_ssh() {
  local name=$1
  docker exec -i "$name" sh -c 'install -d -m 0700 -o deploy -g deploy /home/deploy/.ssh &&
    cat >/home/deploy/.ssh/authorized_keys &&
    chown deploy:deploy /home/deploy/.ssh/authorized_keys &&
    chmod 0600 /home/deploy/.ssh/authorized_keys' <"$ssh_key.pub"
  # ssh.service makes the host keys at the container's first boot; this waits for it.
  docker exec "$name" systemctl start ssh.service
  printf '%s %s\n' "$name" "$(docker exec "$name" cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub)"
}

# The lab's known_hosts, written anew from the running hosts' own keys: Ansible checks every
# host key against it (StrictHostKeyChecking=yes, inventory/lab/group_vars/all/main.yml), so a
# key that changed behind the lab's back is refused, while a host the lab replaced is
# recorded with its new key.
write_known_hosts() {
  local name lines=""
  for name in $(docker ps --filter "label=zoe-prefect.lab=$lab_name" --format '{{.Names}}' | sort); do
    lines+="$(bootstrap_ssh "$name")"$'\n'
  done
  (umask 077; printf '%s' "$lines" >"$known_hosts.new")
  mv "$known_hosts.new" "$known_hosts"
}

cmd_up() {
  local workers=${LAB_LINUX_WORKERS:-2} name i
  case "$workers" in ''|*[!0-9]*) echo "LAB_LINUX_WORKERS must be a number" >&2; exit 2 ;; esac
  ensure_docker
  build_image
  docker network inspect "$network" >/dev/null 2>&1 || docker network create "$network" >/dev/null
  start_host "$control" prefect_control -p "127.0.0.1:${ui_port}:4200" \
    -p "127.0.0.1:${prometheus_port}:9090"
  for i in $(seq 1 "$workers"); do
    start_host "$lab_name-worker-$i" linux_workers
  done
  # A smaller LAB_LINUX_WORKERS removes the highest-numbered workers.
  for name in $(docker ps -a --filter "label=zoe-prefect.lab=$lab_name" --filter label=zoe-prefect.group=linux_workers --format '{{.Names}}'); do
    if [ "${name##*-}" -gt "$workers" ]; then
      log "removing $name (LAB_LINUX_WORKERS=$workers)"
      docker rm -f "$name" >/dev/null
    fi
  done
  wait_for_systemd "$control"
  for i in $(seq 1 "$workers"); do wait_for_systemd "$lab_name-worker-$i"; done

  ensure_inventory
  ensure_vault
  ensure_ssh_key
  write_known_hosts
  local start=$SECONDS bundle
  bundle=$CACHE_DIR/$lab_name-repo.bundle
  mkdir -p "$CACHE_DIR"
  git bundle create --quiet "$bundle" HEAD
  log "serving this checkout's HEAD ($(git rev-parse --short HEAD)) as http://$control/git/zoe-prefect.git (token: $credentials/git_token), branch main"
  "$VENV/bin/ansible-playbook" -i "$inventory" --vault-password-file "$vault_pass" lab/git_server.yml \
    -e "lab_git_bundle=$bundle"
  log "the alert sinks the lab's Alertmanager delivers to: /var/lib/lab-alert-sink on $control"
  "$VENV/bin/ansible-playbook" -i "$inventory" --vault-password-file "$vault_pass" lab/alert_sinks.yml
  log "converging: ansible-playbook site.yml -i $inventory"
  # shellcheck disable=SC2086
  "$VENV/bin/ansible-playbook" -i "$inventory" --vault-password-file "$vault_pass" site.yml ${ANSIBLE_ARGS:-}
  log "converged in $(( SECONDS - start )) s"
  if [ "${LAB_SMOKE:-1}" = 1 ]; then
    log "smoke test: a run of hello/hello"
    PREFECT_API_AUTH_STRING=$(auth_string) \
      "$VENV/bin/python" scripts/run_deployment.py hello/hello --timeout 300 --client-env "$credentials/client.env"
  fi
  cat <<MSG

The lab is up: $control and $workers Linux worker(s) on the Docker network $network.
  Prefect UI and API:  https://127.0.0.1:${ui_port}  (API: https://127.0.0.1:${ui_port}/api)
  Its certificate's CA: ${credentials}/tls-ca.crt (for a browser: import it as a trusted CA;
                       make lab-env exports it as PREFECT_API_SSL_CERT_FILE)
  Login:               admin, with the password make lab-env prints (from the lab's vault)
  Prometheus:          http://127.0.0.1:${prometheus_port}  (alerts: http://127.0.0.1:${prometheus_port}/alerts)
  CLI from here:       eval "\$(make -s lab-env)" && .venv/bin/prefect work-pool ls
  SSH:                 Ansible logs in as deploy (sudo) with ${ssh_key},
                       host keys in ${known_hosts}
  Flows repository:    http://$control/git/zoe-prefect.git, private: user x-access-token, token in
                       ${credentials}/git_token (this checkout's HEAD; commit, then make lab)
  Remove it:           make lab-down
MSG
}

# start_host NAME GROUP [extra docker run args]: start a systemd container unless it runs.
start_host() {
  local name=$1 group=$2
  shift 2
  if [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" = true ]; then
    return
  fi
  docker rm -f "$name" >/dev/null 2>&1 || true
  log "starting $name ($group)"
  docker run -d --name "$name" --hostname "$name" --network "$network" \
    --label "zoe-prefect.lab=$lab_name" --label "zoe-prefect.group=$group" \
    "${SYSTEMD_RUN_ARGS[@]}" \
    "$@" "$IMAGE" >/dev/null
}

cmd_down() {
  local ids
  ids=$(docker ps -aq --filter "label=zoe-prefect.lab=$lab_name" 2>/dev/null || true)
  if [ -n "$ids" ]; then
    log "removing the lab's containers"
    # shellcheck disable=SC2086
    docker rm -f $ids >/dev/null
  fi
  docker network rm "$network" >/dev/null 2>&1 || true
  rm -f "$CACHE_DIR/$lab_name-repo.bundle"
  log "lab $lab_name removed (image $IMAGE and ${credentials} kept)"
}

# The API's auth string, read from the lab's vault (client.env holds none: the password is a
# vaulted one).
auth_string() {
  "$VENV/bin/ansible-vault" view --vault-password-file "$vault_pass" "$vault_file" |
    sed -n 's/^vault_prefect_api_auth_password: *//p' | sed 's/^/admin:/'
}

cmd_env() {
  if [ ! -f "$credentials/client.env" ]; then
    echo "no lab credentials in $credentials: run 'make lab' first" >&2
    exit 1
  fi
  local name value
  while IFS='=' read -r name value; do
    case "$name" in PREFECT_*) printf 'export %s=%q\n' "$name" "$value" ;; esac
  done <"$credentials/client.env"
  printf 'export PREFECT_API_AUTH_STRING=%q\n' "$(auth_string)"
  # For ansible-playbook runs against the lab (its vault).
  printf 'export ANSIBLE_VAULT_PASSWORD_FILE=%q\n' "$vault_pass"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  env) cmd_env ;;
  *) echo "usage: $0 up|down|env" >&2; exit 2 ;;
esac
