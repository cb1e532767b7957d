"""The upstream Conformance suite as a second tester: one pod per cluster, results merged into the build.

`run_conformance` is called by the run after fedtest's own suite, once per cluster (in parallel):
it picks the conformance image matching the server version (or the one given, through the
--image-registry mirror), creates a namespace, a ServiceAccount bound to cluster-admin, a ConfigMap
(e2e.test's kubeconfig and, with a mirror, its repository list) and the pod (conformance_pod.py),
follows the suite's log with a progress line every ~30 s, copies junit_01.xml and e2e.log out when
it ends, writes artifacts/junit_conformance_<cluster>.xml, and deletes everything it created (the
ClusterRoleBinding too) in a finally: after success, failure, timeout and abort.
A tester that cannot set up or finish says so in `error` (an infra case, never a pass).
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.rest import ApiException

from e2e.framework import conformance_pod as shapes
from e2e.framework import conformance_report as report
from e2e.framework import kube, namespaces, waits
from e2e.framework.builders import DEFAULT_BUSYBOX_IMAGE
from e2e.framework.config import mirrored
from e2e.framework.conformance_follow import Follower, Stopped
from e2e.framework.conformance_pod import DEFAULT_FOCUS, ConformanceError, Names, PodPlan
from providers.base import Cluster

CLEANUP_SECONDS = 120.0  # kept from the deadline for deleting what the tester created


@dataclass(frozen=True)
class ConformanceSettings:
    """The --conformance-* options. `timeout` bounds the suite's run; the run's deadline bounds it too."""

    focus: str = DEFAULT_FOCUS
    preset: str = ""  # --conformance-preset: then focus is that preset's regex
    skip: str = ""
    parallel: int = 1
    image: str | None = None  # default: registry.k8s.io/conformance:<server version>
    image_registry: str | None = None
    dry_run: bool = False
    timeout: float = 3 * 3600.0
    results_image: str = DEFAULT_BUSYBOX_IMAGE
    pull_policy: str = "IfNotPresent"
    start_timeout: float = 600.0  # pulling the ~500 MB image and scheduling
    results_timeout: float = 120.0  # from e2e.test's end to the results being out
    progress_seconds: float = 30.0
    run_id: str = ""

    def validate(self) -> None:
        """Bad options as one line naming the option and the fix (call it where options are read, too)."""
        if self.parallel < 1:
            raise ConformanceError(f"--conformance-parallel {self.parallel} is not a process count: pass 1 or more")
        if self.timeout <= 0:
            raise ConformanceError(f"--conformance-timeout {self.timeout} is not a duration: pass seconds above 0")
        if self.preset and self.focus != shapes.preset_focus(self.preset):
            raise ConformanceError(f"--conformance-preset {self.preset} and --conformance-focus both select "
                                   "specs: pass one of them")
        for option, pattern in (("--conformance-focus", self.focus), ("--conformance-skip", self.skip)):
            try:
                re.compile(pattern)
            except re.error as err:
                raise ConformanceError(f"{option} {pattern!r} is not a regular expression ({err}): "
                                       r"escape brackets as in \[Conformance\]") from None

    def describe(self) -> str:
        """The selection as typed on a command line (never repr: that doubles every backslash)."""
        preset = f"preset {self.preset}, " if self.preset else ""
        return f"{preset}focus {self.focus}" + (f", skip {self.skip}" if self.skip else "")


@dataclass
class ConformanceResult:
    """One cluster's tester: `error` is one line when the tester itself failed (infra), else empty."""

    cluster: str
    seconds: float
    error: str = ""
    image: str = ""
    junit: Path | None = None
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    listed: list[str] | None = None  # dry run: the specs that would run
    aborted: bool = False

    @property
    def ok(self) -> bool:
        """The tester worked and no upstream test failed."""
        return not self.error and self.failed == 0

    def line(self) -> str:
        if self.error:
            return f"conformance {self.cluster}: ERROR {self.error} ({self.seconds:.0f}s)"
        if self.listed is not None:
            return f"conformance {self.cluster}: dry run, {len(self.listed)} tests would run ({self.seconds:.0f}s)"
        verdict = "ok" if self.ok else "FAILED"
        return (f"conformance {self.cluster}: {verdict}, {self.passed} passed, {self.failed} failed, "
                f"{self.skipped} skipped ({self.seconds:.0f}s)")

    @property
    def case_name(self) -> str:
        """The infra case of the tester itself; it fails only when `error` is set (tests are in `junit`)."""
        return f"Conformance: {self.cluster}"

    @property
    def properties(self) -> dict[str, str]:
        return {"cluster": self.cluster, "image": self.image}


