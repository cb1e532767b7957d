"""The runner-pod launcher: one CI job -> one pod, followed to the end, then destroyed.

The pod has an init container that checks the source out (git, or offline from a ConfigMap), a
cache volume shared by the jobs of one repository, the job's steps in the main container, and an
artifacts folder. Artifacts leave the pod through its log (a tar block after the steps), so nothing
but the pod log is needed to collect them, even under the restricted Pod Security profile.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import re
import tarfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.rest import ApiException

from e2e.framework import builders, waits

NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")
JOB_LABEL = "fedtest.io/runner-job"
CACHE_LABEL = "fedtest.io/cache"
ARTIFACTS_BEGIN = "::fedtest-artifacts-begin"
ARTIFACTS_END = "::fedtest-artifacts-end"
STEP_MARK = "::fedtest-step "
TERMINATION_LOG = "/dev/termination-log"
MOUNTS = {"workspace": "/workspace", "cache": "/cache", "artifacts": "/artifacts"}

STEPS_SCRIPT = r"""set -u
child=0
emit_artifacts() {
  rc=$?
  echo '::fedtest-artifacts-begin'
  tar -C "$ARTIFACTS" -cf - . | gzip -c | base64
  echo '::fedtest-artifacts-end'
  exit $rc
}
trap emit_artifacts EXIT
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
git fetch -q --depth 1 origin "$REVISION"
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


def plan_cache(api: client.ApiClient, namespace: str, job: JobDescription) -> CachePlan:
    """A PVC per repository when the cluster has a default StorageClass, else an emptyDir."""
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


def runner_pod(job: JobDescription, images: builders.Images, cache: CachePlan) -> dict[str, Any]:
    """The pod for a job (pure: no API calls)."""
    job.validate()
    mounts = dict(MOUNTS)
    env = {"WORKSPACE": MOUNTS["workspace"], "CACHE": MOUNTS["cache"], "ARTIFACTS": MOUNTS["artifacts"],
           "HOME": MOUNTS["workspace"]}
    volumes: list[dict[str, Any]] = [{"name": "workspace", "emptyDir": {}},
                                     {"name": "artifacts", "emptyDir": {}}, cache.volume]
    if job.source_files is not None:
        volumes.append({"name": "source", "configMap": {"name": source_config_map_name(job.name), "items": [
            {"key": _config_key(path), "path": path} for path in sorted(job.source_files)]}})
        checkout = builders.container("checkout", images.busybox, ["sh", "-c", OFFLINE_CHECKOUT],
                                      pull_policy=images.pull_policy, env={**env, "SOURCE": "/source"},
                                      mounts={"workspace": MOUNTS["workspace"], "source": "/source"})
    else:
        checkout = builders.container("checkout", images.git, ["sh", "-c", GIT_CHECKOUT],
                                      pull_policy=images.pull_policy,
                                      env={**env, "REPOSITORY": job.repository, "REVISION": job.revision},
                                      mounts={"workspace": MOUNTS["workspace"]})
    step_env = {"STEP_COUNT": str(len(job.steps)), "TERMINATION_LOG": TERMINATION_LOG}
    for i, step in enumerate(job.steps):
        step_env[f"STEP_NAME_{i}"] = step.name
        step_env[f"STEP_RUN_{i}"] = step.run
    steps = builders.container("steps", images.busybox, ["sh", "-c", STEPS_SCRIPT],
                               pull_policy=images.pull_policy, env={**job.env, **env, **step_env},
                               mounts=mounts)
    labels = {JOB_LABEL: job.name, CACHE_LABEL: job.cache_key}
    affinity = None
    if cache.kind == "pvc":  # a ReadWriteOnce claim: keep concurrent jobs of a repository on one node
        affinity = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
            "labelSelector": {"matchLabels": {CACHE_LABEL: job.cache_key}},
            "topologyKey": "kubernetes.io/hostname"}]}}
    spec = builders.pod_spec([steps], init_containers=[checkout], volumes=volumes,
                             active_deadline_seconds=job.deadline_seconds, affinity=affinity)
    return builders.pod(f"runner-{job.name}", spec, labels=labels,
                        annotations={"fedtest.io/cache": cache.reason})


def source_config_map_name(job_name: str) -> str:
    return f"runner-{job_name}-source"


