"""fedtest's pytest plugin: options, the cluster set, namespaces, diagnostics, the build record.

Thin wiring: the logic lives in e2e/framework (session, namespaces, diagnostics) and providers/.
Clusters come up once per run, in the controller, before any xdist worker starts; workers
read the ledger. Bring-up, teardown and leak checks are JUnit cases of their own.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from kubernetes import client

from e2e.framework import diagnostics, namespaces
from e2e.framework import kube as kube_clients
from e2e.framework.session import AGNHOST, BUSYBOX, GIT, E2EConfig, Run, Settings
from providers.base import Cluster, ProviderError
from upload.abort import AbortController
from upload.console import ConsoleLog
from upload.errors import UploadError
from upload.session import PublishSettings, RunRecord, infra_commit

RUN_KEY = pytest.StashKey[Run]()
REPORTS_KEY = pytest.StashKey[dict[str, pytest.TestReport]]()
PUBLISH_KEY = pytest.StashKey["Publishing"]()
WORKER_ABORT_KEY = pytest.StashKey[AbortController]()
NO_CLUSTER = "no-cluster"
ABORT_MARKER = ".fedtest-abort"  # in artifacts/: how xdist workers learn of the controller's abort


@dataclass
class Publishing:
    """The controller's build record, console log and abort handling, with the phase clock."""

    record: RunRecord
    abort: AbortController
    console: ConsoleLog
    session: pytest.Session | None = None
    mark: float = field(default_factory=time.monotonic)

    def lap(self, phase: str) -> None:
        now = time.monotonic()
        self.record.timings[phase] = now - self.mark
        self.mark = now


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fedtest", "fedtest: clusters and results")
    group.addoption("--provider", help="cluster provider: existing, kind, gce, azure (python -m providers list)")
    group.addoption("--clusters", type=int, default=None, help="how many clusters to bring up (default 1)")
    group.addoption("--kubeconfig", help="kubeconfig for --provider existing")
    group.addoption("--contexts", help="comma-separated kubeconfig contexts for --provider existing")
    group.addoption("--keep-clusters", action="store_true", help="leave clusters up after the run")
    group.addoption("--artifacts", default="_artifacts", help="folder for JUnit, ledger, diagnostics")
    group.addoption("--work-dir", help="folder for kubeconfigs and keys (never published)")
    group.addoption("--k8s-version", help="Kubernetes version to bring up, e.g. 1.31")
    group.addoption("--image-registry", help="mirror for test images, for offline clusters")
    group.addoption("--image-pull-policy", default="IfNotPresent", choices=["Always", "IfNotPresent", "Never"])
    group.addoption("--agnhost-image", default=AGNHOST, help="server image for ingress/federation tests")
    group.addoption("--busybox-image", default=BUSYBOX, help="image for runner pods and jobs")
    group.addoption("--git-image", default=GIT, help="image for the runner pods' checkout step")
    group.addoption("--ingress-address", help="HOST[:PORT] to reach the ingress controller (e.g. kind port map)")
    group.addoption("--provider-opt", action="append", default=[], metavar="KEY=VALUE",
                    help="provider-specific option, repeatable (also $FEDTEST_PROVIDER_OPTS, space-separated)")
    group.addoption("--bringup-deadline", type=float, default=900.0, help="seconds for each cluster to come up")
    group.addoption("--namespace-deadline", type=float, default=120.0, help="seconds to wait for namespace deletion")
    group.addoption("--results",
                    help="gs://bucket/logs/<job> or a folder (default: the bucket layout under --artifacts)")
    group.addoption("--job", help="job name in the results (default: $JOB_NAME, else e2e-<provider>)")
    group.addoption("--build-id", help="numeric, increasing build id (default: $BUILD_NUMBER, else start seconds)")
    group.addoption("--deadline", type=float, default=None,
                    help="seconds the whole run may take; the abort reserve before it goes to teardown and upload")
    group.addoption("--abort-reserve", type=float, default=300.0,
                    help="seconds kept for teardown and upload after SIGTERM, SIGINT or the deadline")