def conformance_image(api: client.ApiClient, settings: ConformanceSettings) -> str:
    """settings.image, else the upstream image for the server's version; either through the mirror."""
    image = settings.image
    if not image:
        version = client.VersionApi(api).get_code(_request_timeout=(10, 30)).git_version
        image = f"{shapes.UPSTREAM_IMAGE}:{shapes.image_tag(version)}"
    return mirrored(image, settings.image_registry)


def run_conformance(cluster: Cluster, settings: ConformanceSettings, artifacts: Path, *,
                    deadline_seconds: float, stop: threading.Event,
                    log: Callable[[str], None]) -> ConformanceResult:
    """Run the upstream suite in `cluster`; never raises for what happens in the cluster."""
    tester = _Tester(cluster, settings, Path(artifacts), waits.Deadline(deadline_seconds), stop,
                     lambda line: log(f"conformance {cluster.name}: {line}"))
    result = tester.run()
    log(result.line())
    return result


def run_on_clusters(clusters: Sequence[Cluster], settings: ConformanceSettings, artifacts: Path, *,
                    deadline_seconds: float, stop: threading.Event,
                    log: Callable[[str], None]) -> list[ConformanceResult]:
    """run_conformance in every cluster at once; results in the clusters' order."""
    if not clusters:
        return []
    with ThreadPoolExecutor(max_workers=len(clusters), thread_name_prefix="conformance") as pool:
        return list(pool.map(lambda c: run_conformance(c, settings, artifacts, deadline_seconds=deadline_seconds,
                                                       stop=stop, log=log), clusters))


