"""Job descriptions and the runner pod built from one (pure, apart from the cache's claim).

The pod has an init container that checks the source out (git, or offline from a ConfigMap), a
cache volume shared by the jobs of one repository, the job's steps in the main container, and an
artifacts folder. A second container, the collector, keeps the artifacts folder alive after the steps
end, until the harness has copied it out with exec (artifacts.py) and released it; the collector
always exits 0, so the pod's phase is the steps' verdict. The log carries only what the steps print.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from e2e.framework import builders

NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")
JOB_LABEL = "fedtest.io/runner-job"
CACHE_LABEL = "fedtest.io/cache"
STEP_MARK = "::fedtest-step "
TERMINATION_LOG = "/dev/termination-log"
MOUNTS = {"workspace": "/workspace", "cache": "/cache", "artifacts": "/artifacts", "handoff": "/handoff"}
COLLECTOR = "artifacts"  # the container that keeps the artifacts until they are copied out
HOLD_SECONDS = 600  # how long the collector waits for the harness after the steps ended

STEPS_SCRIPT = r"""set -u
child=0
ended() {
  rc=$?
  touch "$HANDOFF/steps-ended"
  exit $rc
}
trap ended EXIT
trap 'kill -TERM $child 2>/dev/null; exit 143' TERM INT
cd "$WORKSPACE/src"
i=0
while [ "$i" -lt "$STEP_COUNT" ]; do
  eval "name=\$STEP_NAME_$i; run=\$STEP_RUN_$i"
  echo "::fedtest-step $i $name"
  sh -ec "$run" &
  child=$!
  wait $child
  rc=$?
  if [ $rc -ne 0 ]; then
    printf 'step=%s exit=%s' "$name" "$rc" > "$TERMINATION_LOG"
    exit $rc
  fi
  i=$((i+1))
done
"""

# Waits for the harness's release (the `collected` marker, looked for every second), at most HOLD_SECONDS
# after the steps ended; TERM (the pod deleted) ends it at once, through the background sleep. The release
# only writes the marker: a release that signalled the container's first process would be killed with it
# (exit 137) when that process ends its container's PID namespace under the exec session.
COLLECTOR_SCRIPT = r"""set -u
trap 'exit 0' TERM
waited=0
while [ ! -e "$HANDOFF/collected" ]; do
  if [ -e "$HANDOFF/steps-ended" ]; then
    waited=$((waited+1))
    [ "$waited" -gt "$HOLD_SECONDS" ] && exit 0
  fi
  sleep 1 >/dev/null 2>&1 &
  wait $!
done
"""

OFFLINE_CHECKOUT = r"""set -eu
mkdir -p "$WORKSPACE/src"
cd "$SOURCE"
find -L . ! -path './..*' -type f | while IFS= read -r f; do
  mkdir -p "$WORKSPACE/src/$(dirname "$f")"
  cat "$f" > "$WORKSPACE/src/$f"
done
"""

GIT_CHECKOUT = r"""set -eu
git init -q "$WORKSPACE/src"
cd "$WORKSPACE/src"
git remote add origin "$REPOSITORY"
git fetch -q --depth 1 origin "$REVISION" 2>/dev/null || git fetch -q origin "$REVISION"  # dumb HTTP: no shallow
git checkout -q FETCH_HEAD
"""


class JobSpecError(ValueError):
    """A job description the launcher cannot turn into a pod; the message says what to change."""


@dataclass(frozen=True)
class Step:
    name: str
    run: str


@dataclass
class JobDescription:
    """A CI job: where its source comes from, its steps, and its limits."""

    name: str
    repository: str
    steps: list[Step]
    revision: str = "HEAD"
    source_files: dict[str, str] | None = None  # set: offline checkout from a ConfigMap of these files
    deadline_seconds: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    config_env: dict[str, tuple[str, str]] = field(default_factory=dict)  # VAR -> (ConfigMap, key)

    def validate(self) -> None:
        if not NAME_RE.match(self.name):
            raise JobSpecError(f"job name {self.name!r} is not a DNS label of at most 40 characters: "
                               "use lowercase letters, digits and '-'")
        if not self.steps:
            raise JobSpecError(f"job {self.name!r} has no steps: give at least one Step(name, run)")
        for step in self.steps:
            if not NAME_RE.match(step.name):
                raise JobSpecError(f"step name {step.name!r} of job {self.name!r} is not a DNS label: "
                                   "use lowercase letters, digits and '-'")

    @property
    def cache_key(self) -> str:
        return hashlib.sha256(self.repository.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Placement:
    """Where runner pods may run: a node selector and the tolerations for the pool's taints."""

    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: list[dict[str, Any]] = field(default_factory=list)


ATTEMPT_LABEL = "fedtest.io/attempt"


@dataclass(frozen=True)
class CachePlan:
    """Which volume holds the repository cache, and why (recorded with every result)."""

    volume: dict[str, Any]
    kind: str
    reason: str


def default_storage_class(api: client.ApiClient) -> tuple[str | None, str]:
    """The default StorageClass's name (or None) and a sentence saying how that was found."""
    try:
        classes = client.StorageV1Api(api).list_storage_class(_request_timeout=(5, 15)).items
    except ApiException as err:
        return None, f"StorageClasses could not be listed (HTTP {err.status})"
    for sc in classes:
        annotations = sc.metadata.annotations or {}
        if annotations.get("storageclass.kubernetes.io/is-default-class") == "true":
            return sc.metadata.name, f"default StorageClass {sc.metadata.name!r}"
    return None, f"no default StorageClass among {len(classes)} StorageClass(es)"


