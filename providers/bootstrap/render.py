"""Render the cloud-config (user data) that turns a fresh Ubuntu VM into a kubeadm node.

One set of templates for every cloud: the shell scripts in scripts/ are static (so they are
checked by `bash -n` and shellcheck as shipped); everything cluster-specific goes into
/etc/fedtest/bootstrap.env and /etc/fedtest/kubeadm.yaml, which are built here from data.
"""

from __future__ import annotations

import base64
import os
import re
import shlex
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from providers.base import ConfigError
from providers.bootstrap.pki import ADMIN_USER, ClusterPKI

DEFAULT_K8S_VERSION = "1.31"
API_PORT = 6443
POD_SUBNET = "10.244.0.0/16"  # flannel's default network
FLANNEL_MANIFEST = "https://github.com/flannel-io/flannel/releases/download/v0.26.1/kube-flannel.yml"
SCRIPT_DIR = "/usr/local/lib/fedtest"
DONE_MARKER = "/var/lib/fedtest-bootstrap-done"
_VERSION = re.compile(r"^v?(?P<minor>\d+\.\d+)(?P<patch>\.\d+)?$")
_TOKEN_GROUP = "system:bootstrappers:kubeadm:default-node-token"


@dataclass(frozen=True)
class BootstrapParams:
    """What one cluster's nodes need. `api_sans` must hold the public address the harness dials."""

    cluster_name: str
    pki: ClusterPKI
    k8s_version: str = DEFAULT_K8S_VERSION
    api_sans: tuple[str, ...] = ()
    control_plane_address: str = ""  # private address workers join through
    api_port: int = API_PORT
    pod_subnet: str = POD_SUBNET
    cni_manifest_url: str = FLANNEL_MANIFEST

    def version_parts(self) -> tuple[str, str]:
        """("1.31", "1.31.2") or ("1.31", "") for a bare minor."""
        match = _VERSION.match(self.k8s_version or "")
        if not match:
            raise ConfigError(f"Kubernetes version {self.k8s_version!r} is not MAJOR.MINOR[.PATCH]",
                              "pass --k8s-version 1.31 or 1.31.2")
        minor = match["minor"]
        return minor, f"{minor}{match['patch']}" if match["patch"] else ""


def script(name: str) -> str:
    """The text of one shipped script (install-kubeadm.sh, control-plane.sh, worker.sh)."""
    return resources.files("providers.bootstrap").joinpath("scripts", name).read_text(encoding="utf-8")


def _env_file(values: dict[str, str]) -> str:
    return "".join(f"{key}={shlex.quote(value)}\n" for key, value in values.items())


def _kubeadm_api_version(minor: str) -> str:
    major, minor_n = (int(x) for x in minor.split("."))
    return "kubeadm.k8s.io/v1beta4" if (major, minor_n) >= (1, 31) else "kubeadm.k8s.io/v1beta3"


def _kubeadm_init_config(params: BootstrapParams, minor: str) -> str:
    api_version = _kubeadm_api_version(minor)
    init = {
        "apiVersion": api_version,
        "kind": "InitConfiguration",
        "bootstrapTokens": [{
            "token": params.pki.bootstrap_token, "ttl": "24h0m0s",
            "usages": ["signing", "authentication"], "groups": [_TOKEN_GROUP],
        }],
        "localAPIEndpoint": {"bindPort": params.api_port},
    }
    cluster = {
        "apiVersion": api_version,
        "kind": "ClusterConfiguration",
        "clusterName": params.cluster_name,
        # Replaced on the VM by `kubeadm version -o short`: the control plane matches the kubeadm installed.
        "kubernetesVersion": "__KUBEADM_VERSION__",
        "apiServer": {"certSANs": list(params.api_sans)},
        "networking": {"podSubnet": params.pod_subnet},
    }
    return yaml.safe_dump_all([init, cluster], sort_keys=False)