class _Tester:
    def __init__(self, cluster: Cluster, settings: ConformanceSettings, artifacts: Path,
                 deadline: waits.Deadline, stop: threading.Event, log: Callable[[str], None]) -> None:
        self.cluster = cluster
        self.settings = settings
        self.artifacts = artifacts
        self.out = artifacts / "conformance" / cluster.name
        self.deadline = deadline
        self.stop = stop
        self.log = log
        self.result = ConformanceResult(cluster.name, 0.0)
        self.names = Names.new()
        self.created: list[tuple[str, str]] = []  # (kind, name), in creation order
        self.refused: set[tuple[str, str]] = set()  # creates the server answered with a 4xx

    def run(self) -> ConformanceResult:
        api: client.ApiClient | None = None
        try:
            self.settings.validate()
            api = kube.client_for(self.cluster)
            self._run(api)
        except Stopped as stopped:
            self.result.aborted = True
            self.result.error = str(stopped)
        except (ConformanceError, waits.WaitTimeout, waits.WaitFailed) as err:
            self.result.error = str(err).splitlines()[0]
        except Exception as err:  # an API or network failure: the tester failed, the run goes on
            self.result.error = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}".strip()
        finally:
            if api is not None:
                self._clean_up(api)
        self.result.seconds = self.deadline.seconds - self.deadline.remaining()
        return self.result

    # --- set up and follow ------------------------------------------------------------------------
    def _run_seconds(self) -> float:
        """What the suite may use: the timeout, within the deadline minus the clean-up reserve."""
        reserve = min(CLEANUP_SECONDS, self.deadline.seconds / 4)
        return min(self.settings.timeout, self.deadline.remaining() - reserve)

    def _run(self, api: client.ApiClient) -> None:
        self._check_stop("before it started")
        image = self.result.image = conformance_image(api, self.settings)
        run_seconds = self._run_seconds()
        if run_seconds <= 0:
            raise ConformanceError("no time left before the run's deadline: raise --deadline")
        plan = PodPlan(image, mirrored(self.settings.results_image, self.settings.image_registry),
                       self.settings.focus, self.settings.skip, self.settings.parallel, self.settings.dry_run,
                       self.settings.pull_policy, math.ceil(run_seconds), self.settings.run_id,
                       api_url=in_cluster_url(api), repo_list=shapes.repo_list(self.settings.image_registry))
        dry_run = ""
        if plan.dry_run:
            dry_run = ", dry run" + (" in one process (ginkgo dry-runs only serially)" if plan.parallel > 1 else "")
        self.log(f"{image} in namespace {self.names.namespace}, {self.settings.describe()}{dry_run}")
        self._create(api, plan)
        follower = Follower(api, self.names.namespace, self.settings, self.stop, self.log)
        outcome = follower.follow(waits.Deadline(run_seconds))
        self._collect(follower, outcome)

    def _check_stop(self, when: str) -> None:
        if self.stop.is_set():
            raise Stopped(f"aborted {when}")

    def _create(self, api: client.ApiClient, plan: PodPlan) -> None:
        core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
        run_id, names = self.settings.run_id, self.names
        steps: list[tuple[str, str, Callable[[], Any]]] = [
            ("Namespace", names.namespace, lambda: core.create_namespace(
                shapes.namespace(names, run_id), field_validation="Strict", _request_timeout=30)),
            ("ServiceAccount", shapes.SERVICE_ACCOUNT, lambda: core.create_namespaced_service_account(
                names.namespace, _in(names.namespace, shapes.service_account(run_id)),
                field_validation="Strict", _request_timeout=30)),
            ("ClusterRoleBinding", names.binding, lambda: rbac.create_cluster_role_binding(
                shapes.cluster_role_binding(names, run_id), field_validation="Strict", _request_timeout=30)),
            ("ConfigMap", shapes.CONFIG, lambda: core.create_namespaced_config_map(
                names.namespace, _in(names.namespace, shapes.config_map(plan, run_id)),
                field_validation="Strict", _request_timeout=30)),
            ("Pod", shapes.POD, lambda: core.create_namespaced_pod(
                names.namespace, _in(names.namespace, shapes.pod(plan)), field_validation="Strict",
                _request_timeout=30)),
        ]
        for kind, name, create in steps:
            self._check_stop("while setting up")
            self.created.append((kind, name))  # before the call: a timed-out create may still have happened
            try:
                create()
            except ApiException as err:
                if 400 <= (err.status or 0) < 500:
                    self.refused.add((kind, name))  # still deleted, in case; not reported if that fails
                fix = "the kubeconfig's user needs cluster-admin" if err.status in (401, 403) else \
                    "see the API server's answer"
                raise ConformanceError(f"cannot create {kind} {name}: HTTP {err.status} {err.reason}: {fix}") from None

    def _collect(self, follower: Follower, outcome: str) -> None:
        """Write e2e.log under artifacts/conformance/<cluster>/, then upstream's junit_01.xml merged as
        artifacts/junit_conformance_<cluster>.xml (the only copy: TestGrid would read another as rows of
        its own, and a compressed archive cannot be scrubbed, so it is never published)."""
        self.out.mkdir(parents=True, exist_ok=True)
        archive = report.results_archive(follower.carrier_log()) if outcome == "ended" else None
        files = report.unpack(archive) if archive else {}
        (self.out / "e2e.log").write_bytes(files.get("e2e.log") or follower.suite_log().encode())
        elapsed = self.deadline.seconds - self.deadline.remaining()
        if outcome == "aborted":
            raise Stopped(f"aborted at {follower.progress.line(elapsed)}")
        if outcome != "ended":
            raise ConformanceError(f"{follower.ending} at {follower.progress.line(elapsed)}: see "
                                   f"conformance/{self.cluster.name}/e2e.log")
        junit = files.get("junit_01.xml")
        if junit is None:
            raise ConformanceError(f"e2e.test ended ({follower.ending}) without junit_01.xml: see "
                                   f"conformance/{self.cluster.name}/e2e.log")
        upstream = report.upstream_report(junit)
        cases = upstream.specs
        if upstream.suite_failures:  # no spec's fault: the suite itself could not set up or report; the
            # specs' rows are still written below
            self.result.error = (f"ginkgo's {upstream.suite_failures[0].splitlines()[0]}: "
                                 f"see conformance/{self.cluster.name}/e2e.log")
        if self.settings.dry_run:
            self.result.listed = report.dry_run_listing(cases)
            (self.out / "tests.txt").write_text("".join(f"{n}\n" for n in self.result.listed), encoding="utf-8")
            for name in self.result.listed:
                self.log(f"would run: {name}")
            return
        properties = {"provider": self.cluster.provider, "image": self.result.image}
        path, counts = report.write_cluster_junit(self.artifacts, self.cluster.name, cases, properties)
        self.result.junit = path
        self.result.passed, self.result.failed, self.result.skipped = counts.passed, counts.failed, counts.skipped

    # --- clean up -----------------------------------------------------------------------------------
    def _clean_up(self, api: client.ApiClient) -> None:
        """Delete in reverse order; wait (bounded) until the pod and then the namespace are gone."""
        core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
        budget = waits.Deadline(max(self.deadline.remaining(), min(CLEANUP_SECONDS, 30.0)))
        ns = self.names.namespace
        deleters: dict[str, Callable[[str], Any]] = {
            "Pod": lambda name: core.delete_namespaced_pod(name, ns, grace_period_seconds=0, _request_timeout=30),
            "ClusterRoleBinding": lambda name: rbac.delete_cluster_role_binding(name, _request_timeout=30),
            "ServiceAccount": lambda name: core.delete_namespaced_service_account(name, ns, _request_timeout=30),
            "ConfigMap": lambda name: core.delete_namespaced_config_map(name, ns, _request_timeout=30),
        }
        left: list[str] = []
        for kind, name in reversed(self.created):
            try:
                if kind == "Pod":
                    deleters[kind](name)
                    waits.gone(core.list_namespaced_pod, ns, name, kind, max(budget.remaining() / 2, 1.0))
                elif kind == "Namespace":  # last: it takes whatever else was in it along
                    if not namespaces.delete(api, name, max(budget.remaining(), 1.0)):
                        left.append(f"{kind} {name} (still terminating)")
                else:
                    deleters[kind](name)
            except ApiException as err:
                if err.status != 404 and (kind, name) not in self.refused:
                    left.append(f"{kind} {name} (HTTP {err.status})")
            except (waits.WaitTimeout, urllib3.exceptions.HTTPError) as err:
                left.append(f"{kind} {name} ({type(err).__name__})")
        self.created.clear()
        if left:
            note = f"left behind: {', '.join(left)}"
            self.log(note)
            self.result.error = "; ".join(filter(None, [self.result.error, note]))


