"""fedtest's pytest plugin: options, the cluster set, namespaces, diagnostics, the build record.

Thin wiring: the logic lives in e2e/framework (session, namespaces, diagnostics) and providers/.
Clusters come up once per run, in the controller, before any xdist worker starts; workers
read the ledger. Bring-up, teardown and leak checks are JUnit cases of their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client

from e2e.framework import diagnostics, kube, namespaces
from e2e.framework.session import AGNHOST, BUSYBOX, E2EConfig, Run, Settings
from providers.base import Cluster, ProviderError

RUN_KEY = pytest.StashKey[Run]()
REPORTS_KEY = pytest.StashKey[dict[str, pytest.TestReport]]()
NO_CLUSTER = "no-cluster"


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
    group.addoption("--ingress-address", help="HOST[:PORT] to reach the ingress controller (e.g. kind port map)")
    group.addoption("--provider-opt", action="append", default=[], metavar="KEY=VALUE",
                    help="provider-specific option, repeatable")
    group.addoption("--bringup-deadline", type=float, default=900.0, help="seconds for each cluster to come up")
    group.addoption("--namespace-deadline", type=float, default=120.0, help="seconds to wait for namespace deletion")


def _settings(config: pytest.Config) -> Settings:
    opt = config.getoption
    return Settings(
        provider=opt("provider"), clusters=opt("clusters"), kubeconfig=opt("kubeconfig"),
        contexts=opt("contexts"), keep_clusters=opt("keep_clusters"),
        artifacts=Path(opt("artifacts")).resolve(), work_dir=opt("work_dir"),
        k8s_version=opt("k8s_version"), image_registry=opt("image_registry"),
        image_pull_policy=opt("image_pull_policy"), agnhost_image=opt("agnhost_image"),
        busybox_image=opt("busybox_image"), ingress_address=opt("ingress_address"),
        provider_opts=tuple(opt("provider_opt")), bringup_deadline=opt("bringup_deadline"),
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
    if not _is_worker(config):
        config.pluginmanager.register(_CaseRecorder(run), "fedtest-case-recorder")


def pytest_sessionstart(session: pytest.Session) -> None:
    if not _is_worker(session.config):
        session.config.stash[RUN_KEY].bring_up()


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
def kube_client(cluster: Cluster) -> client.ApiClient:
    return kube.client_for(cluster)


@pytest.fixture
def namespace(request: pytest.FixtureRequest, fedtest_run: Run, cluster: Cluster) -> Iterator[str]:
    api = kube.client_for(cluster)
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
            clients[c.name] = kube.client_for(c)
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
    if _is_worker(session.config):
        return
    run = session.config.stash[RUN_KEY]
    failed = any(c.outcome in ("failed", "error") for c in run.cases.values())
    run.finish(failed)
    if run.provider is not None:
        run.write_junit()
    if not all(r.ok for r in run.infra) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


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
