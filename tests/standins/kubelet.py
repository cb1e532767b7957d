"""A fake kubelet for the stand-in API: it runs pods' commands on this machine and reports through the API.

kmock has no controllers, so nothing ever changes a pod's phase. This thread watches pods, moves them
Pending -> Running -> Succeeded/Failed by patching /status, and, for containers with a command, really
runs the command in temporary folders that stand in for the pod's volumes (emptyDir per pod, a folder per
PersistentVolumeClaim, ConfigMap items written out). Env values that point into a mount (or at the
termination-message path) are rewritten to those folders. As the kubelet does, env values and then command
and args are expanded first (`expand`: `$$` -> `$`, `$(VAR)` of a defined variable -> its value), and the
commands find busybox's applets first on PATH (`sh`, `timeout`, `tar`, ... as in the busybox image the
suite runs), so a script behaves here as it does in the pod (`sh -ec`: a failed command ends the step).
The pod's containers run side by side; each one's output is served as its log (?container=NAME,
follow=true streams it), its exit code and termination message land in its status as it ends, the pod
ends when all have (Succeeded only if all exited 0), activeDeadlineSeconds ends the pod with reason
DeadlineExceeded, and deleting the pod kills its processes. While a container runs, pods/exec into it
(tests/standins/execstream.py) runs the command here with the container's env.

Before a container starts it passes what a real node checks (tests/standins/admission.py): the pod
must fit a node (else the scheduler's Unschedulable condition), the image reference must parse (else
InvalidImageName), the image must exist (images in `unpullable` give ErrImagePull, then
ImagePullBackOff after `pull_backoff` seconds), and env from ConfigMaps must resolve (else
CreateContainerConfigError). A pod stopped there stays Pending with the kubelet's status shapes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterator
from pathlib import Path
from typing import Any

from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from tests.standins import admission
from tests.standins.execstream import ExecEndpoint, Process
from tests.standins.kube import KubeStandIn


def expand(text: str, env: dict[str, str]) -> str:
    """The kubelet's expansion of a container's env values, command and args (a port of
    k8s.io/kubernetes third_party/forked/golang/expansion.Expand): `$$` is `$`, `$(VAR)` is VAR's value
    when VAR is defined and stays as written otherwise, any other `$` is kept."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] != "$" or i + 1 == len(text):
            out.append(text[i])
            i += 1
            continue
        follower = text[i + 1]
        if follower == "$":
            out.append("$")
            i += 2
        elif follower == "(":
            close = text.find(")", i + 2)
            if close < 0:  # an unfinished reference: kept, and scanning goes on after the "$("
                out.append("$(")
                i += 2
                continue
            name = text[i + 2:close]
            out.append(env.get(name, f"$({name})"))
            i = close + 1
        else:
            out.append("$" + follower)
            i += 2
    return "".join(out)


def container_env(c: dict[str, Any]) -> dict[str, str]:
    """The container's env as the kubelet builds it: each value expanded with the variables defined before
    it; values from ConfigMaps (valueFrom, resolved by admission.py) are taken as they are."""
    env: dict[str, str] = {}
    for item in c.get("env", []):
        value = item.get("value", "")
        env[item["name"]] = value if "valueFrom" in item else expand(value, env)
    return env


