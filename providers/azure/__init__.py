"""Azure clusters: kubeadm on VMs, one tagged resource group per cluster (see provider.py)."""

from providers.azure.provider import AzureProvider

__all__ = ["AzureProvider"]
