"""One base for kubeadm clusters on cloud VMs: the verbs are here, a cloud supplies only its hooks.

The base owns `up` (local PKI, version check, each location tried in order with the half-made
cluster deleted after a capacity error, the admin kubeconfig, API readiness, every node Ready),
`is_up`, `down` (with the PKI folder), the log dump (API side plus the cloud's consoles, scrubbed
by upload's Scrubber), and the inventory verbs over one tag model (providers/bootstrap/tags.py).

A cloud implements:
  create_in(location, spec, tags, params) -> Placement   make one cluster's resources in a location
  delete_cluster(name, run_id)                           delete them (absent is success)
  exists(cluster) -> bool                                its control plane is there (raise if the cloud cannot be asked)
  tagged(wanted, has) -> list[Tagged]                    resources whose tags include `wanted` / carry tag `has`
  delete_tagged(items) -> list[str]                      delete those, return what went
  console_logs(cluster) -> {filename: text}              the VMs' own output (scrubbed by the base)
"""

from __future__ import annotations

import abc
import datetime as dt
import ipaddress
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from providers import settings as settings_mod
from providers import stopping
from providers.base import DISRUPTION, INVENTORY, SWEEPER, CapacityError, Cluster, ClusterSpec, Provider
from providers.bootstrap import tags as tag_model
from providers.bootstrap.disruption import VMDisruption
from providers.bootstrap.nodes import wait_nodes_ready
from providers.bootstrap.pki import ClusterPKI
from providers.bootstrap.render import (
    API_PORT,
    DEFAULT_K8S_VERSION,
    BootstrapParams,
    admin_kubeconfig,
    write_kubeconfig,
)
from providers.clusterlogs import dump_api_side
from providers.readiness import wait_ready
from providers.settings import setting
from upload.scrub import Scrubber


def _cidr(value: str) -> str:
    return str(ipaddress.ip_network(value, strict=True))


@dataclass(frozen=True)
class VMSettings:
    """Settings every VM cloud shares; a cloud's settings dataclass extends this one."""

    api_cidr: str = setting("", "Who may reach the API port, as a CIDR (the address the harness runs from).",
                            check=_cidr, what="a CIDR", example="203.0.113.0/24", needed="up",
                            missing="no CIDR may reach the cluster API port")
    api_port: int = setting(API_PORT, "The API server's port.", bounds=(1, 65535))
    workers: int = setting(1, "Worker VMs per cluster besides the control plane.", bounds=(0, 50))


@dataclass(frozen=True)
class Placement:
    """What create_in made: the control plane's public address and what to record about it."""

    public_ip: str
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Tagged:
    """One resource found by its tags: `label` names it in reports ("resource group x (westeurope)")."""

    label: str
    tags: Mapping[str, str]
    handle: object = None  # whatever the cloud needs to delete it