def in_cluster_url(api: client.ApiClient) -> str:
    """The API server's URL as pods reach it: the `kubernetes` Service in `default` (what the kubelet puts
    into KUBERNETES_SERVICE_HOST/PORT and rest.InClusterConfig uses)."""
    try:
        service = client.CoreV1Api(api).read_namespaced_service("kubernetes", "default", _request_timeout=30)
    except ApiException as err:
        fix = "the kubeconfig's user needs cluster-admin" if err.status in (401, 403) else \
            "the cluster's API server keeps that Service: check its control plane"
        raise ConformanceError(f"cannot read Service default/kubernetes (HTTP {err.status} {err.reason}), the API "
                               f"server's in-cluster URL e2e.test needs: {fix}") from None
    ports = service.spec.ports or []
    port = next((p.port for p in ports if p.name == "https"), ports[0].port if ports else 443)
    if not service.spec.cluster_ip or service.spec.cluster_ip == "None":
        raise ConformanceError("the Service default/kubernetes has no ClusterIP: e2e.test cannot reach the API "
                               "server from a pod; fix the cluster's control plane")
    return shapes.service_url(service.spec.cluster_ip, port)


def _in(namespace: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """The namespace written into the manifest too, as kubectl does."""
    return {**manifest, "metadata": {**manifest["metadata"], "namespace": namespace}}


def conformance_metadata(results: list[ConformanceResult]) -> dict[str, str]:
    """finished.json metadata for the build (strings, as TestGrid's column headers want)."""
    if not results:
        return {}
    images = sorted({r.image for r in results if r.image})
    verdicts = ",".join(f"{r.cluster}={'error' if r.error else ('passed' if r.ok else 'failed')}" for r in results)
    return {"conformance-image": ",".join(images) or "unknown", "conformance": verdicts}
