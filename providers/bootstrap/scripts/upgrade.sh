#!/usr/bin/env bash
# Upgrade one node of a kubeadm cluster to K8S_PATCH (e.g. 1.29.3), as the kubeadm upgrade guide does:
# the package repository of the new minor, kubeadm first, then `kubeadm upgrade apply` on the control
# plane (ROLE=control-plane) or `kubeadm upgrade node` on a worker (drained by the caller), then
# kubelet and kubectl, and a kubelet restart. Parameters come as environment variables.
set -euo pipefail
: "${K8S_MINOR:?}" "${K8S_PATCH:?}" "${ROLE:?}"
export DEBIAN_FRONTEND=noninteractive

curl -fsSL "https://pkgs.k8s.io/core:/stable:/v${K8S_MINOR}/deb/Release.key" \
  | gpg --batch --yes --dearmor -o /etc/apt/keyrings/kubernetes-apt-keyring.gpg
echo "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] https://pkgs.k8s.io/core:/stable:/v${K8S_MINOR}/deb/ /" \
  > /etc/apt/sources.list.d/kubernetes.list
apt-get update
apt-mark unhold kubeadm
apt-get install -y "kubeadm=${K8S_PATCH}-*"
apt-mark hold kubeadm
if [ "${ROLE}" = control-plane ]; then
  kubeadm upgrade apply -y "v${K8S_PATCH}"
else
  kubeadm upgrade node
fi
apt-mark unhold kubelet kubectl
apt-get install -y "kubelet=${K8S_PATCH}-*" "kubectl=${K8S_PATCH}-*"
apt-mark hold kubelet kubectl
systemctl daemon-reload
systemctl restart kubelet
