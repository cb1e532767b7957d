"""The plugin's pytest options and the typed Settings they make (fedtest/plugin.py registers them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e.framework import diagnostics
from e2e.framework.builders import DEFAULT_AGNHOST_IMAGE, DEFAULT_BUSYBOX_IMAGE, DEFAULT_GIT_IMAGE
from e2e.framework.config import DEFAULT_REACH_WINDOW
from e2e.framework.conformance import DEFAULT_FOCUS, ConformanceSettings
from e2e.framework.conformance_pod import FOCUS_PRESETS
from fedtest.errors import FedtestError
from fedtest.settings import Settings


def add_options(parser: pytest.Parser) -> None:
    """The fedtest options of pytest: every one with its help text and default."""
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
    add("--diagnostics-cap", type=float, default=diagnostics.DEFAULT_CAP_MIB, metavar="MIB",
        help="MiB of diagnostics a failed test may write (its namespaces in every cluster it used, dumped when it "
             "fails); past it files are cut and the test's index.txt says which (default %(default)g)")
    add("--reach-window", type=float, default=DEFAULT_REACH_WINDOW,
        help="seconds a federated shard's address may take to answer a TCP connect, retried, before the resolver "
             "calls it unreachable (a new NodePort answers once the nodes program it; default %(default)g)")
    _add_conformance_options(parser)


def _add_conformance_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("fedtest-conformance", "fedtest: the upstream Conformance suite in each cluster")
    add = group.addoption
    add("--conformance", action="store_true",
        help="run the upstream Conformance suite in each cluster after fedtest's tests, in the same build")
    add("--conformance-focus", help=f"ginkgo focus regex (default {DEFAULT_FOCUS})")
    add("--conformance-preset", choices=sorted(FOCUS_PRESETS),
        help="a named focus instead of --conformance-focus (README: Upstream conformance)")
    add("--conformance-skip", default="", help="ginkgo skip regex (default: none)")
    add("--conformance-parallel", type=int, default=1,
        help="ginkgo processes; [Serial] specs still run alone (default 1)")
    add("--conformance-image", help="image instead of registry.k8s.io/conformance:<server version> "
                                    "(through --image-registry; default: the cluster's version)")
    add("--conformance-timeout", type=float, default=10800.0,
        help="seconds the suite may run; --deadline bounds it too (default 10800)")
    add("--conformance-dry-run", action="store_true",
        help="list the tests focus and skip select (ginkgo's dry run) and run none")


def _conformance(config: pytest.Config) -> ConformanceSettings | None:
    opt = config.getoption
    if not opt("conformance"):
        return None
    preset = opt("conformance_preset") or ""
    settings = ConformanceSettings(
        focus=opt("conformance_focus") or (FOCUS_PRESETS[preset] if preset else DEFAULT_FOCUS), preset=preset,
        skip=opt("conformance_skip"), parallel=opt("conformance_parallel"),
        image=opt("conformance_image"), image_registry=opt("image_registry"), dry_run=opt("conformance_dry_run"),
        timeout=opt("conformance_timeout"), results_image=opt("busybox_image"),
        pull_policy=opt("image_pull_policy"),
    )
    try:
        settings.validate()
    except FedtestError as err:
        raise pytest.UsageError(str(err)) from None
    return settings


def settings(config: pytest.Config) -> Settings:
    """The options as typed settings (UsageError for conformance options that cannot work)."""
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
        progress_every=opt("progress_every"), conformance=_conformance(config),
        reach_window=opt("reach_window"),
        diagnostics_cap_mib=opt("diagnostics_cap"),
    )


def check(settings: Settings) -> None:
    """Option combinations that cannot work: a usage error, before the build is claimed."""
    if settings.deadline is not None and settings.deadline <= settings.abort_reserve:
        raise pytest.UsageError(f"--deadline {settings.deadline:g} leaves no time beyond the "
                                f"--abort-reserve {settings.abort_reserve:g}: pass a --deadline above --abort-reserve")
    if settings.progress_every <= 0:
        raise pytest.UsageError("--progress-every must be above 0 seconds: pass e.g. --progress-every 30")
    if settings.results_deadline <= 0:
        raise pytest.UsageError("--results-deadline must be above 0 seconds: pass e.g. --results-deadline 30")
    if settings.diagnostics_cap_mib <= 0:
        raise pytest.UsageError("--diagnostics-cap must be above 0 MiB: pass e.g. --diagnostics-cap 20")
    if settings.reach_window < 0:
        raise pytest.UsageError("--reach-window must be 0 seconds or more: pass e.g. --reach-window 20")
