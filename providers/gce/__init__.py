"""The gce provider: kubeadm clusters on Compute Engine VMs, labelled for teardown and the janitor.

Modules: settings (options, credentials, clients), labels (the label encoding), operations
(waits and error mapping), resources (create, list and delete by label), provider (the verbs).
"""

from providers.gce.provider import GCEProvider

__all__ = ["GCEProvider"]