def _settings(config: pytest.Config) -> Settings:
    opt = config.getoption
    return Settings(
        provider=opt("provider"), clusters=opt("clusters"), kubeconfig=opt("kubeconfig"),
        contexts=opt("contexts"), keep_clusters=opt("keep_clusters"),
        artifacts=Path(opt("artifacts")).resolve(), work_dir=opt("work_dir"),
        k8s_version=opt("k8s_version"), image_registry=opt("image_registry"),
        image_pull_policy=opt("image_pull_policy"), agnhost_image=opt("agnhost_image"),
        busybox_image=opt("busybox_image"), git_image=opt("git_image"), ingress_address=opt("ingress_address"),
        provider_opts=(*os.environ.get("FEDTEST_PROVIDER_OPTS", "").split(), *opt("provider_opt")),
        bringup_deadline=opt("bringup_deadline"),
        namespace_deadline=opt("namespace_deadline"),
    )


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    settings = _settings(config)
    try:
        worker_input = getattr(config, "workerinput", None)
        run = Run.worker(settings, worker_input) if worker_input else Run.controller(settings)
    except ProviderError as err:
        raise pytest.UsageError(str(err)) from None
    config.stash[RUN_KEY] = run
    if _is_worker(config):
        return
    (run.settings.artifacts / ABORT_MARKER).unlink(missing_ok=True)
    config.pluginmanager.register(_CaseRecorder(run), "fedtest-case-recorder")
    if run.provider is not None:
        config.stash[PUBLISH_KEY] = _open_record(config, run)


def _open_record(config: pytest.Config, run: Run) -> Publishing:
    """started.json first, before any cluster exists; bad results input is a usage error."""
    opt = config.getoption
    settings = PublishSettings(opt("results"), opt("job"), opt("build_id"), run.settings.artifacts,
                               run.provider_name)
    record = RunRecord(settings, log=lambda line: _say(config, line))
    try:
        abort = AbortController(deadline_seconds=opt("deadline"), reserve_seconds=opt("abort_reserve"))
    except ValueError as err:
        raise pytest.UsageError(f"{err}: pass a --deadline above --abort-reserve") from None
    try:
        record.open()
    except UploadError as err:
        raise pytest.UsageError(str(err)) from None
    return Publishing(record, abort, ConsoleLog(record.build_log))


def _say(config: pytest.Config, line: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(line)
    else:
        print(line)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    if _is_worker(session.config):
        _watch_signals_in_worker(session)
        return
    run = session.config.stash[RUN_KEY]
    pub = session.config.stash.get(PUBLISH_KEY, None)
    if pub is not None:
        pub.session = session
        pub.console.start(session.config.get_terminal_writer())
        pub.abort.on_abort = lambda reason: _stop(session, reason)
        pub.abort.install()
        _say(session.config, f"fedtest: run {run.run_id}: bringing up {len(run.cluster_names())} "
                             f"{run.provider_name} cluster(s)")
    run.bring_up()
    if pub is not None:
        pub.lap("bringup")


def _stop(session: pytest.Session, reason: str) -> None:
    """Called once on SIGTERM, SIGINT or the deadline: no new tests; teardown and upload follow."""
    session.shouldstop = f"fedtest: run aborted ({reason})"
    dsession = session.config.pluginmanager.get_plugin("dsession")  # pytest-xdist's controller
    if dsession is not None:
        dsession.shouldstop = session.shouldstop
        (session.config.stash[RUN_KEY].settings.artifacts / ABORT_MARKER).write_text(reason)


def _watch_signals_in_worker(session: pytest.Session) -> None:
    """Jenkins signals the whole process tree: a worker finishes its test, then starts no other."""
    watch = AbortController(reserve_seconds=0, grace_seconds=None, signals=(signal.SIGTERM,),
                            on_abort=lambda reason: setattr(session, "shouldstop", f"aborted ({reason})"))
    try:
        watch.install()
    except ValueError:  # not the main thread: the controller's marker file still stops us
        return
    session.config.stash[WORKER_ABORT_KEY] = watch


def _abort_reason(config: pytest.Config) -> str | None:
    for key in (PUBLISH_KEY, WORKER_ABORT_KEY):
        holder = config.stash.get(key, None)
        watch = getattr(holder, "abort", holder)
        if watch is not None and watch.aborted:
            return watch.reason or "aborted"
    marker = config.stash[RUN_KEY].settings.artifacts / ABORT_MARKER
    return marker.read_text().strip() or "aborted" if marker.exists() else None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    reason = _abort_reason(item.config)
    if reason is not None:
        pytest.skip(f"run aborted ({reason}) before this test started")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: object) -> None:
    """xdist: hand each worker the run id and the ledger instead of bringing clusters up again."""
    node.workerinput.update(node.config.stash[RUN_KEY].worker_input())  # type: ignore[attr-defined]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "cluster" in metafunc.fixturenames:
        names = metafunc.config.stash[RUN_KEY].cluster_names() or [NO_CLUSTER]
        metafunc.parametrize("cluster", names, indirect=True, ids=names)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    report = yield
    item.stash.setdefault(REPORTS_KEY, {})[report.when] = report
    return report


