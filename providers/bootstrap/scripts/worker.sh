#!/usr/bin/env bash
# Wait for the control plane's API server, then kubeadm join with the bootstrap token and CA hash.
set -euo pipefail
# shellcheck source=/dev/null
. /etc/fedtest/bootstrap.env
: "${API_SERVER_ENDPOINT:?}" "${JOIN_WAIT_SECONDS:=1800}"

/usr/local/lib/fedtest/install-kubeadm.sh

# The control plane boots in parallel; its /readyz is anonymous-readable once kubeadm init is done.
waited=0
until curl -ksf --max-time 5 "https://${API_SERVER_ENDPOINT}/readyz" >/dev/null; do
  if [ "${waited}" -ge "${JOIN_WAIT_SECONDS}" ]; then
    echo "API server ${API_SERVER_ENDPOINT} not ready after ${JOIN_WAIT_SECONDS}s" >&2
    exit 1
  fi
  sleep 10
  waited=$((waited + 10))
done
kubeadm join --config /etc/fedtest/kubeadm.yaml
touch /var/lib/fedtest-bootstrap-done
