#!/usr/bin/env bash
# Ansible (Debian's ansible-core, ansible-lint, yamllint), checked with a ping
# over the test sshd as root and as deploy. Sourced by up.sh; needs sshd.sh.
# shellcheck disable=SC2034 # variables here are used by the scripts that source this file

ANSIBLE_LOG="$STATE/ansible.log"

# ansible_ping USER
ansible_ping() {
  # No ControlPersist: leave no ssh master behind once up.sh ends.
  ANSIBLE_HOST_KEY_CHECKING=True ANSIBLE_NOCOLOR=1 ANSIBLE_SSH_ARGS='-o ControlMaster=no -o ControlPersist=no' \
    ansible -i "$SSHD_HOST," all -m ping \
    -u "$1" --private-key "$SSH_KEY" \
    -e "ansible_port=$SSHD_PORT" -e ansible_python_interpreter=/usr/bin/python3 \
    "--ssh-extra-args=-o UserKnownHostsFile=$SSH_KNOWN_HOSTS -o GlobalKnownHostsFile=/dev/null -o IdentitiesOnly=yes"
}

ANSIBLE_OK="$STATE/ansible.ok"

setup_ansible() {
  log "ansible"
  apt_install ansible-core ansible-lint yamllint
  local version when="now"
  version="ansible-core $(dpkg-query -W -f='${Version}' ansible-core 2>/dev/null || echo '?')"
  # The ping takes seconds: skip it when it passed against this same sshd.
  if [[ "$SSHD_STARTED" == 1 || ! "$ANSIBLE_OK" -nt "$SSHD_PIDFILE" || "$(command -v ansible)" -nt "$ANSIBLE_OK" ]]; then
    rm -f "$ANSIBLE_OK"
    local user
    : >"$ANSIBLE_LOG"
    for user in root "$DEPLOY_USER"; do
      if ! ansible_ping "$user" >>"$ANSIBLE_LOG" 2>&1; then
        fail ansible "$ANSIBLE_LOG" "ansible ping over ssh $user@$SSHD_HOST:$SSHD_PORT failed"
      fi
    done
    touch "$ANSIBLE_OK"
  else
    when="earlier (same sshd)"
  fi
  info "$version: ping over ssh as root and $DEPLOY_USER ok $when"
  summary ansible "$version, ansible-lint, yamllint: ping over sshd as root and $DEPLOY_USER ok $when"
}
