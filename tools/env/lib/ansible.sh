#!/usr/bin/env bash
# Ansible (Debian's ansible-core, ansible-lint, yamllint), checked with a ping
# over the test sshd. Sourced by up.sh; needs sshd.sh.
# shellcheck disable=SC2034 # variables here are used by the scripts that source this file

ANSIBLE_LOG="$STATE/ansible.log"

ansible_ping() {
  ANSIBLE_HOST_KEY_CHECKING=True ANSIBLE_NOCOLOR=1 \
    ansible -i "$SSHD_HOST," all -m ping \
    -u root --private-key "$SSH_KEY" \
    -e "ansible_port=$SSHD_PORT" -e ansible_python_interpreter=/usr/bin/python3 \
    "--ssh-extra-args=-o UserKnownHostsFile=$SSH_KNOWN_HOSTS -o GlobalKnownHostsFile=/dev/null -o IdentitiesOnly=yes"
}

setup_ansible() {
  log "ansible"
  apt_install ansible-core ansible-lint yamllint
  if ! ansible_ping >"$ANSIBLE_LOG" 2>&1; then
    fail ansible "$ANSIBLE_LOG" "ansible ping over ssh $SSHD_HOST:$SSHD_PORT failed"
  fi
  local version
  version="$(ansible --version 2>/dev/null | sed -n '1p')"
  info "$version: ping over ssh ok"
  summary ansible "$version, ansible-lint, yamllint: ping over sshd ok"
}
