"""What the conformance tester creates in a cluster: namespace, ServiceAccount, cluster-admin binding, pod.

The pod follows the shape hydrophone and Sonobuoy use for the upstream image: the conformance image's
own entrypoint (go-runner) runs ginkgo over e2e.test, configured by E2E_* variables, and writes
e2e.log and junit_01.xml into RESULTS_DIR, a shared emptyDir; when e2e.test ends it writes a `done`
file there. The results leave the pod through the log of a second container (busybox): it waits for
`done`, prints the results as a tar.gz in base64 between two marker lines and exits. So the pod ends
by itself (Succeeded or Failed), and reading results needs nothing but the pod log: no exec
(no websocket/SPDY upgrade through proxies, no pods/exec permission), the pattern the runner pods
use too; the conformance image keeps its own entrypoint, untouched.

e2e.test runs in-cluster. go-runner passes `--kubeconfig=$KUBECONFIG`, and without one e2e.test's own
clients use the in-cluster config but its `--host` stays empty: the specs that need the API server's
URL fail ("--host variable must be set"), and `--host` alone sends kubectl to that URL with no
credentials. So a ConfigMap (mounted read-only) carries a kubeconfig for the pod's ServiceAccount
(token file and CA of the projected volume, server = the `kubernetes` Service's in-cluster URL), and
E2E_EXTRA_ARGS passes the same URL as `--host`. With --image-registry the ConfigMap also carries the
repository list e2e.test reads from KUBE_TEST_REPO_LIST (test/utils/image/manifest.go), so the suite's
own images (agnhost, busybox, httpd, ...) come from the mirror too.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

import yaml

from e2e.framework import builders
from e2e.framework.config import mirrored
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
CONFIG = "fedtest-conformance"  # the ConfigMap: kubeconfig, and the repository list with a mirror
CONFIG_DIR = "/etc/fedtest-conformance"
KUBECONFIG_KEY = "kubeconfig"
REPO_LIST_KEY = "repo-list.yaml"
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"

# e2e.test v1.28's registries (test/utils/image/manifest.go, RegistryList and initReg): the yaml key and
# the default. Keys missing here keep their default, and so do these three on purpose: the invalid one
# must stay unpullable, the two authenticated ones are about pulling with credentials from that registry.
KEPT_REGISTRIES = ("invalidRegistry", "gcAuthenticatedRegistry", "privateRegistry")
UPSTREAM_REGISTRIES = {
    "promoterE2eRegistry": "registry.k8s.io/e2e-test-images",
    "buildImageRegistry": "registry.k8s.io/build-image",
    "gcEtcdRegistry": "registry.k8s.io",
    "gcRegistry": "registry.k8s.io",
    "sigStorageRegistry": "registry.k8s.io/sig-storage",
    "dockerLibraryRegistry": "docker.io/library",
    "cloudProviderGcpRegistry": "registry.k8s.io/cloud-provider-gcp",
    "microsoftRegistry": "mcr.microsoft.com",
}

# Named focus regexes for --conformance-preset. `smoke`: 27 specs (API machinery, and pods that read
# ConfigMaps, Secrets and the downward API from their environment) that need no image but
# e2e-test-images/busybox:1.29-4 besides the conformance image; a few minutes per cluster.
FOCUS_PRESETS = {
    "conformance": r"\[Conformance\]",
    "smoke": (r"\[sig-api-machinery\] (CustomResourceDefinition resources|Discovery|FieldValidation|Watchers"
              r"|server version) .*\[Conformance\]"
              r"|\[sig-node\] (ConfigMap|Downward API|Secrets) .*(env vars|environment).*\[Conformance\]"),
}

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


def preset_focus(name: str) -> str:
    """The focus regex of a --conformance-preset."""
    if name not in FOCUS_PRESETS:
        raise ConformanceError(f"--conformance-preset {name} is not a preset: pass one of {', '.join(FOCUS_PRESETS)}")
    return FOCUS_PRESETS[name]


def repo_list(image_registry: str | None) -> dict[str, str] | None:
    """e2e.test's repository list with every public registry through the mirror (None without one).

    The same rule as every other image: registry.k8s.io/e2e-test-images/agnhost:2.45 ->
    MIRROR/e2e-test-images/agnhost:2.45, docker.io/library/nginx -> MIRROR/library/nginx.
    """
    if not image_registry:
        return None
    mapped = {}
    for key, registry in UPSTREAM_REGISTRIES.items():
        mapped[key] = mirrored(f"{registry}/image:tag", image_registry).removesuffix("/image:tag")
    return mapped


def in_cluster_kubeconfig(api_url: str) -> dict[str, Any]:
    """The pod's ServiceAccount as a kubeconfig; the cluster is named like the context, so e2e.test v1.28,
    which looks the server up under the context's name, finds it too."""
    name = "in-cluster"
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": name,
        "clusters": [{"name": name, "cluster": {"server": api_url,
                                                "certificate-authority": f"{SERVICE_ACCOUNT_DIR}/ca.crt"}}],
        "users": [{"name": name, "user": {"tokenFile": f"{SERVICE_ACCOUNT_DIR}/token"}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
    }


def service_url(cluster_ip: str, port: int) -> str:
    """https://IP:PORT of the `kubernetes` Service, as rest.InClusterConfig builds it (IPv6 bracketed)."""
    host = f"[{cluster_ip}]" if ":" in cluster_ip else cluster_ip
    return f"https://{host}:{port}"


@dataclass(frozen=True)
class PodPlan:
    """What the pod runs: images, the ginkgo selection and how e2e.test reaches the API server."""

    image: str
    results_image: str
    focus: str
    skip: str
    parallel: int
    dry_run: bool
    pull_policy: str
    active_deadline_seconds: int
    run_id: str = ""
    api_url: str = "https://kubernetes.default.svc:443"
    repo_list: dict[str, str] | None = None


def config_map(plan: PodPlan, run_id: str) -> dict[str, Any]:
    """The kubeconfig e2e.test and its kubectl use, and the repository list when there is a mirror."""
    data = {KUBECONFIG_KEY: yaml.safe_dump(in_cluster_kubeconfig(plan.api_url), sort_keys=False)}
    if plan.repo_list:
        data[REPO_LIST_KEY] = yaml.safe_dump(plan.repo_list, sort_keys=True)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": builders.meta(CONFIG, labels(run_id)), "data": data}


def ginkgo_env(plan: PodPlan) -> dict[str, str]:
    """What go-runner reads (test/conformance/image/go-runner): it runs
    `ginkgo --focus --skip [--dryRun] $E2E_EXTRA_GINKGO_ARGS e2e.test -- --provider --kubeconfig ... $E2E_EXTRA_ARGS`.

    It reads no E2E_VERBOSITY and no E2E_USE_GO_RUNNER. ginkgo -v names each spec as it ends (as
    hydrophone's verbose mode does); a dry run then names every spec it would run. Ginkgo refuses to
    dry-run in parallel ("Ginkgo only performs -dryRun in serial mode"), so a dry run gets no --procs.
    """
    extra = []
    if plan.parallel > 1 and not plan.dry_run:
        extra.append(f"--procs={plan.parallel}")  # ginkgo runs [Serial] specs alone, at the end
    extra.append("-v")  # without it ginkgo's output reaches the log only at the end: no progress
    env = {
        "E2E_FOCUS": plan.focus, "E2E_SKIP": plan.skip, "E2E_PROVIDER": "skeleton", "RESULTS_DIR": RESULTS_DIR,
        "KUBECONFIG": f"{CONFIG_DIR}/{KUBECONFIG_KEY}", "E2E_EXTRA_ARGS": f"--host={plan.api_url}",
    }
    if extra:
        env["E2E_EXTRA_GINKGO_ARGS"] = " ".join(extra)
    if plan.dry_run:
        env["E2E_DRYRUN"] = "true"
    if plan.repo_list:
        env["KUBE_TEST_REPO_LIST"] = f"{CONFIG_DIR}/{REPO_LIST_KEY}"
    return env  # builders.container keeps the values from the kubelet's $(VAR)/$$ expansion


def pod(plan: PodPlan) -> dict[str, Any]:
    """The conformance pod (pure: no API calls)."""
    runner = builders.container(CONFORMANCE, plan.image, pull_policy=plan.pull_policy, env=ginkgo_env(plan),
                                mounts={"results": RESULTS_DIR}, read_only_root=False)
    runner["volumeMounts"].append({"name": "config", "mountPath": CONFIG_DIR, "readOnly": True})
    runner["resources"] = {"requests": {"cpu": "100m", "memory": "256Mi"}}  # e2e.test needs more than 128Mi
    carrier = builders.container(RESULTS, plan.results_image, ["sh", "-c", RESULTS_SCRIPT],
                                 pull_policy=plan.pull_policy, env={"RESULTS_DIR": RESULTS_DIR},
                                 mounts={"results": RESULTS_DIR})
    spec = builders.pod_spec([runner, carrier], volumes=[{"name": "results", "emptyDir": {}},
                                                         {"name": "config", "configMap": {"name": CONFIG}}],
                             active_deadline_seconds=plan.active_deadline_seconds)
    spec.update(serviceAccountName=SERVICE_ACCOUNT, automountServiceAccountToken=True,
                tolerations=[{"operator": "Exists"}])  # also on clusters whose only nodes are tainted
    return builders.pod(POD, spec, labels=labels(plan.run_id))