class VMClusterProvider(VMDisruption, Provider, abc.ABC):
    """A cloud's kubeadm-on-VMs provider: set the class attributes and implement the hooks
    (these, and the disruption hooks of providers/bootstrap/disruption.py)."""

    capabilities = frozenset({INVENTORY, SWEEPER, DISRUPTION})
    encoding: ClassVar[tag_model.Encoding]
    location_key: ClassVar[str]  # the setting listing locations to try in order ("zones", "regions")
    size_key: ClassVar[str]  # the setting naming the VM size, for the capacity error's fix
    settings: VMSettings

    # --- hooks -----------------------------------------------------------------------------
    def check_name(self, name: str) -> None:
        """Refuse a cluster name the cloud cannot use (a ConfigError), before anything is made."""

    def prepare(self) -> None:
        """Checks that need the cloud (credentials, locations) before anything is made."""

    @abc.abstractmethod
    def create_in(self, location: str, spec: ClusterSpec, tags: dict[str, str], params: BootstrapParams) -> Placement:
        """Make the cluster's resources in `location`; CapacityError when it has no room."""

    @abc.abstractmethod
    def delete_cluster(self, name: str, run_id: str, where: Mapping[str, str]) -> None:
        """Delete cluster `name` of `run_id`; `where` is the Cluster's metadata (may be empty)."""

    @abc.abstractmethod
    def exists(self, cluster: Cluster) -> bool:
        """The cluster's control plane exists; raise a ProviderError when the cloud cannot be asked."""

    @abc.abstractmethod
    def tagged(self, wanted: Mapping[str, str] | None = None, has: str | None = None) -> list[Tagged]:
        """Resources whose tags include every pair of `wanted`, or that carry the tag `has`."""

    @abc.abstractmethod
    def delete_tagged(self, items: list[Tagged]) -> list[str]:
        """Delete `items`; return the labels of what went (the first failure is raised at the end)."""

    @abc.abstractmethod
    def console_logs(self, cluster: Cluster) -> dict[str, str]:
        """The VMs' own output, as {filename: text}; the base scrubs and writes it."""

    # --- the verbs -------------------------------------------------------------------------
    def pki_dir(self, name: str) -> Path:
        return self.options.work_dir / name / "pki"

    def locations(self) -> tuple[str, ...]:
        return getattr(self.settings, self.location_key)

    def up(self, spec: ClusterSpec) -> Cluster:
        self.check_name(spec.name)
        settings_mod.require(self.settings, self.name, "up")
        pki = ClusterPKI.generate(spec.name)
        version = spec.k8s_version or self.options.k8s_version or DEFAULT_K8S_VERSION
        params = BootstrapParams(spec.name, pki, version, api_port=self.settings.api_port)
        params.version_parts()  # a bad version fails before any resource
        self.prepare()
        pki.save(self.pki_dir(spec.name))
        refusals = []
        for location in self.locations():
            stopping.check(self.stop, f"bringing {spec.name} up")
            tags = self.encoding.for_cluster(self.options.run_id, self.options.owner, spec.name,
                                             dt.datetime.now(dt.UTC), self.options.ttl)
            try:
                placed = self.create_in(location, spec, tags, params)
            except CapacityError as err:
                refusals.append(f"{location}: {err.problem}")
                self.delete_cluster(spec.name, self.options.run_id, {})
                continue
            return self._ready(spec, pki, location, placed)
        singular = self.location_key.removesuffix("s")
        raise CapacityError(f"no {singular} had room for cluster {spec.name} ({'; '.join(refusals)})",
                            f"add {self.location_key} (--provider-opt {self.location_key}=a,b), "
                            f"pick a smaller {self.size_key} or raise the quota")

    def _ready(self, spec: ClusterSpec, pki: ClusterPKI, location: str, placed: Placement) -> Cluster:
        endpoint = f"https://{placed.public_ip}:{self.settings.api_port}"
        kubeconfig = write_kubeconfig(self.options.work_dir / f"{spec.name}.kubeconfig",
                                      admin_kubeconfig(pki, endpoint, spec.name))
        ready = wait_ready(kubeconfig, spec.name, self.options.deadline_seconds, self.stop)
        nodes = wait_nodes_ready(kubeconfig, spec.name, 1 + spec.workers, self.options.deadline_seconds, self.stop)
        metadata = {**placed.metadata, self.location_key.removesuffix("s"): location,
                    "run_id": self.options.run_id, "nodes": ",".join(sorted(nodes))}
        return Cluster(spec.name, self.name, kubeconfig, spec.name, endpoint, ready.version, metadata)

    def down(self, cluster: Cluster) -> None:
        """Delete the cluster's resources (by its tags, so a ledger entry is enough) and its PKI."""
        self.delete_cluster(cluster.name, cluster.metadata.get("run_id", self.options.run_id), cluster.metadata)
        shutil.rmtree(self.pki_dir(cluster.name), ignore_errors=True)

    def is_up(self, cluster: Cluster) -> bool:
        """The control plane exists and its API server is ready (an address alone may be reused)."""
        return self.exists(cluster) and self.answers(cluster)

    def dump_logs(self, cluster: Cluster, dest: Path) -> list[Path]:
        """Nodes and kube-system events through the API, plus each VM's console, secrets scrubbed."""
        written = dump_api_side(cluster, dest)
        scrubber = Scrubber(extra_values=self._known_secrets(cluster.name))
        for filename, text in sorted(self.console_logs(cluster).items()):
            path = dest / filename
            path.write_text(scrubber.scrub_text(text)[0], encoding="utf-8")
            written.append(path)
        return written

    def _known_secrets(self, name: str) -> tuple[str, ...]:
        """The cluster's bootstrap token (consoles echo kubeadm's join line); keys are caught as PEM blocks."""
        try:
            return (ClusterPKI.load(self.pki_dir(name)).bootstrap_token,)
        except OSError:
            return ()

    # --- inventory -------------------------------------------------------------------------
    def leaks(self, run_id: str) -> list[str]:
        return sorted(item.label for item in self.tagged({tag_model.RUN: self.encoding.value(run_id)}))

    def sweep(self, now: dt.datetime, dry_run: bool = False) -> list[str]:
        """Delete what carries a fedtest-expires in the past; unreadable or future expiry is left alone."""
        expired = sorted((t for t in self.tagged(has=tag_model.EXPIRES) if tag_model.expired(t.tags, now)),
                         key=lambda t: t.label)
        if dry_run:
            return [t.label for t in expired]
        return sorted(self.delete_tagged(expired))