def _test_failed(request: pytest.FixtureRequest) -> bool:
    reports = request.node.stash.get(REPORTS_KEY, {})
    return any(r.failed for r in reports.values())


# --- fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def fedtest_run(request: pytest.FixtureRequest) -> Run:
    return request.config.stash[RUN_KEY]


@pytest.fixture(scope="session")
def e2e_config(fedtest_run: Run) -> E2EConfig:
    return fedtest_run.e2e_config()


@pytest.fixture(scope="session")
def cluster_set(fedtest_run: Run) -> list[Cluster]:
    if fedtest_run.ledger is None:
        pytest.skip("no clusters: run with --provider (see python -m providers list)")
    return fedtest_run.up_clusters()


@pytest.fixture
def cluster(request: pytest.FixtureRequest, fedtest_run: Run) -> Cluster:
    if request.param == NO_CLUSTER:
        pytest.skip("no clusters: run with --provider (see python -m providers list)")
    found, why = fedtest_run.cluster(request.param)
    if found is None:
        pytest.skip(why)
    return found


@pytest.fixture
def kube(cluster: Cluster) -> client.ApiClient:
    """A Kubernetes API client for `cluster`."""
    return kube_clients.client_for(cluster)


@pytest.fixture
def namespace(request: pytest.FixtureRequest, fedtest_run: Run, cluster: Cluster) -> Iterator[str]:
    api = kube_clients.client_for(cluster)
    name = namespaces.create(api, namespaces.namespace_name(request.node.nodeid), fedtest_run.run_id,
                             request.node.nodeid)
    yield name
    _collect_and_delete(request, fedtest_run, {cluster.name: api}, name)


@dataclass(frozen=True)
class FederatedNamespace:
    name: str
    clients: dict[str, client.ApiClient]


@pytest.fixture
def federated_namespace(request: pytest.FixtureRequest, fedtest_run: Run,
                        cluster_set: list[Cluster]) -> Iterator[FederatedNamespace]:
    if len(cluster_set) < 2:
        pytest.skip(f"federation needs at least two clusters up; this run has {len(cluster_set)}")
    name = namespaces.namespace_name(request.node.nodeid)
    clients: dict[str, client.ApiClient] = {}
    try:
        for c in cluster_set:
            clients[c.name] = kube_clients.client_for(c)
            namespaces.create(clients[c.name], name, fedtest_run.run_id, request.node.nodeid)
        yield FederatedNamespace(name, clients)
    finally:
        _collect_and_delete(request, fedtest_run, clients, name)