def _config_key(path: str) -> str:
    """ConfigMap keys allow [-._a-zA-Z0-9]; the pod maps each key back to its path."""
    digest = hashlib.sha256(path.encode()).hexdigest()[:6]
    return re.sub(r"[^-._a-zA-Z0-9]", "_", path.strip("/")) + "-" + digest


@dataclass
class JobResult:
    """What happened to one runner pod."""

    name: str
    pod: str
    phase: str  # Succeeded, Failed or Cancelled
    reason: str = ""
    exit_code: int | None = None
    failed_step: str | None = None
    steps_started: list[str] = field(default_factory=list)
    log: str = ""
    artifacts: list[Path] = field(default_factory=list)
    phases: list[tuple[str, float]] = field(default_factory=list)  # (phase, seconds since create)
    startup_seconds: float | None = None
    cache: str = ""


class RunningJob:
    """A launched job: follow() it to the end, or cancel() it from another thread."""

    def __init__(self, launcher: Launcher, job: JobDescription, pod_name: str, cache: CachePlan) -> None:
        self.launcher = launcher
        self.job = job
        self.pod_name = pod_name
        self.cache = cache
        self.created = time.monotonic()
        self.cancelled = threading.Event()
        self._log_lines: list[str] = []
        self._log_thread: threading.Thread | None = None

    def cancel(self) -> None:
        """Stop the job now: the pod is deleted without grace; follow() then reports Cancelled."""
        self.cancelled.set()
        with contextlib.suppress(ApiException):
            self.launcher.core.delete_namespaced_pod(self.pod_name, self.launcher.namespace,
                                                     grace_period_seconds=0)

    def follow(self, timeout: float) -> JobResult:
        """Watch the pod to its end (phase changes, streamed log), collect, then destroy it."""
        result = JobResult(self.job.name, self.pod_name, phase="Running", cache=self.cache.reason)
        try:
            final = waits.watch_until(
                waits.Target(self.launcher.core.list_namespaced_pod, self.launcher.namespace, "Pod",
                             name=self.pod_name),
                lambda objs: self._observe(objs, result), what=f"runner pod {self.pod_name} to finish",
                timeout=timeout, events_api=self.launcher.core)
            self._finish(final, result)
        except BaseException:
            # keep what the pod said before it is destroyed: a timed-out job's log is evidence
            self.launcher.store(self.job, "\n".join(self._log_lines), None)
            raise
        finally:
            self.launcher.destroy(self.job, self.pod_name)
        return result

    def _observe(self, objects: dict[str, Any], result: JobResult) -> client.V1Pod | str | None:
        pod = objects.get(self.pod_name)
        if pod is None:
            return "gone" if result.phases or self.cancelled.is_set() else None
        phase = pod.status.phase if pod.status else None
        elapsed = time.monotonic() - self.created
        if phase and (not result.phases or result.phases[-1][0] != phase):
            result.phases.append((phase, round(elapsed, 3)))
        if result.startup_seconds is None and _main_started(pod):
            result.startup_seconds = round(elapsed, 3)
            self._start_log_stream()
        if self.cancelled.is_set() and pod.metadata.deletion_timestamp:
            return "gone"
        return pod if phase in ("Succeeded", "Failed") else None

    def _start_log_stream(self) -> None:
        def stream() -> None:
            try:
                resp = self.launcher.core.read_namespaced_pod_log(
                    self.pod_name, self.launcher.namespace, container="steps", follow=True,
                    _preload_content=False, _request_timeout=(10, 3600))
                buffer = b""
                for chunk in resp.stream(4096):
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    self._log_lines.extend(x.decode("utf-8", "replace") for x in lines)
                if buffer:
                    self._log_lines.append(buffer.decode("utf-8", "replace"))
            except (ApiException, urllib3.exceptions.HTTPError) as err:
                self._log_lines.append(f"(log stream ended: {err})")

        self._log_thread = threading.Thread(target=stream, name=f"log-{self.pod_name}", daemon=True)
        self._log_thread.start()

    def _finish(self, final: client.V1Pod | str, result: JobResult) -> None:
        if isinstance(final, str):
            result.phase = "Cancelled" if self.cancelled.is_set() else "Failed"
            result.reason = "Cancelled" if self.cancelled.is_set() else "pod deleted by someone else"
            return
        result.phase = final.status.phase
        main = _terminated(final.status.container_statuses, "steps")
        checkout = _terminated(final.status.init_container_statuses, "checkout")
        if self._log_thread is None and main is not None:  # it ended between two watch events
            self._start_log_stream()
        if self._log_thread is not None:
            self._log_thread.join(60)
        if main is not None:
            result.exit_code = main.exit_code
            result.reason = final.status.reason or main.reason or ""
            step = re.search(r"step=(\S+) exit=", main.message or "")
            result.failed_step = step.group(1) if step else None
        elif checkout is not None and checkout.exit_code != 0:
            result.exit_code, result.failed_step = checkout.exit_code, "checkout"
            result.reason = final.status.reason or checkout.reason or ""
        else:
            result.reason = final.status.reason or ""
        log, archive = split_log(self._log_lines)
        result.log = log
        result.steps_started = [ln[len(STEP_MARK):].split(" ", 1)[1] for ln in log.splitlines()
                                if ln.startswith(STEP_MARK)]
        if result.failed_step is None and result.phase == "Failed" and result.steps_started:
            result.failed_step = result.steps_started[-1]
        result.artifacts = self.launcher.store(self.job, log, archive)


