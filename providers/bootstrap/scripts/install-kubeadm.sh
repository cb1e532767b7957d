#!/usr/bin/env bash
# Install containerd and kubeadm/kubelet/kubectl of one Kubernetes minor from pkgs.k8s.io.
# Parameters come from /etc/fedtest/bootstrap.env (written by cloud-init).
set -euo pipefail
# shellcheck source=/dev/null
. /etc/fedtest/bootstrap.env
: "${K8S_MINOR:?}" "${K8S_PATCH:=}"

export DEBIAN_FRONTEND=noninteractive
swapoff -a
sed -i '/\sswap\s/d' /etc/fstab

cat > /etc/modules-load.d/fedtest-k8s.conf <<'MODULES'
overlay
br_netfilter
MODULES
modprobe overlay
modprobe br_netfilter
cat > /etc/sysctl.d/90-fedtest-k8s.conf <<'SYSCTL'
net.bridge.bridge-nf-call-iptables = 1
net.bridge.bridge-nf-call-ip6tables = 1
net.ipv4.ip_forward = 1
SYSCTL
sysctl --system

apt-get update
apt-get install -y apt-transport-https ca-certificates curl gpg containerd
mkdir -p /etc/containerd
containerd config default > /etc/containerd/config.toml
sed -i 's/SystemdCgroup = false/SystemdCgroup = true/' /etc/containerd/config.toml
systemctl restart containerd
systemctl enable containerd

install -d -m 0755 /etc/apt/keyrings
curl -fsSL "https://pkgs.k8s.io/core:/stable:/v${K8S_MINOR}/deb/Release.key" \
  | gpg --batch --yes --dearmor -o /etc/apt/keyrings/kubernetes-apt-keyring.gpg
echo "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] https://pkgs.k8s.io/core:/stable:/v${K8S_MINOR}/deb/ /" \
  > /etc/apt/sources.list.d/kubernetes.list
apt-get update
if [ -n "${K8S_PATCH}" ]; then
  pin="=${K8S_PATCH}-*"
else
  pin=""
fi
apt-get install -y "kubelet${pin}" "kubeadm${pin}" "kubectl${pin}"
apt-mark hold kubelet kubeadm kubectl
systemctl enable --now kubelet
