"""The run's state behind the pytest plugin: settings, the cluster set, infra results, JUnit cases.

One Run lives in the controller (it brings clusters up, tears them down and writes the
report) and one in each pytest-xdist worker (built from the ledger the controller wrote).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from e2e.framework import diagnostics, kube, namespaces
from e2e.framework.builders import DEFAULT_AGNHOST_IMAGE, DEFAULT_BUSYBOX_IMAGE, DEFAULT_GIT_IMAGE
from providers import clusterset, registry
from providers import ledger as ledger_mod
from providers import options as options_mod
from providers.base import Cluster, ClusterSpec, Provider
from providers.clusterset import PhaseResult
from upload.junit import CaseResult, write_junit

AGNHOST, BUSYBOX, GIT = DEFAULT_AGNHOST_IMAGE, DEFAULT_BUSYBOX_IMAGE, DEFAULT_GIT_IMAGE


@dataclass(frozen=True)
class Settings:
    """The plugin's options, as typed values."""

    provider: str | None = None
    clusters: int | None = None
    kubeconfig: str | None = None
    contexts: str | None = None
    keep_clusters: bool = False
    artifacts: Path = Path("_artifacts")
    work_dir: str | None = None
    k8s_version: str | None = None
    image_registry: str | None = None
    image_pull_policy: str = "IfNotPresent"
    agnhost_image: str = AGNHOST
    busybox_image: str = BUSYBOX
    git_image: str = GIT
    ingress_address: str | None = None
    provider_opts: tuple[str, ...] = ()
    bringup_deadline: float = 900.0
    namespace_deadline: float = 120.0


@dataclass(frozen=True)
class E2EConfig:
    """What tests read about the run: images (already through the --image-registry mirror) and addresses."""

    run_id: str
    artifacts: Path
    provider: str
    image_pull_policy: str
    agnhost_image: str
    busybox_image: str
    git_image: str
    ingress_address: str | None


def mirrored(ref: str, registry: str | None) -> str:
    """`ref` through a mirror: registry.k8s.io/x/y:t -> MIRROR/x/y:t, busybox:1 -> MIRROR/busybox:1."""
    if not registry:
        return ref
    first, _, rest = ref.partition("/")
    path = rest if rest and ("." in first or ":" in first or first == "localhost") else ref
    return f"{registry.rstrip('/')}/{path}"


