"""fedtest's pytest plugin: options, hooks and fixtures, and nothing else.

The run itself lives in fedtest.lifecycle: pytest_configure opens it (signal handlers, started.json,
pre-flight), pytest_runtestloop wraps the tests in its cluster set (bring-up before, teardown after,
always), pytest_unconfigure closes it (JUnit, publish). Installed through the `pytest11` entry point
`fedtest`, so any project's suite can use these fixtures after `pip install fedtest`.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client

from e2e.framework import diagnostics, namespaces
from e2e.framework import kube as kube_clients
from e2e.framework.builders import DEFAULT_AGNHOST_IMAGE, DEFAULT_BUSYBOX_IMAGE, DEFAULT_GIT_IMAGE
from e2e.framework.config import E2EConfig
from fedtest.abort import AbortController
from fedtest.cases import Phase
from fedtest.lifecycle import ABORT_MARKER, ClusterSet, Run
from fedtest.settings import Settings
from providers.base import Cluster

RUN_KEY = pytest.StashKey[Run]()
VIEW_KEY = pytest.StashKey[ClusterSet]()
REPORTS_KEY = pytest.StashKey[dict[str, pytest.TestReport]]()
WORKER_ABORT_KEY = pytest.StashKey[AbortController]()
SESSION_KEY = pytest.StashKey[tuple[pytest.Session, int]]()
NO_CLUSTER = "no-cluster"
NO_PROVIDER = "no clusters: run with --provider (see `fedtest list`)"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fedtest", "fedtest: clusters and results")
    add = group.addoption
    add("--provider", help="cluster provider: existing, kind, gce, azure, or a third party's (`fedtest list`); "
                           "without it the fedtest fixtures skip and nothing is published")
    add("--clusters", type=int, default=None,
        help="how many clusters to bring up (default 1; existing: one per context)")
    add("--kubeconfig", help="kubeconfig for --provider existing (default $KUBECONFIG)")
    add("--contexts", help="comma-separated kubeconfig contexts for --provider existing, e.g. a,b")
    add("--keep-clusters", action="store_true", help="leave clusters up after the run (`fedtest down` later)")
    add("--artifacts", default="_artifacts", help="folder for JUnit, ledger, diagnostics, build-log.txt "
                                                  "(default _artifacts)")
    add("--work-dir", help="folder for kubeconfigs and keys, never published (default: under the temp dir)")
    add("--k8s-version", help="Kubernetes version to bring up, e.g. 1.31 (default: the provider's)")
    add("--image-registry", help="mirror for every test image, for offline clusters (default: none)")
    add("--image-pull-policy", default="IfNotPresent", choices=["Always", "IfNotPresent", "Never"],
        help="pull policy of test pods (default IfNotPresent)")
    add("--agnhost-image", default=DEFAULT_AGNHOST_IMAGE, help="server image for ingress/federation tests "
                                                               "(default %(default)s)")
    add("--busybox-image", default=DEFAULT_BUSYBOX_IMAGE, help="image for runner pods and jobs (default %(default)s)")
    add("--git-image", default=DEFAULT_GIT_IMAGE, help="image for the runner pods' checkout (default %(default)s)")
    add("--ingress-address", help="HOST[:PORT] to reach the ingress controller (default: the provider's)")
    add("--provider-opt", action="append", default=[], metavar="KEY=VALUE",
        help="provider setting, repeatable (also $FEDTEST_PROVIDER_OPTS, space-separated; `fedtest list`)")
    add("--bringup-deadline", type=float, default=900.0, help="seconds for each cluster to come up (default 900)")
    add("--namespace-deadline", type=float, default=120.0,
        help="seconds to wait for a test namespace's deletion (default 120)")
    add("--results", help="gs://bucket/logs/<job> or a folder (default: the bucket layout under --artifacts)")
    add("--job", help="job name in the results (default: $JOB_NAME, else e2e-<provider>)")
    add("--build-id", help="numeric, increasing build id (default: $BUILD_NUMBER, else start seconds)")
    add("--deadline", type=float, default=None,
        help="seconds the whole run may take; the abort reserve before it goes to teardown and upload")
    add("--abort-reserve", type=float, default=300.0,
        help="seconds kept for teardown and upload after SIGTERM, SIGINT or the deadline (default 300)")
    add("--progress-every", type=float, default=30.0,
        help="seconds between progress lines while a step waits, e.g. a cluster coming up (default 30)")
    add("--results-deadline", type=float, default=30.0,
        help="seconds any one results read or write may keep retrying before it fails (default 30)")


def _settings(config: pytest.Config) -> Settings:
    opt = config.getoption
    return Settings(
        provider=opt("provider"), clusters=opt("clusters"), kubeconfig=opt("kubeconfig"),
        contexts=opt("contexts"), keep_clusters=opt("keep_clusters"),
        artifacts=Path(opt("artifacts")).resolve(), work_dir=opt("work_dir"),
        k8s_version=opt("k8s_version"), image_registry=opt("image_registry"),
        image_pull_policy=opt("image_pull_policy"), agnhost_image=opt("agnhost_image"),
        busybox_image=opt("busybox_image"), git_image=opt("git_image"), ingress_address=opt("ingress_address"),
        provider_opts=tuple(opt("provider_opt")),  # $FEDTEST_PROVIDER_OPTS is read by providers.options
        bringup_deadline=opt("bringup_deadline"), namespace_deadline=opt("namespace_deadline"),
        results=opt("results"), job=opt("job"), build_id=opt("build_id"), deadline=opt("deadline"),
        abort_reserve=opt("abort_reserve"), results_deadline=opt("results_deadline"),
        progress_every=opt("progress_every"),
    )


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _runs(config: pytest.Config) -> bool:
    """A run with a provider that will execute tests (not --help, --collect-only, --fixtures ...)."""
    o = config.option
    listing = o.collectonly or getattr(o, "showfixtures", False) or getattr(o, "show_fixtures_per_test", False)
    return bool(config.getoption("provider")) and not (listing or o.help or getattr(o, "version", False))


def _say(config: pytest.Config, line: str) -> None:
    """One progress line, flushed at once (Jenkins' console is a pipe, not a terminal)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        print(line, flush=True)
        return
    reporter.ensure_newline()
    reporter.write_line(line)
    reporter._tw.flush()


def _check(settings: Settings) -> None:
    if settings.deadline is not None and settings.deadline <= settings.abort_reserve:
        raise pytest.UsageError(f"--deadline {settings.deadline:g} leaves no time beyond the "
                                f"--abort-reserve {settings.abort_reserve:g}: pass a --deadline above --abort-reserve")
    if settings.progress_every <= 0:
        raise pytest.UsageError("--progress-every must be above 0 seconds: pass e.g. --progress-every 30")
    if settings.results_deadline <= 0:
        raise pytest.UsageError("--results-deadline must be above 0 seconds: pass e.g. --results-deadline 30")


@pytest.hookimpl(trylast=True)  # after the terminal reporter exists: build-log.txt tees its output
def pytest_configure(config: pytest.Config) -> None:
    settings = _settings(config)
    if _is_worker(config):
        config.stash[VIEW_KEY] = ClusterSet.from_worker_input(settings, config.workerinput)  # type: ignore[attr-defined]
        return
    if not _runs(config):
        config.stash[VIEW_KEY] = ClusterSet(settings, "")
        return
    _check(settings)
    run = Run(settings, write=lambda line: _say(config, line))
    config.stash[RUN_KEY] = run
    config.stash[VIEW_KEY] = run.view
    config.pluginmanager.register(_CaseRecorder(run), "fedtest-case-recorder")
    try:
        run.open(config.get_terminal_writer())
    except Exception as err:  # only the results destination can stop the run before it is claimed
        del config.stash[RUN_KEY]
        raise pytest.UsageError(str(err)) from None


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Iterator[object]:
    run = session.config.stash.get(RUN_KEY, None)
    if run is None:
        return (yield)
    run.abort.on_abort = lambda reason: _stop(session, reason)
    if run.abort.aborted:  # a signal between started.json and here
        _stop(session, run.abort.reason or "aborted")
    with run.clusters():
        return (yield)


def _stop(session: pytest.Session, reason: str) -> None:
    """Called once on SIGTERM, SIGINT or the deadline: no new tests; teardown and upload follow."""
    session.shouldstop = f"fedtest: run aborted ({reason})"
    dsession = session.config.pluginmanager.get_plugin("dsession")  # pytest-xdist's controller
    if dsession is not None:
        dsession.shouldstop = session.shouldstop
        (session.config.stash[VIEW_KEY].settings.artifacts / ABORT_MARKER).write_text(reason)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    if _is_worker(session.config):
        _watch_signals_in_worker(session)


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
    run = config.stash.get(RUN_KEY, None)
    for watch in (run.abort if run else None, config.stash.get(WORKER_ABORT_KEY, None)):
        if watch is not None and watch.aborted:
            return watch.reason or "aborted"
    marker = config.stash[VIEW_KEY].settings.artifacts / ABORT_MARKER
    return marker.read_text().strip() or "aborted" if marker.exists() else None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.config.getoption("provider") is None:
        return
    reason = _abort_reason(item.config)
    if reason is not None:
        pytest.skip(f"run aborted ({reason}) before this test started")


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto` for a run: workers from the work, not the cores (the tests wait on clusters, not the CPU)."""
    if not config.getoption("provider") or os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # the harness's own tests, or a count the caller chose: xdist's default
    contexts = [c for c in (config.getoption("contexts") or "").split(",") if c.strip()]
    return auto_workers(len(contexts) or config.getoption("clusters") or 1)


def auto_workers(clusters: int) -> int:
    """One worker for the clock-bound group (the CronJobs of every cluster tick together), and one per
    cluster for everything else, whose waits (pods starting, endpoints, namespaces) take under a minute
    per cluster summed and so fit beside the group's few minutes."""
    return 1 + max(clusters, 1)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: object) -> None:
    """xdist: hand each worker the run id, the plan and the ledger's path instead of bringing clusters up again."""
    view = node.config.stash[VIEW_KEY]  # type: ignore[attr-defined]
    node.workerinput.update(view.worker_input())  # type: ignore[attr-defined]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "cluster" in metafunc.fixturenames:
        names = metafunc.config.stash[VIEW_KEY].names() or [NO_CLUSTER]
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
def fedtest_run(request: pytest.FixtureRequest) -> ClusterSet:
    """The run as tests see it: run id, settings, the clusters by name."""
    return request.config.stash[VIEW_KEY]


@pytest.fixture(scope="session")
def e2e_config(fedtest_run: ClusterSet) -> E2EConfig:
    return fedtest_run.e2e_config()


@pytest.fixture(scope="session")
def cluster_set(fedtest_run: ClusterSet) -> list[Cluster]:
    if not fedtest_run.run_id:
        pytest.skip(NO_PROVIDER)
    if fedtest_run.setup_error and not fedtest_run.up():
        pytest.skip(fedtest_run.setup_error)
    return fedtest_run.up()


@pytest.fixture
def cluster(request: pytest.FixtureRequest, fedtest_run: ClusterSet) -> Cluster:
    if request.param == NO_CLUSTER:
        pytest.skip(fedtest_run.setup_error or NO_PROVIDER)
    found, why = fedtest_run.cluster(request.param)
    if found is None:
        pytest.skip(why)
    return found


@pytest.fixture
def kube(cluster: Cluster) -> client.ApiClient:
    """A Kubernetes API client for `cluster`."""
    return kube_clients.client_for(cluster)


@pytest.fixture
def namespace(request: pytest.FixtureRequest, fedtest_run: ClusterSet, cluster: Cluster) -> Iterator[str]:
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
def federated_namespace(request: pytest.FixtureRequest, fedtest_run: ClusterSet,
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


def _collect_and_delete(request: pytest.FixtureRequest, view: ClusterSet, clients: dict[str, client.ApiClient],
                        name: str) -> None:
    """Diagnostics first (only on failure), then delete within the deadline in every cluster."""
    if _test_failed(request):
        base = view.diagnostics_dir(request.node.nodeid)
        for cluster_name, api in clients.items():
            diagnostics.dump_namespace(api, name, base / cluster_name)
    deadline = view.settings.namespace_deadline
    stuck = [c for c, api in clients.items() if not namespaces.delete(api, name, deadline)]
    if stuck:  # the session's leak check reports it too; this names the test that left it
        pytest.fail(f"namespace {name} not deleted within {deadline:g}s in {', '.join(stuck)}", pytrace=False)


# --- the report -----------------------------------------------------------------------------
class _CaseRecorder:
    """Controller only: every test's phases (xdist forwards workers' reports) into the run's cases."""

    def __init__(self, run: Run) -> None:
        self.run = run

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.run.book.record(Phase(
            report.nodeid, report.when, report.outcome, report.duration, _message(report),
            report.longreprtext if report.failed else "", list(report.user_properties),
            report.capstdout if report.when == "call" else "",
        ))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            text = str(report.longrepr or "collection failed")
            self.run.book.collect_error(report.nodeid, text.strip().splitlines()[-1], text)


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
    """Remember what pytest decided; a failed infra step fails the run, whatever the tests did."""
    run = session.config.stash.get(RUN_KEY, None)
    if run is None:
        return
    session.config.stash[SESSION_KEY] = (session, int(session.exitstatus))
    if not all(r.ok for r in run.steps) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(tryfirst=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """The infra steps; a failed one also counts as an error in pytest's own closing line."""
    run = config.stash.get(RUN_KEY, None)
    if run is None or not run.steps:
        return
    terminalreporter.section("fedtest infrastructure")
    for r in list(run.steps):
        terminalreporter.write_line(f"{r.name} ({r.seconds:.1f}s): {'ok' if r.ok else 'FAILED: ' + r.error}")
        if not r.ok:
            terminalreporter.stats.setdefault("error", []).append(_infra_report(r.name, r.error))
    terminalreporter.write_line(f"run id {run.run_id}; artifacts in {run.settings.artifacts}")


def _infra_report(name: str, error: str) -> pytest.TestReport:
    return pytest.TestReport(nodeid=f"fedtest::{name}", location=("fedtest", None, name), keywords={},
                             outcome="failed", longrepr=f"{name}: {error}", when="setup")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Publish: JUnit, artifacts and build-log.txt, then finished.json, then latest-build.txt."""
    run = config.stash.get(RUN_KEY, None)
    if run is None:
        return
    session, status = config.stash.get(SESSION_KEY, (None, int(pytest.ExitCode.INTERNAL_ERROR)))
    report = run.close(tests_failed=status not in (pytest.ExitCode.OK, pytest.ExitCode.INTERRUPTED))
    if report is not None:
        run.progress.write(f"fedtest: run {run.run_id}: {report.result}: {report.url}")
    if session is None:
        return
    if report is None or not report.passed:
        session.exitstatus = max(int(session.exitstatus), int(pytest.ExitCode.TESTS_FAILED))
    if run.abort.aborted and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        session.exitstatus = pytest.ExitCode.INTERRUPTED