def _kubeadm_join_config(params: BootstrapParams, minor: str) -> str:
    join = {
        "apiVersion": _kubeadm_api_version(minor),
        "kind": "JoinConfiguration",
        "discovery": {"bootstrapToken": {
            "apiServerEndpoint": f"{params.control_plane_address}:{params.api_port}",
            "token": params.pki.bootstrap_token,
            "caCertHashes": [params.pki.ca_cert_hash()],
        }},
    }
    return yaml.safe_dump(join, sort_keys=False)


def _file(path: str, content: str, permissions: str) -> dict[str, str]:
    return {"path": path, "owner": "root:root", "permissions": permissions, "content": content}


def _cloud_config(files: list[dict[str, str]], entrypoint: str) -> str:
    doc: dict[str, Any] = {
        "write_files": files,
        "runcmd": [["bash", f"{SCRIPT_DIR}/{entrypoint}"]],
    }
    return "#cloud-config\n" + yaml.safe_dump(doc, sort_keys=False, width=1000)


def _common_files(params: BootstrapParams, env: dict[str, str], kubeadm_yaml: str,
                  entrypoint: str) -> list[dict[str, str]]:
    minor, patch = params.version_parts()
    env = {"K8S_MINOR": minor, "K8S_PATCH": patch, **env}
    return [
        _file("/etc/fedtest/bootstrap.env", _env_file(env), "0600"),
        _file("/etc/fedtest/kubeadm.yaml", kubeadm_yaml, "0600"),
        _file(f"{SCRIPT_DIR}/install-kubeadm.sh", script("install-kubeadm.sh"), "0755"),
        _file(f"{SCRIPT_DIR}/{entrypoint}", script(entrypoint), "0755"),
    ]


def render_control_plane(params: BootstrapParams) -> str:
    """cloud-config for the control-plane VM: the CA goes to /etc/kubernetes/pki, then kubeadm init."""
    if not params.api_sans:
        raise ConfigError("the control plane needs its public address as an API server SAN",
                          "pass api_sans=(public_ip,)")
    minor, _patch = params.version_parts()
    files = _common_files(params, {"CNI_MANIFEST_URL": params.cni_manifest_url},
                          _kubeadm_init_config(params, minor), "control-plane.sh")
    files += [
        _file("/etc/kubernetes/pki/ca.crt", params.pki.ca_cert_pem.decode(), "0644"),
        _file("/etc/kubernetes/pki/ca.key", params.pki.ca_key_pem.decode(), "0600"),
    ]
    return _cloud_config(files, "control-plane.sh")


def render_worker(params: BootstrapParams) -> str:
    """cloud-config for a worker VM: wait for the API server, then kubeadm join (token + CA hash)."""
    if not params.control_plane_address:
        raise ConfigError("a worker needs the control plane's private address",
                          "pass control_plane_address=10.0.0.4")
    minor, _patch = params.version_parts()
    env = {"API_SERVER_ENDPOINT": f"{params.control_plane_address}:{params.api_port}"}
    return _cloud_config(_common_files(params, env, _kubeadm_join_config(params, minor), "worker.sh"),
                         "worker.sh")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def admin_kubeconfig(pki: ClusterPKI, endpoint: str, cluster_name: str) -> dict[str, Any]:
    """A kubeconfig for the locally made admin certificate; `endpoint` is https://PUBLIC_IP:6443."""
    user = f"{ADMIN_USER}@{cluster_name}"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": {
            "server": endpoint, "certificate-authority-data": _b64(pki.ca_cert_pem)}}],
        "users": [{"name": user, "user": {
            "client-certificate-data": _b64(pki.admin_cert_pem),
            "client-key-data": _b64(pki.admin_key_pem)}}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": user}}],
        "current-context": cluster_name,
    }


def write_kubeconfig(path: Path, kubeconfig: dict[str, Any]) -> Path:
    """Write a kubeconfig with mode 0600 (it holds a private key); callers keep it under work_dir."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        yaml.safe_dump(kubeconfig, out, sort_keys=False)
    os.chmod(path, 0o600)
    return path
