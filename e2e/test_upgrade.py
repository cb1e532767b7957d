"""CI jobs through a control-plane restart or upgrade: nothing lost, at most one cron run missed.

While the dispatcher keeps K runner jobs going, a CronJob fires every minute and (where the cluster
has an IngressClass) the ingress is probed every second, the provider restarts the control plane (or
upgrades it to FEDTEST_UPGRADE_VERSION, e.g. 1.29.3). Jobs lost: 0; cron runs missed: at most 1; the API
server's unavailable seconds and the ingress availability are JUnit properties. Skipped, before anything
is made, when the provider cannot do it (--provider existing needs restart_command or upgrade_command).

They take clusters away from every other test of the run: run them on their own, e.g.
`pytest e2e/test_outage.py e2e/test_upgrade.py --provider existing ...` (one xdist group keeps them
from overlapping each other).
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from typing import Any

import pytest
from kubernetes import client

from e2e.framework import builders, capabilities, disruption, probes, waits
from e2e.framework.dispatcher import Dispatched, Dispatcher
from e2e.framework.runner import JobDescription, Launcher, Step
from providers.base import RESTART, UPGRADE, Cluster, Provider

JOBS = 9
CONCURRENCY = 3
JOB_SECONDS = 20
JOB_TIMEOUT = 600
CRON = "every-minute"
CRON_MINUTES = 3  # the test lasts at least this many minute boundaries after the CronJob exists
CRON_SLACK = 15.0  # seconds the CronJob controller may take after a boundary
REPOSITORY = "https://example.test/fedtest/through-upgrades.git"
UPGRADE_VERSION_ENV = "FEDTEST_UPGRADE_VERSION"

pytestmark = pytest.mark.xdist_group("disruption")


@pytest.fixture(params=[RESTART, UPGRADE])
def control_plane_action(request: pytest.FixtureRequest, cluster: Cluster, fedtest_run: Any) -> tuple[Provider, str]:
    """The provider and what it will do; skipped, before the test's namespace exists, when it cannot."""
    provider = disruption.run_provider(fedtest_run.ledger_path)
    reason = disruption.skip_reason(provider, cluster, request.param)
    if reason:
        pytest.skip(reason)
    if request.param == UPGRADE and not os.environ.get(UPGRADE_VERSION_ENV):
        pytest.skip(f"no version to upgrade to: set {UPGRADE_VERSION_ENV} (e.g. 1.29.3, the next minor's patch)")
    assert provider is not None
    return provider, request.param


def _jobs() -> list[JobDescription]:
    return [JobDescription(f"through-{i:02d}", REPOSITORY, [Step("work", f"echo job {i}; sleep {JOB_SECONDS}")],
                           source_files={"README.md": "through upgrades\n"}) for i in range(JOBS)]


def _cron_runs(kube: client.ApiClient, namespace: str) -> int:
    jobs = client.BatchV1Api(kube).list_namespaced_job(namespace, _request_timeout=(5, 30)).items
    return sum(1 for j in jobs if any(ref.kind == "CronJob" and ref.name == CRON
                                      for ref in j.metadata.owner_references or []))


def _ingress_probe(kube: client.ApiClient, cluster: Cluster, namespace: str,
                   e2e_config: Any) -> disruption.Probe | None:
    class_name, _why = capabilities.ingress_class(kube, cluster.name)
    if class_name is None:
        return None
    builders.create(kube, namespace, builders.hostname_server("web", builders.Images.from_config(e2e_config)))
    builders.create(kube, namespace, builders.service("web", {"app": "web"}))
    waits.endpoints_ready(kube, namespace, "web", 1, 300)
    host = f"{namespace}.fedtest.example"
    builders.create(kube, namespace, builders.ingress("web", [builders.Route(host, "/", "web")],
                                                       class_name=class_name))
    base = probes.ingress_url(kube, namespace, "web", probes.ingress_override(cluster, e2e_config.ingress_address),
                              180)
    probes.until(f"{base}/", lambda a: a.status == 200, what="the ingress serving web", host=host, timeout=180)
    return disruption.Probe(disruption.http_check(f"{base}/", host=host), interval=1.0)


def test_jobs_cron_and_ingress_ride_through_the_control_plane(
        control_plane_action: tuple[Provider, str], cluster: Cluster, kube: client.ApiClient, namespace: str,
        launcher: Launcher, fedtest_run: Any, e2e_config: Any, record_property: Any) -> None:
    provider, action = control_plane_action
    able = disruption.capability(provider)
    stop = disruption.MarkerStop(fedtest_run.settings.artifacts)
    images = builders.Images.from_config(e2e_config)
    cron_job = builders.shell_job("tick", images.busybox, "date", pull_policy=images.pull_policy)
    made = builders.create(kube, namespace, builders.cronjob(CRON, "* * * * *", cron_job["spec"],
                                                             successful_history=100, failed_history=100))
    cron_created = getattr(made.metadata, "creation_timestamp", None) or dt.datetime.now(dt.UTC)
    ingress = _ingress_probe(kube, cluster, namespace, e2e_config)

    done: list[Dispatched] = []
    failure: list[BaseException] = []

    def dispatch() -> None:
        try:
            done.extend(Dispatcher(launcher, CONCURRENCY, JOB_TIMEOUT).run_all(_jobs()))
        except BaseException as err:  # the test reports it below, with the figures
            failure.append(err)

    api_probe = disruption.Probe(disruption.api_readiness_check(cluster), interval=0.5)
    with api_probe, (ingress or disruption.Probe(lambda: (True, "no ingress"), interval=3600)):
        dispatcher = threading.Thread(target=dispatch, name="dispatcher", daemon=True)
        dispatcher.start()
        assert not stop.wait(JOB_SECONDS / 2), "the run is stopping"  # jobs are running when it happens
        started = time.monotonic()
        if action == RESTART:
            able.restart_control_plane(cluster, stop)
        else:
            able.upgrade_control_plane(cluster, os.environ[UPGRADE_VERSION_ENV], stop)
        record_property(f"{action}_seconds", f"{time.monotonic() - started:.1f}")
        dispatcher.join(JOB_TIMEOUT * JOBS / CONCURRENCY)
        until = cron_created + dt.timedelta(minutes=CRON_MINUTES, seconds=CRON_SLACK)
        while dt.datetime.now(dt.UTC) < until:
            assert not stop.wait(1.0), "the run is stopping"
    ended = dt.datetime.now(dt.UTC)

    lost = [d.job.name for d in done if d.result is None or d.result.phase != "Succeeded"]
    lost += [j.name for j in _jobs() if j.name not in {d.job.name for d in done}]
    fired, expected = _cron_runs(kube, namespace), disruption.minute_boundaries(cron_created, ended, CRON_SLACK)
    record_property("jobs_lost", str(len(lost)))
    record_property("cron_runs_expected", str(expected))
    record_property("cron_runs_missed", str(max(0, expected - fired)))
    record_property("api_unavailable_seconds", f"{api_probe.unavailable_seconds():.1f}")
    record_property("ingress_availability", f"{ingress.availability():.4f}" if ingress else "no IngressClass")
    assert not failure, f"the dispatcher failed: {failure[0]!r}"
    assert not dispatcher.is_alive(), "the dispatcher did not finish"
    assert not lost, f"jobs lost through the {action}: {lost}"
    assert expected - fired <= 1, f"{CRON}: {fired} runs for {expected} minute boundaries"