def _main_started(pod: client.V1Pod) -> bool:
    for cs in (pod.status.container_statuses if pod.status else None) or []:
        if cs.name == "steps" and cs.state and (cs.state.running or cs.state.terminated):
            return True
    return False


def _terminated(statuses: list[Any] | None, name: str) -> Any:
    for cs in statuses or []:
        if cs.name == name and cs.state and cs.state.terminated:
            return cs.state.terminated
    return None


def split_log(lines: list[str]) -> tuple[str, bytes | None]:
    """The readable log, and the artifacts archive carried between the markers (None if absent)."""
    if ARTIFACTS_BEGIN not in lines or ARTIFACTS_END not in lines:
        return "\n".join(lines), None
    begin, end = lines.index(ARTIFACTS_BEGIN), lines.index(ARTIFACTS_END)
    archive = base64.b64decode("".join(lines[begin + 1:end]))
    return "\n".join(lines[:begin] + lines[end + 1:]), archive


class Launcher:
    """Launches runner pods in one namespace; results (logs, artifacts) go under `artifacts_dir`."""

    def __init__(self, api: client.ApiClient, namespace: str, images: builders.Images,
                 artifacts_dir: Path) -> None:
        self.api = api
        self.namespace = namespace
        self.images = images
        self.artifacts_dir = artifacts_dir
        self.core = client.CoreV1Api(api)

    def start(self, job: JobDescription) -> RunningJob:
        job.validate()
        cache = plan_cache(self.api, self.namespace, job)
        manifest = runner_pod(job, self.images, cache)
        if job.source_files is not None:
            data = {_config_key(p): text for p, text in job.source_files.items()}
            builders.create(self.api, self.namespace, builders.config_map(
                source_config_map_name(job.name), data, labels={JOB_LABEL: job.name}))
        running = RunningJob(self, job, manifest["metadata"]["name"], cache)
        try:
            builders.create(self.api, self.namespace, manifest)
        except BaseException:
            self.destroy(job, running.pod_name)
            raise
        running.created = time.monotonic()
        return running

    def run(self, job: JobDescription, timeout: float) -> JobResult:
        return self.start(job).follow(timeout)

    def store(self, job: JobDescription, log: str, archive: bytes | None) -> list[Path]:
        """Write the job's log and unpack its artifacts; returns the artifact files."""
        dest = self.artifacts_dir / job.name
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "steps.log").write_text(log, encoding="utf-8")
        if not archive:
            return []
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            tar.extractall(dest / "artifacts", filter="data")
        return sorted(p for p in (dest / "artifacts").rglob("*") if p.is_file())

    def destroy(self, job: JobDescription, pod_name: str, timeout: float = 60) -> None:
        """Delete the pod and its source ConfigMap and wait until the pod is gone (the cache stays)."""
        with contextlib.suppress(ApiException):
            self.core.delete_namespaced_pod(pod_name, self.namespace, grace_period_seconds=0)
        with contextlib.suppress(ApiException):
            self.core.delete_namespaced_config_map(source_config_map_name(job.name), self.namespace)
        waits.gone(self.core.list_namespaced_pod, self.namespace, pod_name, "Pod", timeout,
                   events_api=self.core)
