"""What the conformance tester creates in a cluster: namespace, ServiceAccount, cluster-admin binding, pod.

The pod follows the shape hydrophone and Sonobuoy use for the upstream image: the conformance image's
own entrypoint (go-runner) runs ginkgo over e2e.test, configured by E2E_* variables, and writes
e2e.log and junit_01.xml into RESULTS_DIR, a shared emptyDir; when e2e.test ends it writes a `done`
file there. The results leave the pod through the log of a second container (busybox): it waits for
`done`, prints the results as a tar.gz in base64 between two marker lines and exits. So the pod ends
by itself (Succeeded or Failed), and reading results needs nothing but the pod log: no exec
(no websocket/SPDY upgrade through proxies, no pods/exec permission), the pattern the runner pods
use too. The conformance image is distroless: it has no shell or tar to do this itself.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from e2e.framework import builders
from e2e.framework.namespaces import RUN_LABEL
from fedtest.errors import FedtestError

UPSTREAM_IMAGE = "registry.k8s.io/conformance"
DEFAULT_FOCUS = r"\[Conformance\]"
CONFORMANCE = "conformance"  # the e2e.test container
RESULTS = "results"  # the container that carries the results out through its log
RESULTS_DIR = "/tmp/results"
SERVICE_ACCOUNT = "conformance"
POD = "e2e-conformance"
COMPONENT_LABEL = "fedtest.io/component"
RESULTS_BEGIN = "::fedtest-conformance-results-begin"
RESULTS_END = "::fedtest-conformance-results-end"
NO_RESULTS = "::fedtest-conformance-no-results"

# busybox sh. go-runner writes `done` after e2e.test exits, whether the tests passed or not.
RESULTS_SCRIPT = r"""set -u
trap 'exit 143' TERM INT
until [ -f "$RESULTS_DIR/done" ]; do sleep 1; done
cd "$RESULTS_DIR"
set --
for f in junit_*.xml e2e.log; do
  if [ -f "$f" ]; then set -- "$@" "$f"; fi
done
if [ $# -eq 0 ]; then echo '::fedtest-conformance-no-results'; exit 1; fi
echo '::fedtest-conformance-results-begin'
tar -cf - "$@" | gzip -c | base64
echo '::fedtest-conformance-results-end'
"""

_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(-(?:alpha|beta|rc)\.\d+)?")


class ConformanceError(FedtestError):
    """The tester failed (cannot set up, start, finish or deliver); str(err) is one line saying what to do."""


def image_tag(server_version: str) -> str:
    """The conformance image tag for a server's gitVersion: v1.31.2-gke.1200 -> v1.31.2.

    Vendor suffixes (-gke.N, -eks-..., +k3s1) are dropped; upstream pre-releases (-rc.1) are kept,
    since registry.k8s.io publishes conformance images for them.
    """
    match = _VERSION.match(server_version.strip())
    if not match:
        raise ConformanceError(f"server version {server_version!r} is not vMAJOR.MINOR.PATCH: "
                                    "pass --conformance-image with the image to run")
    major, minor, patch, pre = match.groups()
    return f"v{major}.{minor}.{patch}{pre or ''}"


@dataclass(frozen=True)
class Names:
    """Names of one tester's objects; the suffix keeps parallel and repeated runs apart."""

    namespace: str
    binding: str

    @classmethod
    def new(cls) -> Names:
        suffix = secrets.token_hex(3)
        return cls(namespace=f"fedtest-conformance-{suffix}", binding=f"fedtest-conformance-{suffix}")


def labels(run_id: str) -> dict[str, str]:
    """On everything the tester creates: the run's leak check and a janitor find them by these."""
    out = {COMPONENT_LABEL: CONFORMANCE, "app.kubernetes.io/managed-by": "fedtest"}
    if run_id:
        out[RUN_LABEL] = run_id
    return out


def namespace(names: Names, run_id: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": builders.meta(names.namespace, labels(run_id))}


def service_account(run_id: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": builders.meta(SERVICE_ACCOUNT, labels(run_id)),
            "automountServiceAccountToken": True}


def cluster_role_binding(names: Names, run_id: str) -> dict[str, Any]:
    """cluster-admin for the ServiceAccount: the suite creates namespaces, CRDs, webhooks, node objects."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": builders.meta(names.binding, labels(run_id)),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": names.namespace}],
    }


@dataclass(frozen=True)
class PodPlan:
    """What the pod runs: images and the ginkgo selection."""

    image: str
    results_image: str
    focus: str
    skip: str
    parallel: int
    dry_run: bool
    pull_policy: str
    active_deadline_seconds: int
    run_id: str = ""


def ginkgo_env(plan: PodPlan) -> dict[str, str]:
    """go-runner's settings: it turns these into `ginkgo --focus --skip ... e2e.test -- ...`."""
    extra = []
    if plan.parallel > 1:
        extra.append(f"--procs={plan.parallel}")  # ginkgo runs [Serial] specs alone, at the end
    if plan.dry_run:
        extra.append("-v")  # the dry run's log then names every spec it would run
    env = {
        "E2E_FOCUS": plan.focus, "E2E_SKIP": plan.skip, "E2E_PROVIDER": "skeleton", "E2E_VERBOSITY": "4",
        "E2E_USE_GO_RUNNER": "true", "RESULTS_DIR": RESULTS_DIR,
    }
    if extra:
        env["E2E_EXTRA_GINKGO_ARGS"] = " ".join(extra)
    if plan.dry_run:
        env["E2E_DRYRUN"] = "true"
    return env


def pod(plan: PodPlan) -> dict[str, Any]:
    """The conformance pod (pure: no API calls)."""
    runner = builders.container(CONFORMANCE, plan.image, pull_policy=plan.pull_policy, env=ginkgo_env(plan),
                                mounts={"results": RESULTS_DIR}, read_only_root=False)
    runner["resources"] = {"requests": {"cpu": "100m", "memory": "256Mi"}}  # e2e.test needs more than 128Mi
    carrier = builders.container(RESULTS, plan.results_image, ["sh", "-c", RESULTS_SCRIPT],
                                 pull_policy=plan.pull_policy, env={"RESULTS_DIR": RESULTS_DIR},
                                 mounts={"results": RESULTS_DIR})
    spec = builders.pod_spec([runner, carrier], volumes=[{"name": "results", "emptyDir": {}}],
                             active_deadline_seconds=plan.active_deadline_seconds)
    spec.update(serviceAccountName=SERVICE_ACCOUNT, automountServiceAccountToken=True,
                tolerations=[{"operator": "Exists"}])  # also on clusters whose only nodes are tainted
    return builders.pod(POD, spec, labels=labels(plan.run_id))