def plan_cache(api: client.ApiClient, namespace: str, job: JobDescription, claims: bool = True) -> CachePlan:
    """A PVC per repository when the cluster has a default StorageClass, else an emptyDir.
    claims=False: always an emptyDir (a claim's volume may pin the pod to a node it must leave)."""
    if not claims:
        return CachePlan({"name": "cache", "emptyDir": {}}, "emptyDir", "emptyDir: claims turned off")
    storage_class, why = default_storage_class(api)
    if storage_class is None:
        return CachePlan({"name": "cache", "emptyDir": {}}, "emptyDir", f"emptyDir: {why}")
    claim = f"runner-cache-{job.cache_key}"
    try:
        builders.create(api, namespace, builders.pvc(claim, labels={CACHE_LABEL: job.cache_key}))
    except ApiException as err:
        if err.status != 409:  # 409: another job of the repository made it first
            raise
    return CachePlan({"name": "cache", "persistentVolumeClaim": {"claimName": claim}}, "pvc",
                     f"PersistentVolumeClaim {claim}: {why}")


def runner_pod_name(job_name: str, attempt: int = 1) -> str:
    """runner-JOB for the first attempt, runner-JOB-rN for a retry (the evicted pod may still exist)."""
    return f"runner-{job_name}" if attempt <= 1 else f"runner-{job_name}-r{attempt}"


def runner_pod(job: JobDescription, images: builders.Images, cache: CachePlan,
               placement: Placement | None = None, attempt: int = 1) -> dict[str, Any]:
    """The pod for a job (pure: no API calls)."""
    job.validate()
    mounts = dict(MOUNTS)
    env = {"WORKSPACE": MOUNTS["workspace"], "CACHE": MOUNTS["cache"], "ARTIFACTS": MOUNTS["artifacts"],
           "HANDOFF": MOUNTS["handoff"], "HOME": MOUNTS["workspace"]}
    volumes: list[dict[str, Any]] = [{"name": "workspace", "emptyDir": {}}, {"name": "artifacts", "emptyDir": {}},
                                     {"name": "handoff", "emptyDir": {}}, cache.volume]
    if job.source_files is not None:
        volumes.append({"name": "source", "configMap": {"name": source_config_map_name(job.name), "items": [
            {"key": config_key(path), "path": path} for path in sorted(job.source_files)]}})
        checkout = builders.container("checkout", images.busybox, ["sh", "-c", OFFLINE_CHECKOUT],
                                      pull_policy=images.pull_policy, env={**env, "SOURCE": "/source"},
                                      mounts={"workspace": MOUNTS["workspace"], "source": "/source"})
    else:
        checkout = builders.container("checkout", images.git, ["sh", "-c", GIT_CHECKOUT],
                                      pull_policy=images.pull_policy,
                                      env={**env, "REPOSITORY": job.repository, "REVISION": job.revision},
                                      mounts={"workspace": MOUNTS["workspace"]})
    step_env = {"STEP_COUNT": str(len(job.steps)), "TERMINATION_LOG": TERMINATION_LOG,
                "FEDTEST_ATTEMPT": str(attempt)}
    for i, step in enumerate(job.steps):
        step_env[f"STEP_NAME_{i}"] = step.name
        step_env[f"STEP_RUN_{i}"] = step.run
    steps = builders.container("steps", images.busybox, ["sh", "-c", STEPS_SCRIPT],
                               pull_policy=images.pull_policy, env={**job.env, **env, **step_env},
                               mounts=mounts)
    steps["env"].extend({"name": var, "valueFrom": {"configMapKeyRef": {"name": cm, "key": key}}}
                        for var, (cm, key) in sorted(job.config_env.items()))
    labels = {JOB_LABEL: job.name, CACHE_LABEL: job.cache_key, ATTEMPT_LABEL: str(attempt)}
    affinity = None
    if cache.kind == "pvc":  # a ReadWriteOnce claim: keep concurrent jobs of a repository on one node
        affinity = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
            "labelSelector": {"matchLabels": {CACHE_LABEL: job.cache_key}},
            "topologyKey": "kubernetes.io/hostname"}]}}
    collector = builders.container(COLLECTOR, images.busybox, ["sh", "-c", COLLECTOR_SCRIPT],
                                   pull_policy=images.pull_policy,
                                   env={"ARTIFACTS": MOUNTS["artifacts"], "HANDOFF": MOUNTS["handoff"],
                                        "HOLD_SECONDS": str(HOLD_SECONDS)},
                                   mounts={"artifacts": MOUNTS["artifacts"], "handoff": MOUNTS["handoff"]})
    spec = builders.pod_spec([steps, collector], init_containers=[checkout], volumes=volumes,
                             active_deadline_seconds=job.deadline_seconds, affinity=affinity)
    if placement is not None and placement.node_selector:
        spec["nodeSelector"] = dict(placement.node_selector)
    if placement is not None and placement.tolerations:
        spec["tolerations"] = [dict(t) for t in placement.tolerations]
    return builders.pod(runner_pod_name(job.name, attempt), spec, labels=labels,
                        annotations={"fedtest.io/cache": cache.reason})


def source_config_map_name(job_name: str) -> str:
    return f"runner-{job_name}-source"


def config_key(path: str) -> str:
    """ConfigMap keys allow [-._a-zA-Z0-9]; the pod maps each key back to its path."""
    digest = hashlib.sha256(path.encode()).hexdigest()[:6]
    return re.sub(r"[^-._a-zA-Z0-9]", "_", path.strip("/")) + "-" + digest
