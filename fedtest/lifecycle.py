"""The run's lifecycle in one place: from started.json to latest-build.txt, whatever happens between.

    run = Run.plan(settings, write=...)   a run id; nothing written yet
    run.open()          signal handlers first, then started.json (only a results destination that
                        cannot be written is a usage error), then build-log.txt starts, then the
                        pre-flight step (provider, its settings and tools, the cluster plan, the ledger)
    with run.clusters():  bring-up, a step per cluster, in parallel ...
        <the tests>       ... the tests run here (skipped, with the reason, if setup failed) ...
                          ... then the upstream conformance suite when asked (a step per cluster,
                          unless the run was aborted) and, in a finally: leaked namespaces, cluster
                          logs on failure, teardown (unless --keep-clusters), the provider's leak check
    run.close(...)      JUnit, then publish: artifacts and build-log.txt, finished.json, then
                        latest-build.txt. Every path that can still write ends here. Files that were
                        in the artifacts folder before open() and are unchanged are not published.

Each phase is one `wrap_step` (timed, one JUnit case, one-line error, never raised). The pytest
plugin maps the three calls onto hooks: pytest_configure -> open, pytest_runtestloop (a wrapper) ->
clusters, pytest_unconfigure -> close. pytest calls unconfigure whenever configure began, and the
`with` block tears down whatever came up, so teardown and publish hold by structure.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from e2e.framework import diagnostics, kube, namespaces
from e2e.framework.config import E2EConfig, mirrored
from e2e.framework.conformance import ConformanceResult, conformance_metadata, run_on_clusters
from fedtest import clusters as cluster_steps
from fedtest.abort import AbortController
from fedtest.cases import JUNIT_NAME, CaseBook
from fedtest.console import ConsoleLog
from fedtest.credentials import hand_credentials
from fedtest.errors import FedtestError, one_line
from fedtest.leftovers import Leftovers
from fedtest.progress import Progress
from fedtest.settings import Settings
from fedtest.steps import StepResult, wrap_step
from providers import ledger as ledger_mod
from providers import options as options_mod
from providers import registry
from providers.base import Cluster, ClusterSpec, Provider
from upload import files
from upload.record import BuildRecord, PublishReport, parse_results

PREFLIGHT = "Setup: pre-flight"
ABORT_MARKER = ".fedtest-abort"  # in artifacts/: how xdist workers learn of the controller's abort


def infra_commit() -> str:
    """The harness's own git commit (9 characters, as test-infra's infra-commit), or 'unknown'."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, timeout=10,
                             capture_output=True, text=True, check=True)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip()[:9] or "unknown"


@dataclass
class ClusterSet:
    """What tests see of the run, in the controller and in every xdist worker: the clusters by name."""

    settings: Settings
    run_id: str
    provider_name: str = ""
    planned: list[str] = field(default_factory=list)
    ledger_path: Path | None = None
    setup_error: str = ""
    _ledger: ledger_mod.Ledger | None = None

    @property
    def ledger(self) -> ledger_mod.Ledger | None:
        """Read when first needed: in a worker the controller finished bring-up before any test ran."""
        if self._ledger is None and self.ledger_path is not None and self.ledger_path.is_file():
            self._ledger = ledger_mod.Ledger.load(self.ledger_path)
        return self._ledger

    def names(self) -> list[str]:
        """Every planned cluster, up or not: test ids stay the same whether bring-up worked or not."""
        return list(self.planned)

    def cluster(self, name: str) -> tuple[Cluster | None, str]:
        """The cluster if it is up, else None and why not."""
        ledger = self.ledger
        if ledger is None or name not in ledger.entries:
            return None, self.setup_error or f"cluster {name} was not brought up (see the Setup cases)"
        entry = ledger.entries[name]
        if entry.state != ledger_mod.UP or entry.cluster is None:
            return None, f"cluster {name} is not up ({entry.state}: {entry.error or 'see the Setup case'})"
        return entry.cluster, ""

    def up(self) -> list[Cluster]:
        return self.ledger.clusters() if self.ledger else []

    def e2e_config(self) -> E2EConfig:
        s = self.settings
        return E2EConfig(self.run_id, s.artifacts, self.provider_name, s.image_pull_policy,
                         mirrored(s.agnhost_image, s.image_registry), mirrored(s.busybox_image, s.image_registry),
                         mirrored(s.git_image, s.image_registry), s.ingress_address, reach_window=s.reach_window)

    def diagnostics_dir(self, test_id: str) -> Path:
        return diagnostics.test_dir(self.settings.artifacts, test_id)

    def worker_input(self) -> dict[str, Any]:
        return {"fedtest_run_id": self.run_id, "fedtest_provider": self.provider_name,
                "fedtest_clusters": json.dumps(self.planned), "fedtest_setup_error": self.setup_error,
                "fedtest_ledger": str(self.ledger_path or "")}

    @classmethod
    def from_worker_input(cls, settings: Settings, data: dict[str, Any]) -> ClusterSet:
        return cls(settings, data["fedtest_run_id"], data.get("fedtest_provider", ""),
                   json.loads(data.get("fedtest_clusters") or "[]"),
                   Path(data["fedtest_ledger"]) if data.get("fedtest_ledger") else None,
                   data.get("fedtest_setup_error", ""))