def _collect_and_delete(request: pytest.FixtureRequest, run: Run, clients: dict[str, client.ApiClient],
                        name: str) -> None:
    """Diagnostics first (only on failure), then delete within the deadline in every cluster."""
    if _test_failed(request):
        base = run.diagnostics_dir(request.node.nodeid)
        for cluster_name, api in clients.items():
            diagnostics.dump_namespace(api, name, base / cluster_name)
    stuck = [c for c, api in clients.items()
             if not namespaces.delete(api, name, run.settings.namespace_deadline)]
    if stuck:  # the session's leak check reports it too; this names the test that left it
        pytest.fail(f"namespace {name} not deleted within {run.settings.namespace_deadline:g}s in "
                    f"{', '.join(stuck)}", pytrace=False)


# --- the report -----------------------------------------------------------------------------
class _CaseRecorder:
    """Controller only: every test's phases (xdist forwards workers' reports) into the run's cases."""

    def __init__(self, run: Run) -> None:
        self.run = run

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.run.record_phase(
            report.nodeid, report.when, report.outcome, report.duration, _message(report),
            report.longreprtext if report.failed else "", list(report.user_properties),
            report.capstdout if report.when == "call" else "",
        )

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            text = str(report.longrepr or "collection failed")
            self.run.record_collect_error(report.nodeid, text.strip().splitlines()[-1], text)


def _message(report: pytest.TestReport) -> str:
    if hasattr(report, "wasxfail"):
        return f"xfail: {report.wasxfail}" if report.skipped else "unexpected pass of an xfail"
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr or "")
    return text.splitlines()[0] if text else ""


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Teardown and JUnit here; publishing waits for pytest_unconfigure, after the terminal summary."""
    if _is_worker(session.config):
        return
    run = session.config.stash[RUN_KEY]
    pub = session.config.stash.get(PUBLISH_KEY, None)
    if pub is not None:
        pub.abort.settle()
        pub.lap("tests")
        if pub.abort.aborted:
            run.mark_interrupted(pub.abort.reason or "aborted")
    failed = any(c.outcome in ("failed", "error") for c in run.cases.values())
    run.finish(failed)
    if pub is not None:
        pub.lap("teardown")
    if run.provider is not None:
        run.write_junit()
    if not all(r.ok for r in run.infra) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_unconfigure(config: pytest.Config) -> None:
    """Publish: artifacts and build-log.txt, then finished.json, then latest-build.txt."""
    pub = config.stash.get(PUBLISH_KEY, None)
    if pub is None or pub.session is None:
        return
    run, session = config.stash[RUN_KEY], pub.session
    passed = session.exitstatus == pytest.ExitCode.OK
    reason = pub.abort.reason if pub.abort.aborted else None  # -x or --maxfail stop early: still a verdict
    meta = {**run.metadata(), "infra-commit": infra_commit()}
    (run.settings.artifacts / ABORT_MARKER).unlink(missing_ok=True)
    pub.console.flush()
    try:
        report = pub.record.finish(passed=passed, aborted=reason, metadata=meta,
                                   budget_seconds=pub.abort.budget() if reason else None)
    except UploadError as err:
        _say(config, f"fedtest: error: results not published: {err}")
        session.exitstatus = max(int(session.exitstatus), int(pytest.ExitCode.TESTS_FAILED))
        report = None
    finally:
        pub.console.stop()
        pub.abort.uninstall()
    if report is not None and not report.passed and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if reason and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        session.exitstatus = pytest.ExitCode.INTERRUPTED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    if _is_worker(config) or RUN_KEY not in config.stash:
        return
    run = config.stash[RUN_KEY]
    if not run.infra:
        return
    terminalreporter.section("fedtest infrastructure")
    for r in run.infra:
        verdict = "ok" if r.ok else f"FAILED: {r.error}"
        terminalreporter.write_line(f"{r.name} ({r.seconds:.1f}s): {verdict}")
    terminalreporter.write_line(f"run id {run.run_id}; artifacts in {run.settings.artifacts}")