@dataclass
class Run:
    settings: Settings
    run_id: str
    provider: Provider | None
    ledger: ledger_mod.Ledger | None
    infra: list[PhaseResult] = field(default_factory=list)
    cases: dict[str, CaseResult] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    running: set[str] = field(default_factory=set)

    # --- construction -------------------------------------------------------------------
    @classmethod
    def controller(cls, settings: Settings) -> Run:
        """Validate input and plan the cluster set (ConfigError on bad input; nothing is created)."""
        run_id = options_mod.new_run_id()
        if settings.provider is None:
            return cls(settings, run_id, None, None)
        provider_cls = registry.load(settings.provider)
        opts = options_mod.build(
            run_id=run_id, kubeconfig=settings.kubeconfig, contexts=settings.contexts,
            k8s_version=settings.k8s_version, image_registry=settings.image_registry,
            extra=settings.provider_opts, work_dir=settings.work_dir,
            deadline_seconds=settings.bringup_deadline,
        )
        provider = provider_cls(opts)
        run = cls(settings, run_id, provider, None)
        run._specs = provider.plan(settings.clusters)
        return run

    @classmethod
    def worker(cls, settings: Settings, workerinput: dict[str, Any]) -> Run:
        ledger_path = workerinput.get("fedtest_ledger")
        ledger = ledger_mod.Ledger.load(Path(ledger_path)) if ledger_path else None
        return cls(settings, workerinput["fedtest_run_id"], None, ledger)

    def worker_input(self) -> dict[str, Any]:
        return {"fedtest_run_id": self.run_id,
                "fedtest_ledger": str(self.ledger.path) if self.ledger else ""}

    # --- the cluster set ----------------------------------------------------------------
    _specs: list[ClusterSpec] = field(default_factory=list)

    def bring_up(self) -> None:
        if self.provider is None:
            return
        self.settings.artifacts.mkdir(parents=True, exist_ok=True)
        self.ledger = ledger_mod.Ledger.create(self.settings.artifacts, self.run_id, self.provider.name)
        self.infra.extend(clusterset.bring_up(self.provider, self._specs, self.ledger))

    @property
    def provider_name(self) -> str:
        if self.provider is not None:
            return self.provider.name
        return self.ledger.provider if self.ledger else ""

    def cluster_names(self) -> list[str]:
        """Every planned cluster, up or not: test ids stay the same whether bring-up worked or not."""
        if self.ledger is None:
            return [s.name for s in self._specs]
        return [e.name for e in sorted(self.ledger.entries.values(), key=lambda e: e.index)]

    def cluster(self, name: str) -> tuple[Cluster | None, str]:
        """The cluster if it is up, else None and why not."""
        if self.ledger is None or name not in self.ledger.entries:
            return None, f"cluster {name} is not in the ledger"
        entry = self.ledger.entries[name]
        if entry.state != ledger_mod.UP or entry.cluster is None:
            return None, f"cluster {name} is not up ({entry.state}: {entry.error or 'see the Setup case'})"
        return entry.cluster, ""

    def up_clusters(self) -> list[Cluster]:
        return self.ledger.clusters() if self.ledger else []

    def e2e_config(self) -> E2EConfig:
        s = self.settings
        return E2EConfig(self.run_id, s.artifacts, self.provider_name, s.image_pull_policy,
                         mirrored(s.agnhost_image, s.image_registry), mirrored(s.busybox_image, s.image_registry),
                         mirrored(s.git_image, s.image_registry), s.ingress_address)

    # --- the end of the run (controller only) -------------------------------------------
    def check_leaked_namespaces(self) -> PhaseResult | None:
        clusters = self.up_clusters()
        if not clusters:
            return None
        start = time.monotonic()
        leaked, errors = [], []
        for cluster in clusters:
            api = kube.client_for(cluster)
            try:
                names = namespaces.of_run(api, self.run_id)
            except Exception as err:
                errors.append(f"{cluster.name}: {type(err).__name__}")
                continue
            for name in names:
                leaked.append(f"{cluster.name}/{name}")
                try:  # best effort, no wait: the report is what matters
                    namespaces.delete(api, name, deadline_seconds=0)
                except Exception as err:
                    errors.append(f"delete {cluster.name}/{name}: {type(err).__name__}")
        error = ""
        if leaked:
            error = f"{len(leaked)} namespaces of run {self.run_id} still present: {', '.join(leaked)}"
        if errors:
            error = "; ".join(filter(None, [error, "could not check " + ", ".join(errors)]))
        return PhaseResult("Teardown: leaked namespaces", time.monotonic() - start, error)

    def dump_cluster_logs(self) -> None:
        if self.provider is None:
            return
        for cluster in self.up_clusters():
            try:
                self.provider.dump_logs(cluster, self.settings.artifacts / "clusters" / cluster.name)
            except Exception as err:
                note = self.settings.artifacts / "clusters" / cluster.name / "dump-error.txt"
                note.parent.mkdir(parents=True, exist_ok=True)
                note.write_text(f"{type(err).__name__}: {err}\n", encoding="utf-8")

    def finish(self, failed: bool) -> None:
        """Leak check, evidence, teardown (unless --keep-clusters), provider leak check."""
        if self.provider is None or self.ledger is None:
            return
        leak = self.check_leaked_namespaces()
        if leak is not None:
            self.infra.append(leak)
        if failed or not all(r.ok for r in self.infra):
            self.dump_cluster_logs()
        kube.close_all()
        if self.settings.keep_clusters:
            return
        self.infra.extend(clusterset.tear_down(self.provider, self.ledger, self.provider.options.work_dir))
        self.infra.append(clusterset.check_leaks(self.provider, self.run_id))

    def record_phase(self, nodeid: str, when: str, outcome: str, seconds: float, message: str,
                     details: str, user_properties: list[tuple[str, object]], stdout: str) -> None:
        """Fold one pytest phase (setup, call, teardown) into the test's single JUnit case."""
        case = self.cases.get(nodeid)
        if case is None:
            module, _, rest = nodeid.partition("::")
            case = self.cases[nodeid] = CaseResult(
                name=f"{module.rpartition('/')[2]}::{rest}" if rest else nodeid,
                classname=module.removesuffix(".py").replace("/", "."),
                seconds=0.0, properties={"provider": self.provider_name} if self.provider_name else {},
            )
            cluster_id = rest.rpartition("[")[2].rstrip("]") if rest.endswith("]") else ""
            if cluster_id in self.cluster_names():
                case.properties["cluster"] = cluster_id
        if when == "teardown":
            self.running.discard(nodeid)
        else:
            self.running.add(nodeid)
        case.seconds += seconds
        case.properties.update({str(k): str(v) for k, v in user_properties})
        if outcome == "failed":
            case.outcome = "failed" if when == "call" or case.outcome == "failed" else "error"
            case.message = case.message or (message if when == "call" else f"{when}: {message}")[:500]
            case.details = f"{case.details}\n{details}".strip()
        elif outcome == "skipped" and case.outcome == "passed":
            case.outcome, case.message = "skipped", (message or "skipped")[:500]
        if stdout:
            case.stdout = f"{case.stdout}{stdout}"

    def mark_interrupted(self, reason: str) -> None:
        """Tests an abort cut short have no teardown report: they become errors, not silence."""
        for nodeid in sorted(self.running):
            case = self.cases[nodeid]
            case.outcome, case.message = "error", f"interrupted: run aborted ({reason})"
        self.running.clear()

    def metadata(self) -> dict[str, str]:
        """finished.json metadata: what ran where (strings only, as TestGrid wants)."""
        clusters = [e.cluster for e in self.ledger.entries.values() if e.cluster] if self.ledger else []
        versions = sorted({c.version for c in clusters if c.version})
        meta = {"run-id": self.run_id, "provider": self.provider_name, "clusters": str(len(self.cluster_names()))}
        job_version = versions[0] if len(versions) == 1 else ",".join(versions)
        if job_version or self.settings.k8s_version:
            meta["job-version"] = job_version or f"v{self.settings.k8s_version}"
        if clusters:
            meta["cluster-versions"] = ",".join(f"{c.name}={c.version or 'unknown'}" for c in clusters)
        return meta

    def record_collect_error(self, nodeid: str, message: str, details: str) -> None:
        self.cases[f"collect:{nodeid}"] = CaseResult(f"Collect: {nodeid}", "fedtest.collect", 0.0, "error",
                                                     message=message[:500], details=details)

    def infra_cases(self) -> list[CaseResult]:
        return [
            CaseResult(r.name, "fedtest.infra", r.seconds, "passed" if r.ok else "failed",
                       message=r.error.splitlines()[0][:500] if r.error else "", details=r.error,
                       properties={"provider": self.provider_name, **r.properties})
            for r in self.infra
        ]

    def write_junit(self, suite_name: str = "fedtest") -> Path:
        path = self.settings.artifacts / "junit_01.xml"
        setup = [c for c in self.infra_cases() if c.name.startswith("Setup")]
        teardown = [c for c in self.infra_cases() if not c.name.startswith("Setup")]
        return write_junit(path, suite_name, setup + list(self.cases.values()) + teardown)

    def diagnostics_dir(self, test_id: str) -> Path:
        return diagnostics.test_dir(self.settings.artifacts, test_id)