def busybox_applets(root: Path) -> str | None:
    """A folder of busybox's applets (sh, wget, timeout, ...) for the front of PATH; None without busybox."""
    busybox = shutil.which("busybox")
    if busybox is None:
        return None
    folder = root / "busybox"
    folder.mkdir(exist_ok=True)
    subprocess.run([busybox, "--install", "-s", str(folder)], check=True, capture_output=True)
    return str(folder)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status(c: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    return {"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": "running" in state,
            "restartCount": 0, "started": "running" in state, "state": state}


class PodLog:
    """Output of one container, readable while it grows (for follow=true)."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.done = threading.Event()

    async def stream(self) -> AsyncIterator[bytes]:
        sent = 0
        yield b""
        while True:
            finished = self.done.is_set()
            if len(self.data) > sent:
                chunk = bytes(self.data[sent:])
                sent += len(chunk)
                yield chunk
            elif finished:
                return
            else:
                await asyncio.sleep(0.02)


class FakeKubelet:
    """`with FakeKubelet(kube, "a", api) as kubelet:`; pods created in cluster "a" then run."""

    def __init__(self, kube: KubeStandIn, cluster: str, api: client.ApiClient, *,
                 start_delay: float = 0.3, end_delay: float = 0.3, unpullable: Collection[str] = (),
                 pull_backoff: float = 0.5, exec_options: dict[str, Any] | None = None,
                 tools: Path | None = None) -> None:
        self.kube = kube
        self.emulator = kube.clusters[cluster].emulator
        self.core = client.CoreV1Api(api)
        self.start_delay = start_delay
        self.end_delay = end_delay
        self.unpullable = set(unpullable)
        self.pull_backoff = pull_backoff
        self.root = Path(tempfile.mkdtemp(prefix="fake-kubelet-"))
        # PATH in the containers: busybox's applets, as in the busybox image. `tools` (stand-ins for what
        # needs a network, e.g. a wget) replace them: busybox runs its own applets ahead of PATH, even from
        # `timeout`, so with tools the commands get the machine's POSIX sh and programs instead.
        self.path = [str(tools)] if tools is not None else [p for p in [busybox_applets(self.root)] if p]
        self.deleted: dict[str, threading.Event] = {}
        self.workers: list[threading.Thread] = []
        self._watch = watch.Watch()
        self._thread = threading.Thread(target=self._loop, name="fake-kubelet", daemon=True)
        self._lock = threading.Lock()
        self.running: dict[tuple[str, str, str], Process] = {}
        self.exec = ExecEndpoint.serve(kube, cluster, self._exec_target, **(exec_options or {}))

    def __enter__(self) -> FakeKubelet:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._watch.stop()
        for event in self.deleted.values():
            event.set()
        for worker in self.workers:
            worker.join(10)
        shutil.rmtree(self.root, ignore_errors=True)

    def _loop(self) -> None:
        try:  # the stand-in shuts down under us at the end
            for event in self._watch.stream(self.core.list_pod_for_all_namespaces, deserialize=False,
                                            _request_timeout=(5, 600)):
                raw = event["object"]
                if not raw["metadata"].get("namespace"):
                    raw["metadata"]["namespace"] = self._namespace_of(raw["metadata"]["name"])
                key = f"{raw['metadata']['namespace']}/{raw['metadata']['name']}"
                gone = event["type"] == "DELETED" or raw["metadata"].get("deletionTimestamp")
                with self._lock:
                    if gone:
                        if key in self.deleted:
                            self.deleted[key].set()
                        continue
                    if key in self.deleted or (raw.get("status") or {}).get("phase"):
                        continue
                    self.deleted[key] = threading.Event()
                worker = threading.Thread(target=self._run, args=(raw, self.deleted[key]), daemon=True)
                worker.start()  # before it is listed: __exit__ may join the list at any moment
                self.workers.append(worker)
        except Exception:  # the stand-in shut down under the watch at the end of a test
            return

    def _namespace_of(self, name: str) -> str | None:
        """kmock does not fill metadata.namespace; its object index knows it."""

        def find() -> str | None:
            for (res, ns, obj_name), _obj in list(self.emulator.objects.items()):
                if res.plural == "pods" and obj_name == name:
                    return ns
            return None

        return self.kube.call(find)

    # --- one pod ---------------------------------------------------------------------------------

    def _patch(self, raw: dict[str, Any], status: dict[str, Any]) -> None:
        with contextlib.suppress(ApiException):
            self.core.patch_namespaced_pod_status(raw["metadata"]["name"], raw["metadata"]["namespace"],
                                                  {"status": status})

    def _run(self, raw: dict[str, Any], deleted: threading.Event) -> None:
        spec = raw["spec"]
        started = time.monotonic()
        self._patch(raw, {"phase": "Pending", "startTime": _now()})
        if deleted.wait(self.start_delay):
            return
        if not self._scheduled(raw):
            return
        with self._volumes(raw) as mounts:
            init_statuses = []
            for c in spec.get("initContainers", []):
                if self._blocked(raw, c, init_statuses, deleted):
                    return
                code, _, _ = self._exec(c, mounts, deleted, started, spec, PodLog())
                init_statuses.append(_status(c, {"terminated": {"exitCode": code, "reason": "Completed"
                                                                if code == 0 else "Error"}}))
                if code != 0:
                    self._patch(raw, {"phase": "Failed", "initContainerStatuses": init_statuses})
                    return
            mains = spec["containers"]
            if any(self._blocked(raw, c, init_statuses, deleted) for c in mains):
                return
            outcome = self._run_containers(raw, mains, mounts, deleted, started, init_statuses)
        if outcome is None or deleted.wait(self.end_delay):
            return
        codes, messages = outcome
        expired = -1 in codes.values()
        statuses = []
        for c in mains:
            code = 137 if expired else codes[c["name"]]
            terminated = {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                          "startedAt": _now(), "finishedAt": _now()}
            if messages[c["name"]]:
                terminated["message"] = messages[c["name"]]
            statuses.append(_status(c, {"terminated": terminated}))
        status: dict[str, Any] = {"phase": "Succeeded" if set(codes.values()) == {0} else "Failed",
                                  "containerStatuses": statuses}
        if expired:
            status.update(phase="Failed", reason="DeadlineExceeded",
                          message="Pod was active on the node longer than the specified deadline")
        self._patch(raw, status)

    def _run_containers(self, raw: dict[str, Any], mains: list[dict[str, Any]], mounts: dict[str, Path],
                        deleted: threading.Event, started: float, init_statuses: list[dict[str, Any]],
                        ) -> tuple[dict[str, int], dict[str, str]] | None:
        """Run the pod's containers side by side, reporting each one's end while the others run;
        their exit codes and termination messages, or None when the pod was deleted."""
        logs = {c["name"]: PodLog() for c in mains}
        for c in mains:
            self._serve_log(raw, c["name"], logs[c["name"]], sole=len(mains) == 1)
        states = {c["name"]: {"running": {"startedAt": _now()}} for c in mains}
        codes: dict[str, int] = {}
        messages: dict[str, str] = {}
        lock = threading.Lock()

        def report() -> None:
            self._patch(raw, {"phase": "Running", "initContainerStatuses": init_statuses,
                              "containerStatuses": [_status(c, states[c["name"]]) for c in mains]})

        begun = threading.Semaphore(0)

        def run(c: dict[str, Any]) -> None:
            code, _, message = self._exec(c, mounts, deleted, started, raw["spec"], logs[c["name"]],
                                          (raw["metadata"]["namespace"], raw["metadata"]["name"], c["name"]),
                                          begun.release)
            with lock:
                codes[c["name"]], messages[c["name"]] = code, message
                if deleted.is_set() or code == -1 or len(codes) == len(mains):
                    return
                states[c["name"]] = {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                                    "finishedAt": _now(), **({"message": message} if message else {})}}
                report()

        threads = [threading.Thread(target=run, args=(c,), daemon=True) for c in mains]
        with lock:  # Running is reported once every container can be exec'd into, before any ends
            for thread in threads:
                thread.start()
            for _ in threads:
                begun.acquire()
            report()
        for thread in threads:
            thread.join()
        return None if deleted.is_set() else (codes, messages)

    def _scheduled(self, raw: dict[str, Any]) -> bool:
        """Bind the pod to a node that fits, or report it Unschedulable as kube-scheduler does."""
        nodes = self.core.list_node().items
        placed = admission.schedule(raw, [self.core.api_client.sanitize_for_serialization(n) for n in nodes])
        name, namespace = raw["metadata"]["name"], raw["metadata"]["namespace"]
        if placed.node is None:
            self._patch(raw, {"phase": "Pending", "conditions": [{
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": placed.unschedulable, "lastTransitionTime": _now()}]})
            return False
        with contextlib.suppress(ApiException):
            self.core.patch_namespaced_pod(name, namespace, {"spec": {"nodeName": placed.node}})
        raw["spec"]["nodeName"] = placed.node
        return True

    def _blocked(self, raw: dict[str, Any], c: dict[str, Any], init_statuses: list[dict[str, Any]],
                 deleted: threading.Event) -> bool:
        """Whether the container cannot start; if so the pod is left Pending with the kubelet's status."""
        why = admission.waiting_reason(self.core, raw["metadata"]["namespace"], c, self.unpullable)
        if why is None:
            return False
        is_init = c in raw["spec"].get("initContainers", [])

        def report(reason: str, message: str) -> None:
            waiting = _status(c, {"waiting": {"reason": reason, "message": message}})
            status: dict[str, Any] = {"phase": "Pending", "initContainerStatuses": [*init_statuses]}
            if is_init:
                status["initContainerStatuses"].append(waiting)
                status["containerStatuses"] = [_status(m, {"waiting": {"reason": "PodInitializing"}})
                                               for m in raw["spec"]["containers"]]
            else:
                status["containerStatuses"] = [waiting]
            self._patch(raw, status)

        report(*why)
        if why[0] == "ErrImagePull" and not deleted.wait(self.pull_backoff):
            report("ImagePullBackOff", admission.backoff_message(c.get("image", "")))
        return True

    def _serve_log(self, raw: dict[str, Any], container: str, log: PodLog, sole: bool = True) -> None:
        """The container's log (?container=NAME); also without the parameter when it is the pod's only one."""
        path = f"get /api/v1/namespaces/{raw['metadata']['namespace']}/pods/{raw['metadata']['name']}/log"
        self.kube.call(lambda: self.emulator[f"{path}?container={container}"] << (lambda: log.stream()))
        if sole:
            self.kube.call(lambda: self.emulator[path] << (lambda: log.stream()))

    @contextlib.contextmanager
    def _volumes(self, raw: dict[str, Any]) -> Iterator[dict[str, Path]]:
        """Volume name -> a folder on this machine."""
        pod_dir = Path(tempfile.mkdtemp(dir=self.root))
        folders: dict[str, Path] = {}
        for vol in raw["spec"].get("volumes", []):
            if "persistentVolumeClaim" in vol:
                folder = self.root / "claims" / vol["persistentVolumeClaim"]["claimName"]
            else:
                folder = pod_dir / vol["name"]
            folder.mkdir(parents=True, exist_ok=True)
            if "configMap" in vol:
                cm = self.core.read_namespaced_config_map(vol["configMap"]["name"],
                                                          raw["metadata"]["namespace"])
                items = vol["configMap"].get("items") or [{"key": k, "path": k} for k in cm.data or {}]
                for item in items:
                    dest = folder / item["path"]
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_text((cm.data or {})[item["key"]], encoding="utf-8")
            folders[vol["name"]] = folder
        try:
            yield folders
        finally:
            shutil.rmtree(pod_dir, ignore_errors=True)

    def _exec_target(self, namespace: str, pod: str, container: str) -> Process | str:
        """Where an exec into a container runs: its env and folders while it runs, else the API's refusal."""
        target = self.running.get((namespace, pod, container))
        if target is None:
            return f'container "{container}" of pod "{pod}" is not running: unable to upgrade connection'
        return target

    def _exec(self, c: dict[str, Any], folders: dict[str, Path], deleted: threading.Event, started: float,
              spec: dict[str, Any], log: PodLog, key: tuple[str, str, str] | None = None,
              begun: Callable[[], None] = lambda: None) -> tuple[int, str, str]:
        """Run a container's command; exit code -1 means activeDeadlineSeconds ran out. With `key`
        (namespace, pod, container), exec sessions reach the container while it runs; `begun()` is
        called once they can."""
        if not c.get("command"):
            log.done.set()
            begun()
            return 0, "", ""
        termination = Path(tempfile.mkstemp(dir=self.root)[1])
        mounts = {m["mountPath"]: folders[m["name"]] for m in c.get("volumeMounts", [])}
        host_path = os.environ.get("PATH", "/usr/bin:/bin")
        env = {"PATH": os.pathsep.join([*self.path, host_path])}
        for name, value in container_env(c).items():
            if value == c.get("terminationMessagePath", "/dev/termination-log"):
                value = str(termination)
            for mount_path, folder in mounts.items():
                if value == mount_path or value.startswith(mount_path + "/"):
                    value = str(folder) + value[len(mount_path):]
            env[name] = value
        if key is not None:
            self.running[key] = Process(env, str(self.root))
        begun()
        try:
            return self._follow(c, env, deleted, started, spec, log, termination)
        finally:
            if key is not None:
                self.running.pop(key, None)

    def _follow(self, c: dict[str, Any], env: dict[str, str], deleted: threading.Event, started: float,
                spec: dict[str, Any], log: PodLog, termination: Path) -> tuple[int, str, str]:
        argv = [expand(word, env) for word in [*c["command"], *c.get("args", [])]]
        proc = subprocess.Popen(argv, env=env, cwd=self.root,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        reader = threading.Thread(target=lambda: [log.data.extend(chunk) for chunk in
                                                  iter(lambda: os.read(proc.stdout.fileno(), 4096), b"")])
        reader.start()
        deadline = spec.get("activeDeadlineSeconds")
        code: int | None = None
        while code is None:
            try:
                code = proc.wait(0.05)
            except subprocess.TimeoutExpired:
                expired = deadline is not None and time.monotonic() - started > deadline
                if deleted.is_set() or expired:
                    os.killpg(proc.pid, 9)
                    proc.wait()
                    code = -1
        reader.join(5)
        log.done.set()
        message = termination.read_text(encoding="utf-8") if termination.exists() else ""
        return code, log.data.decode("utf-8", "replace"), message
