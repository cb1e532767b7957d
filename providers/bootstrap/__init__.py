"""Cloud-init + kubeadm bootstrap shared by the VM providers (azure, gce).

Usage, per cluster:
    pki = ClusterPKI.generate(name); pki.save(work_dir / name / "pki")
    params = BootstrapParams(name, pki, k8s_version, api_sans=(public_ip,), control_plane_address=private_ip)
    user_data = render_control_plane(params)      # control-plane VM
    user_data = render_worker(params)             # each worker VM
    write_kubeconfig(path, admin_kubeconfig(pki, f"https://{public_ip}:6443", name))
"""

from providers.bootstrap.pki import ClusterPKI, new_bootstrap_token
from providers.bootstrap.render import (
    API_PORT,
    DEFAULT_K8S_VERSION,
    BootstrapParams,
    admin_kubeconfig,
    render_control_plane,
    render_worker,
    script,
    write_kubeconfig,
)

__all__ = [
    "API_PORT", "DEFAULT_K8S_VERSION", "BootstrapParams", "ClusterPKI", "admin_kubeconfig",
    "new_bootstrap_token", "render_control_plane", "render_worker", "script", "write_kubeconfig",
]