class Run:
    """The controller's run: the build record, the steps, the cluster set and the verdict."""

    def __init__(self, settings: Settings, write: Callable[[str], None] = print) -> None:
        self.settings = settings
        self.progress = Progress(write, interval=settings.progress_every)
        self.view = ClusterSet(settings, options_mod.new_run_id())
        self.book = CaseBook(settings.artifacts / JUNIT_NAME, "", [])
        self.steps = self.book.steps
        self.abort = AbortController(deadline_seconds=settings.deadline, reserve_seconds=settings.abort_reserve)
        self.console = ConsoleLog(settings.build_log)
        self.record: BuildRecord | None = None
        self.provider: Provider | None = None
        self.specs: list[ClusterSpec] = []
        self.timings: dict[str, float] = {}
        self.conformance: list[ConformanceResult] = []
        self.left_behind: list[threading.Thread] = []  # bring-up threads an abort stopped waiting for
        self.leftovers = Leftovers(settings.artifacts)  # what the artifacts folder held before this run
        self._mark = time.monotonic()
        self._brought_up = False

    @property
    def run_id(self) -> str:
        return self.view.run_id

    # --- 1. the record opens, then pre-flight -------------------------------------------------
    def open(self, terminal_writer: Any = None) -> None:
        """Signal handlers, then started.json (FedtestError only for the results destination), then pre-flight."""
        s = self.settings
        self.abort.install()
        try:
            target = parse_results(s.results or str(s.artifacts), s.job or _default_job(s.provider))
            results_root = Path(target.location) / target.job_prefix.split("/", 1)[0]
            self.leftovers = Leftovers.note(s.artifacts, skip=(results_root,) if target.scheme == "local" else ())
            self.record = BuildRecord.open(target, build_id=s.build_id, log=self.progress.write,
                                           sink_deadline=s.results_deadline)
        except BaseException:
            self.abort.uninstall()
            raise
        hand_credentials(self.record.scrubber, None, s.kubeconfig)
        (s.artifacts / ABORT_MARKER).unlink(missing_ok=True)
        self.console.start(terminal_writer)
        if self.abort.aborted:
            return
        wrap_step(PREFLIGHT, self._preflight, progress=self.progress, results=self.steps)
        self._note_setup_error()  # before xdist starts its workers: they learn the reason with the plan
        self._lap("preflight")

    def _preflight(self) -> None:
        """The provider, its settings and tools, and the cluster plan: nothing is created yet."""
        s = self.settings
        provider_cls = registry.load(s.provider or "")
        opts = options_mod.build(
            run_id=self.run_id, kubeconfig=s.kubeconfig, contexts=s.contexts, k8s_version=s.k8s_version,
            image_registry=s.image_registry, extra=s.provider_opts, work_dir=s.work_dir,
            deadline_seconds=s.bringup_deadline,
        )
        provider = provider_cls(opts)
        specs = provider.plan(s.clusters)
        self.provider, self.specs = provider, specs
        self.view.provider_name = provider.name
        self.view.planned = [spec.name for spec in specs]
        self.book.provider, self.book.cluster_names = provider.name, self.view.planned
        s.artifacts.mkdir(parents=True, exist_ok=True)
        ledger = ledger_mod.Ledger.create(s.artifacts, self.run_id, provider.name, options=opts,
                                          settings=registry.settings_pairs(provider))
        self.view.ledger_path = ledger.path
        self.view._ledger = ledger

    @property
    def setup_failed(self) -> bool:
        return any(not r.ok for r in self.steps if r.phase == "Setup")

    def _note_setup_error(self) -> None:
        """The first failed Setup step becomes what every skipped test says."""
        failed = [r for r in self.steps if r.phase == "Setup" and not r.ok]
        if failed:
            self.view.setup_error = f"setup failed: {failed[0].name}: {failed[0].error}"

    # --- 2. bring-up, the tests, teardown -----------------------------------------------------
    @contextmanager
    def clusters(self) -> Iterator[None]:
        """Bring the set up, let the tests run, then check, collect evidence and tear down, always."""
        try:
            if self.provider is not None and not self.abort.aborted:
                self.progress.say(f"run {self.run_id}: bringing up {len(self.specs)} {self.provider.name} "
                                  f"cluster(s): {', '.join(self.view.planned)}")
                self._brought_up = True
                cluster_steps.bring_up(self.provider, self.specs, self.view._ledger, self.progress, self.steps,
                                       stop=self.abort, left_behind=self.left_behind)
                self._lap("bringup")
            self._note_setup_error()
            self.book.write()
            yield
            self._lap("tests")
            if self.settings.conformance is not None:
                self._conformance()
                self._lap("conformance")
        finally:
            self.abort.settle()
            if "tests" not in self.timings:  # the tests were cut short
                self._lap("tests")
            if self.abort.aborted:
                self.book.interrupted(self.abort.reason or "aborted")
            self._finish_clusters()
            self._lap("teardown")

    def _conformance(self) -> None:
        """The upstream suite in every cluster that is up, in parallel; each cluster its own infra case."""
        settings = self.settings.conformance
        clusters = self.view.up()
        if settings is None or not clusters or self.abort.aborted:
            return
        left = self.abort.remaining()
        deadline = left if math.isfinite(left) else settings.timeout + settings.start_timeout + 600
        self.progress.say(f"conformance: {len(clusters)} cluster(s), {settings.describe()}")
        try:
            settings = dataclasses.replace(settings, run_id=self.run_id)  # labels all it creates
            results = run_on_clusters(clusters, settings, self.settings.artifacts, deadline_seconds=deadline,
                                      stop=self.abort.event, log=self.progress.say)
        except Exception as err:  # the tester reports its own failures; this is for its defects
            self.steps.append(StepResult("Conformance", 0.0, one_line(err)))
            return
        self.conformance = results
        for r in results:  # the tester said each one's outcome already
            self.steps.append(StepResult(r.case_name, r.seconds, r.error, dict(r.properties)))

    def _finish_clusters(self) -> None:
        if self.provider is None or not self._brought_up:
            return
        ledger = self.view._ledger
        if self.view.up():
            wrap_step("Teardown: leaked namespaces", self._check_leaked_namespaces, progress=self.progress,
                      results=self.steps)
        if self.book.failed_tests or self.book.flaky() or not all(r.ok for r in self.steps):
            wrap_step("Diagnostics: cluster logs", self._dump_cluster_logs, progress=self.progress,
                      results=self.steps)
        kube.close_all()
        if self.settings.keep_clusters:
            self.progress.say(f"--keep-clusters: clusters left up; `fedtest down --artifacts "
                              f"{self.settings.artifacts}` tears them down")
            return
        cluster_steps.tear_down(self.provider, ledger, self.provider.options.work_dir, self.progress, self.steps)
        cluster_steps.check_leaks(self.provider, self.run_id, self.progress, self.steps)

    def _check_leaked_namespaces(self) -> None:
        leaked, errors = [], []
        for cluster in self.view.up():
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
        problems = []
        if leaked:
            problems.append(f"{len(leaked)} namespaces of run {self.run_id} still present: {', '.join(leaked)}")
        if errors:
            problems.append("could not check " + ", ".join(errors))
        if problems:
            raise FedtestError("; ".join(problems))

    def _dump_cluster_logs(self) -> None:
        assert self.provider is not None
        failures = []
        for cluster in self.view.up():
            dest = self.settings.artifacts / "clusters" / cluster.name
            try:
                self.provider.dump_logs(cluster, dest)
            except Exception as err:
                files.write_path(dest / "dump-error.txt", f"{type(err).__name__}: {err}\n".encode())
                failures.append(cluster.name)
        if failures:
            self.progress.say(f"cluster logs incomplete for {', '.join(failures)} (see dump-error.txt)")

    # --- 3. publish -----------------------------------------------------------------------------
    def verdict(self, tests_failed: bool) -> tuple[str, dict[str, str]]:
        """SUCCESS, FAILURE or ABORTED, and the finished.json metadata that says what failed."""
        failed_steps = [r.name for r in self.steps if not r.ok]
        kinds = []
        if failed_steps:
            kinds.append("infra")
        if tests_failed or self.book.failed_tests:
            kinds.append("tests")
        if any(r.failed for r in self.conformance):
            kinds.append("conformance")
        meta = {**self.metadata(), **conformance_metadata(self.conformance)} if self.conformance else self.metadata()
        if failed_steps:
            meta["failed-steps"] = "; ".join(failed_steps)[:500]
        flaky = self.book.flaky()  # failed, then passed on a rerun: passed, marked (TestGrid: FLAKY)
        meta["flaky-tests"] = str(len(flaky))
        if flaky:
            meta["flaky"] = "; ".join(flaky)[:500]
        if self.abort.aborted:
            kinds.append("aborted")
            meta["failure"] = ",".join(kinds)
            return "ABORTED", meta
        if kinds:
            meta["failure"] = ",".join(kinds)
        return ("FAILURE" if kinds else "SUCCESS"), meta

    def close(self, *, tests_failed: bool) -> PublishReport | None:
        """The JUnit, then publish. Never raises a FedtestError: a publish failure is said and returned as None."""
        try:
            if self.record is None:
                return None
            self.book.suite_properties.update({f"{k}-seconds": f"{v:.1f}" for k, v in self.timings.items()})
            try:
                self.book.write()
            except Exception as err:  # the build still gets finished.json; the log says why the JUnit is missing
                self.progress.say(f"error: junit not written: {err}")
            result, meta = self.verdict(tests_failed)
            (self.settings.artifacts / ABORT_MARKER).unlink(missing_ok=True)
            meta.update({f"{k}-seconds": f"{v:.1f}" for k, v in self.timings.items()})
            meta["infra-commit"] = infra_commit()
            if self.abort.aborted:
                meta["abort-reason"] = self.abort.reason or "aborted"
            if self.provider is not None:  # keys and kubeconfigs the harness made: redacted wherever they appear
                self.record.scrubber.add_secret_folder(self.provider.options.work_dir)
                hand_credentials(self.record.scrubber, self.view.ledger, self.provider.options.kubeconfig)
            earlier, count = self.leftovers.unchanged()
            if count:
                self.progress.say(f"{count} files an earlier run left in {self.settings.artifacts} are not "
                                  "published with this build (they stay there)")
            self.console.flush()
            log_info = files.lstat_path(self.settings.build_log)  # a link is never published (nor followed)
            log = self.settings.build_log if log_info is not None and stat.S_ISREG(log_info.st_mode) else None
            return self.record.finish(result, metadata=meta, artifacts_dir=self.settings.artifacts, build_log=log,
                                      budget_seconds=self.abort.budget() if self.abort.aborted else None,
                                      stop=self.abort, exclude=earlier)
        except FedtestError as err:
            self.progress.say(f"error: results not published: {err}")
            return None
        finally:
            self.console.stop()
            self.abort.uninstall()
            self.progress.close()

    def metadata(self) -> dict[str, str]:
        """finished.json metadata: what ran where (strings only, as TestGrid wants)."""
        ledger = self.view.ledger
        clusters = [e.cluster for e in ledger.entries.values() if e.cluster] if ledger else []
        versions = sorted({c.version for c in clusters if c.version})
        meta = {"run-id": self.run_id, "provider": self.view.provider_name or (self.settings.provider or ""),
                "clusters": str(len(self.view.planned))}
        job_version = versions[0] if len(versions) == 1 else ",".join(versions)
        if job_version or self.settings.k8s_version:
            meta["job-version"] = job_version or f"v{self.settings.k8s_version.lstrip('v')}"
        if clusters:
            meta["cluster-versions"] = ",".join(f"{c.name}={c.version or 'unknown'}" for c in clusters)
        return meta

    def _lap(self, phase: str) -> None:
        now = time.monotonic()
        self.timings[phase] = self.timings.get(phase, 0.0) + now - self._mark
        self._mark = now


def _default_job(provider: str | None) -> str:
    return os.environ.get("JOB_NAME") or f"e2e-{provider or 'none'}"
