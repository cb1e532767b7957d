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

import pytest
from kubernetes import client

from e2e.framework import kube as kube_clients
from e2e.framework import namespaces
from e2e.framework.config import E2EConfig
from fedtest import evidence, options
from fedtest.abort import AbortController
from fedtest.cases import Phase
from fedtest.lifecycle import ABORT_MARKER, ClusterSet, Run
from providers.base import Cluster
from upload import files

RUN_KEY = pytest.StashKey[Run]()
VIEW_KEY = pytest.StashKey[ClusterSet]()
WORKER_ABORT_KEY = pytest.StashKey[AbortController]()
SESSION_KEY = pytest.StashKey[tuple[pytest.Session, int]]()
NO_CLUSTER = "no-cluster"
NO_PROVIDER = "no clusters: run with --provider (see `fedtest list`)"


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


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


@pytest.hookimpl(trylast=True)  # after the terminal reporter exists: build-log.txt tees its output
def pytest_configure(config: pytest.Config) -> None:
    settings = options.settings(config)
    if _is_worker(config):
        config.stash[VIEW_KEY] = ClusterSet.from_worker_input(settings, config.workerinput)  # type: ignore[attr-defined]
        return
    if not _runs(config):
        config.stash[VIEW_KEY] = ClusterSet(settings, "")
        return
    options.check(settings)
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
    if run is None:  # an xdist worker, or no run
        try:
            return (yield)
        finally:
            _await_namespaces(session.config)
    run.abort.on_abort = lambda reason: _stop(session, reason)
    if run.abort.aborted:  # a signal between started.json and here
        _stop(session, run.abort.reason or "aborted")
    with run.clusters():
        try:
            return (yield)
        finally:
            _await_namespaces(session.config)


def _await_namespaces(config: pytest.Config) -> None:
    """The tests' namespaces, deleted as each test ended, are gone before the session's leak check
    (which names any still there); a worker waits for its own before it reports that it has finished."""
    view = config.stash.get(VIEW_KEY, None)
    if view is not None and namespaces.REAPER.pending:
        stuck = namespaces.REAPER.wait(view.settings.namespace_deadline)
        if stuck:
            _say(config, f"fedtest: namespace(s) not deleted within {view.settings.namespace_deadline:g}s: "
                         f"{', '.join(stuck)}")


def _stop(session: pytest.Session, reason: str) -> None:
    """Called once on SIGTERM, SIGINT or the deadline: no new tests; teardown and upload follow."""
    session.shouldstop = f"fedtest: run aborted ({reason})"
    dsession = session.config.pluginmanager.get_plugin("dsession")  # pytest-xdist's controller
    if dsession is not None:
        dsession.shouldstop = session.shouldstop
        files.write_path(session.config.stash[VIEW_KEY].settings.artifacts / ABORT_MARKER, reason.encode())


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
    try:
        return files.read_path(marker, limit=4096).decode("utf-8", "replace").strip() or "aborted"
    except OSError:  # none (or a link, never followed)
        return None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    evidence.forget(item)
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


WORKERS_PER_CLUSTER = 3


def auto_workers(clusters: int) -> int:
    """One worker for the clock-bound group (the CronJobs of every cluster tick together), and three per
    cluster for everything else: those tests wait on the cluster (pods starting, endpoints, jobs), 400 s
    and more of waiting per cluster on small, busy clusters, with single tests of up to three minutes (the
    job queue), which three workers a cluster bring within the group's few minutes."""
    return 1 + WORKERS_PER_CLUSTER * max(clusters, 1)


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
    """A failed setup or call: its namespaces are dumped now, before any fixture's teardown deletes things."""
    report = yield
    if report.failed and report.when in ("setup", "call"):
        evidence.capture_into(report, item, _message(report), item.config.stash[VIEW_KEY].settings)
    return report


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
    evidence.register(request.node, cluster.name, api, name)
    yield name
    _delete(fedtest_run, {cluster.name: api}, name)


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
            evidence.register(request.node, c.name, clients[c.name], name)
        yield FederatedNamespace(name, clients)
    finally:
        _delete(fedtest_run, clients, name)


def _delete(view: ClusterSet, clients: dict[str, client.ApiClient], name: str) -> None:
    """Ask every cluster to delete it (a failure's diagnostics were taken when it failed); the session
    awaits the deletions together (namespaces.Reaper) and its leak check names any namespace left."""
    for cluster_name, api in clients.items():
        namespaces.REAPER.delete(api, name, cluster_name)


# --- the report -----------------------------------------------------------------------------
class _CaseRecorder:
    """Controller only: every test's phases (xdist forwards workers' reports) into the run's cases."""

    def __init__(self, run: Run) -> None:
        self.run = run

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        failed = report.failed or report.outcome == "rerun"  # rerun: pytest-rerunfailures runs it again
        self.run.book.record(Phase(
            report.nodeid, report.when, report.outcome, report.duration, _message(report),
            report.longreprtext if failed else "", list(report.user_properties),
            report.capstdout if report.when == "call" else "", int(getattr(report, "rerun", 0) or 0),
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
    """Flaky tests by name, then the infra steps; a failed one also counts as an error in pytest's closing line."""
    run = config.stash.get(RUN_KEY, None)
    if run is None:
        return
    flaky = run.book.flaky()
    if flaky:
        terminalreporter.section(f"fedtest flaky: {len(flaky)} test(s) failed, then passed on a rerun", yellow=True)
        for name in flaky:
            terminalreporter.write_line(name)
    if not run.steps:
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
        flaky = len(run.book.flaky())
        mark = f" ({flaky} flaky)" if flaky else ""
        run.progress.write(f"fedtest: run {run.run_id}: {report.result}{mark}: {report.url}")
    if session is None:
        return
    if report is None or not report.passed:
        session.exitstatus = max(int(session.exitstatus), int(pytest.ExitCode.TESTS_FAILED))
    if run.abort.aborted and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        session.exitstatus = pytest.ExitCode.INTERRUPTED
