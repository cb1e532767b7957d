#!/usr/bin/env bash
# kubeadm init with the CA the harness generated (already in /etc/kubernetes/pki), then the CNI.
set -euo pipefail
# shellcheck source=/dev/null
. /etc/fedtest/bootstrap.env
: "${CNI_MANIFEST_URL:?}"

/usr/local/lib/fedtest/install-kubeadm.sh

version="$(kubeadm version -o short)"
sed -i "s/__KUBEADM_VERSION__/${version}/" /etc/fedtest/kubeadm.yaml
kubeadm init --config /etc/fedtest/kubeadm.yaml
export KUBECONFIG=/etc/kubernetes/admin.conf
kubectl apply -f "${CNI_MANIFEST_URL}"
touch /var/lib/fedtest-bootstrap-done
