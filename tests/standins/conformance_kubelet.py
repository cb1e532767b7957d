"""A fake kubelet for the conformance pod: a stand-in e2e.test and the real results container.

It watches pods on a stand-in API server (tests/standins/kube.py). For a conformance pod it plays the
upstream image, as registry.k8s.io/conformance:v1.28.7 was seen to behave on a real cluster:

- the kubelet's part: env values are expanded ($(VAR) from earlier variables and the `kubernetes`
  Service's KUBERNETES_SERVICE_HOST/PORT, `$$` -> `$`), volumes are folders (the ConfigMap's keys as files);
- go-runner's part: only what it reads (E2E_FOCUS, E2E_SKIP, E2E_PARALLEL, E2E_DRYRUN,
  E2E_EXTRA_GINKGO_ARGS, E2E_EXTRA_ARGS[_SEP], KUBECONFIG, RESULTS_DIR; no E2E_VERBOSITY), e2e.log
  teed from the output, and `done` written whatever happened;
- ginkgo's part: a dry run with more than one process is refused ("Ginkgo only performs -dryRun in
  serial mode", exit 1, no JUnit); JUnit cases are named "[It] <spec>" and the suite's own nodes
  ([ReportBeforeSuite], [SynchronizedBeforeSuite], [SynchronizedAfterSuite], [ReportAfterSuite] ...)
  are cases too; filtered specs are bare `<skipped message="skipped">`; failures carry an empty
  message attribute and "[FAILED] ..." as text;
- e2e.test's part: a spec that needs the API server's URL fails with "--host variable must be set ..."
  unless --host is given or the kubeconfig's cluster is named like its context; a kubectl spec with
  --host but no kubeconfig fails as kubectl asks for a user name; a spec's image goes through the
  repository list at KUBE_TEST_REPO_LIST and fails to pull unless the node has it.

The pod's second container (the results carrier) runs its real command with `sh` here, RESULTS_DIR
pointing at the results folder, and its output is served as that container's log. Deleting the pod
kills everything. Failure modes: an image that cannot be pulled, a pod never scheduled, a suite that hangs.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.standins.kube import KubeStandIn
from tests.standins.kubelet import FakeKubelet, PodLog, _now, _status, container_env, expand

TOTAL_SPECS = 7389
SUITE_NODES_BEFORE = ("[ReportBeforeSuite]", "[SynchronizedBeforeSuite]")
SUITE_NODES_AFTER = ("[SynchronizedAfterSuite]", "[ReportAfterSuite] Kubernetes e2e suite report")
NO_HOST = "--host variable must be set to the full URI to the api server on e2e run."
SERVICE_IP, SERVICE_PORT = "10.96.0.1", 443  # the stand-in cluster's `kubernetes` Service
# test/utils/image/manifest.go (v1.28): the registries e2e.test's images come from unless the list says otherwise
DEFAULT_REGISTRIES = {
    "promoterE2eRegistry": "registry.k8s.io/e2e-test-images", "buildImageRegistry": "registry.k8s.io/build-image",
    "gcEtcdRegistry": "registry.k8s.io", "gcRegistry": "registry.k8s.io",
    "sigStorageRegistry": "registry.k8s.io/sig-storage", "dockerLibraryRegistry": "docker.io/library",
    "cloudProviderGcpRegistry": "registry.k8s.io/cloud-provider-gcp", "microsoftRegistry": "mcr.microsoft.com",
    "invalidRegistry": "invalid.registry.k8s.io/invalid", "privateRegistry": "gcr.io/k8s-authenticated-test",
    "gcAuthenticatedRegistry": "gcr.io/authenticated-image-pulling",
}


@dataclass(frozen=True)
class Spec:
    name: str
    outcome: str = "passed"  # passed, failed, or skipped (skipped at run time, with a reason)
    message: str = ""
    seconds: float = 0.5
    needs_host: bool = False  # reads e2e.test's --host (e.g. "Simple pod should support exec through kubectl proxy")
    kubectl: bool = False  # runs kubectl, which needs credentials besides --server
    image: tuple[str, str] | None = None  # (registry key, "name:tag"), e.g. ("promoterE2eRegistry", "busybox:1.29-4")


@dataclass
class Suite:
    """What the stand-in e2e.test knows and does."""

    specs: list[Spec]
    line_seconds: float = 0.02
    hang: bool = False  # never ends: for timeouts and aborts
    write_junit: bool = True
    failing_suite_node: str | None = None  # e.g. "[SynchronizedBeforeSuite]": that node fails


@dataclass
class Behaviour:
    pull_error: str | None = None  # e.g. "ImagePullBackOff": the conformance container never starts
    unschedulable: bool = False
    node_images: set[str] | None = None  # images a spec's pod can pull (None: any)
    seen_pods: list[dict[str, Any]] = field(default_factory=list)  # every pod this kubelet ran, as created
    runs: list[dict[str, Any]] = field(default_factory=list)  # what each e2e.test run saw: env, host, images


def add_api_service(api: client.ApiClient) -> None:
    """The `kubernetes` Service a real API server keeps in `default` (idempotent)."""
    with contextlib.suppress(ApiException):  # already there: a second kubelet on the same cluster
        client.CoreV1Api(api).create_namespaced_service("default", {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "kubernetes", "namespace": "default"},
            "spec": {"clusterIP": SERVICE_IP, "ports": [{"name": "https", "port": SERVICE_PORT,
                                                         "protocol": "TCP", "targetPort": 6443}]}})


def select(specs: list[Spec], focus: str, skip: str) -> list[Spec]:
    return [s for s in specs if re.search(focus or ".", s.name) and not (skip and re.search(skip, s.name))]


def _case(suite: ET.Element, name: str, status: str, seconds: float) -> ET.Element:
    return ET.SubElement(suite, "testcase", name=name, classname="Kubernetes e2e suite", status=status,
                         time=str(seconds))


def ginkgo_junit(specs: list[Spec], results: dict[str, tuple[str, str]], dry_run: bool,
                 failing_node: str | None = None) -> bytes:
    """What e2e.test v1.28's JUnit reporter writes: suite nodes as cases, specs as "[It] <name>"."""
    root = ET.Element("testsuites", tests=str(len(specs) + 4))
    suite = ET.SubElement(root, "testsuite", name="Kubernetes e2e suite", package="/usr/local/bin",
                          tests=str(len(specs) + 4))
    for node in SUITE_NODES_BEFORE:
        case = _case(suite, node, "failed" if node == failing_node else "passed", 0.01)
        if node == failing_node:
            ET.SubElement(case, "failure", message="", type="failed").text = f"[FAILED] {node} failed\nIn {node}"
    for spec in specs:
        case = _case(suite, f"[It] {spec.name}", "passed", 0)
        if spec.name not in results:
            case.set("status", "skipped")
            ET.SubElement(case, "skipped", message="skipped")
            continue
        outcome, message = ("passed", "") if dry_run else results[spec.name]
        case.set("status", outcome)
        case.set("time", "0" if dry_run else str(spec.seconds))
        if outcome == "failed":
            ET.SubElement(case, "failure", message="", type="failed").text = (
                f"[FAILED] {message}\nIn [It] at: test/e2e/common/node/pods.go:123")
            ET.SubElement(case, "system-err").text = f"STEP: creating the pod\n[FAILED] {message}"
        elif outcome == "skipped":
            ET.SubElement(case, "skipped", message=f"skipped - {message}")
    for node in SUITE_NODES_AFTER:
        _case(suite, node, "passed", 0.0)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


@dataclass
class _Context:
    """What e2e.test sees when it starts: its flags and the files the pod's volumes put in place."""

    env: dict[str, str]
    files: dict[str, Path]  # mount path -> folder

    def read(self, path: str) -> str | None:
        for mount, folder in sorted(self.files.items(), key=lambda item: -len(item[0])):
            if path.startswith(mount.rstrip("/") + "/"):
                target = folder / path[len(mount.rstrip("/")) + 1:]
                return target.read_text(encoding="utf-8") if target.is_file() else None
        return None

    def extra_args(self) -> list[str]:
        sep = self.env.get("E2E_EXTRA_ARGS_SEP") or " "
        return [a for a in self.env.get("E2E_EXTRA_ARGS", "").split(sep) if a]

    def processes(self) -> int:
        """ginkgo's process count from go-runner's E2E_PARALLEL and E2E_EXTRA_GINKGO_ARGS."""
        count = 2 if self.env.get("E2E_PARALLEL") in ("y", "Y", "true") else 1  # go-runner adds --p
        for arg in shlex.split(self.env.get("E2E_EXTRA_GINKGO_ARGS", "")):
            if arg in ("-p", "--p"):
                count = max(count, 2)
            if match := re.fullmatch(r"--?(?:procs|nodes)=(\d+)", arg):
                count = int(match.group(1))
        return count

    def verbose(self) -> bool:
        return bool({"-v", "--v"} & set(shlex.split(self.env.get("E2E_EXTRA_GINKGO_ARGS", ""))))

    def kubeconfig(self) -> dict[str, Any] | None:
        path = self.env.get("KUBECONFIG", "")
        text = self.read(path) if path else None
        loaded = yaml.safe_load(text) if text else None
        return loaded if isinstance(loaded, dict) and loaded.get("current-context") else None

    def host(self) -> str:
        """--host, else what e2e.test v1.28 takes from the kubeconfig: the cluster named like the context."""
        for arg in self.extra_args():
            if arg.startswith("--host="):
                return arg.removeprefix("--host=")
        config = self.kubeconfig() or {}
        clusters = {c["name"]: c["cluster"] for c in config.get("clusters") or []}
        return str(clusters.get(config.get("current-context"), {}).get("server", ""))

    def image(self, ref: tuple[str, str]) -> str:
        registries = dict(DEFAULT_REGISTRIES)
        path = self.env.get("KUBE_TEST_REPO_LIST", "")
        if path:
            text = self.read(path)
            if text is None:
                raise RuntimeError(f"Error reading '{path}' file contents")  # e2e.test panics at start
            registries.update(yaml.safe_load(text) or {})
        key, name = ref
        return f"{registries[key]}/{name}"


class FakeConformanceKubelet(FakeKubelet):
    """`with FakeConformanceKubelet(kube, "east", api, suite) as kubelet:`; conformance pods then run.

    FakeKubelet's pod watch, status patches, volumes and clean-up; what a pod does is this class's own.
    The stand-in API server gets the `kubernetes` Service every real API server keeps in `default`."""

    def __init__(self, kube: KubeStandIn, cluster: str, api: client.ApiClient, suite: Suite,
                 behaviour: Behaviour | None = None, *, api_service: bool = True) -> None:
        super().__init__(kube, cluster, api)
        self.suite = suite
        self.behaviour = behaviour or Behaviour()
        if api_service:
            add_api_service(api)

    def _serve_log(self, raw: dict[str, Any], container: str, log: PodLog, sole: bool = False) -> None:
        meta = raw["metadata"]
        path = f"get /api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/log?container={container}"
        self.kube.call(lambda: self.emulator[path] << (lambda: log.stream()))

    def _run(self, raw: dict[str, Any], deleted: threading.Event) -> None:
        runner, carrier = raw["spec"]["containers"]
        self.behaviour.seen_pods.append(raw)
        self._patch(raw, {"phase": "Pending", "startTime": _now()})
        if self.behaviour.unschedulable:
            self._patch(raw, {"phase": "Pending", "conditions": [{
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": "0/1 nodes are available: 1 Insufficient memory."}]})
            return
        if self.behaviour.pull_error:
            waiting = {"waiting": {"reason": self.behaviour.pull_error,
                                   "message": f'Back-off pulling image "{runner["image"]}"'}}
            self._patch(raw, {"phase": "Pending", "containerStatuses": [
                _status(runner, waiting),
                _status(carrier, {"running": {"startedAt": _now()}})]})
            return
        with self._volumes(raw) as folders:
            self._run_pod(raw, runner, carrier, folders, deleted)

    def _run_pod(self, raw: dict[str, Any], runner: dict[str, Any], carrier: dict[str, Any],
                 folders: dict[str, Path], deleted: threading.Event) -> None:
        env = {"KUBERNETES_SERVICE_HOST": SERVICE_IP, "KUBERNETES_SERVICE_PORT": str(SERVICE_PORT)}
        for item in runner.get("env", []):
            env[item["name"]] = expand(item.get("value", ""), env)
        mounts = {m["mountPath"]: folders[m["name"]] for m in runner.get("volumeMounts", [])}
        context = _Context(env, mounts)
        results = mounts[env.get("RESULTS_DIR", "/tmp/results")]
        suite_log, carrier_log = PodLog(), PodLog()
        self._serve_log(raw, runner["name"], suite_log)
        self._serve_log(raw, carrier["name"], carrier_log)
        proc = self._start_carrier(carrier, folders, carrier_log)
        running = {"running": {"startedAt": _now()}}
        self._patch(raw, {"phase": "Running", "containerStatuses": [
            _status(c, running) for c in (runner, carrier)]})
        code = self._play_suite(context, results, suite_log, deleted)
        if code is None:
            carrier_log.done.set()
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return
        done = {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                               "finishedAt": _now()}}
        self._patch(raw, {"phase": "Running", "containerStatuses": [
            _status(runner, done), _status(carrier, running)]})
        carrier_code = self._wait(proc, deleted)
        if carrier_code is None:
            return
        carried = {"terminated": {"exitCode": carrier_code, "reason": "Completed" if carrier_code == 0 else "Error",
                                  "finishedAt": _now()}}
        self._patch(raw, {"phase": "Succeeded" if code == 0 and carrier_code == 0 else "Failed",
                          "containerStatuses": [_status(runner, done),
                                                _status(carrier, carried)]})

    def _start_carrier(self, carrier: dict[str, Any], folders: dict[str, Path],
                       log: PodLog) -> subprocess.Popen[bytes]:
        mount = carrier["volumeMounts"][0]
        results = str(folders[mount["name"]])
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        mount_path = mount["mountPath"]
        for name, value in container_env(carrier).items():  # expanded as the kubelet does
            env[name] = results + value[len(mount_path):] if value.startswith(mount_path) else value
        argv = [expand(word, env) for word in [*carrier["command"], *carrier.get("args", [])]]
        proc = subprocess.Popen(argv, env=env, cwd=self.root,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)

        def read() -> None:
            assert proc.stdout is not None
            for chunk in iter(lambda: os.read(proc.stdout.fileno(), 65536), b""):
                log.data.extend(chunk)
            log.done.set()

        threading.Thread(target=read, daemon=True).start()
        return proc

    def _wait(self, proc: subprocess.Popen[bytes], deleted: threading.Event) -> int | None:
        """The carrier's exit code; None (and killed) when the pod is deleted first."""
        while True:
            with contextlib.suppress(subprocess.TimeoutExpired):
                return proc.wait(0.05)
            if deleted.is_set():
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return None

    def _outcome(self, spec: Spec, context: _Context) -> tuple[str, str]:
        host = context.host()
        if spec.needs_host and not host:
            return "failed", NO_HOST
        if spec.kubectl and context.kubeconfig() is None:
            return "failed", (f"error running /usr/local/bin/kubectl --server={host} api-versions:\n"
                              "Command stdout:\nPlease enter Username: \nstderr:\nerror: EOF")
        if spec.image is not None:
            image = context.image(spec.image)
            if self.behaviour.node_images is not None and image not in self.behaviour.node_images:
                return "failed", f'pod "client" failed: ErrImagePull: failed to pull image "{image}"'
        return spec.outcome, spec.message

    def _play_suite(self, context: _Context, results: Path, log: PodLog, deleted: threading.Event) -> int | None:
        """Print ginkgo-like output, write e2e.log, junit_01.xml and `done`; the exit code, or None if deleted."""
        env = context.env
        dry_run = bool(env.get("E2E_DRYRUN"))
        skip = env.get("E2E_SKIP", "") or (r"\[Serial\]" if env.get("E2E_PARALLEL") in ("y", "Y", "true") else "")
        selected = select(self.suite.specs, env.get("E2E_FOCUS", r"\[Conformance\]"), skip)
        e2e_log = (results / "e2e.log").open("w", encoding="utf-8")

        inline = False

        def say(line: str, delay: float = self.suite.line_seconds) -> bool:
            """Without -v ginkgo writes a spec that passed or was skipped as one character, no newline."""
            nonlocal inline
            text = line if line in ("•", "S") else ("\n" if inline else "") + f"{line}\n"
            inline = line in ("•", "S")
            log.data.extend(text.encode())
            e2e_log.write(text)
            e2e_log.flush()
            return not deleted.wait(delay)

        outcomes: dict[str, tuple[str, str]] = {}
        junit = self.suite.write_junit
        if dry_run and context.processes() > 1:
            lines = ["Output from proc 1:", "  Ginkgo detected configuration issues:",
                     "  Ginkgo only performs -dryRun in serial mode.", "Test Suite Failed"]
            failed, junit = 1, False
        else:
            try:
                outcomes = {s.name: ("passed", "") if dry_run else self._outcome(s, context) for s in selected}
            except RuntimeError as err:  # e2e.test panics before the suite starts
                outcomes, junit = {}, False
                lines = [f"panic: {err}"]
                failed = 1
            else:
                lines, failed = self._console(selected, outcomes, context.verbose())
        self.behaviour.runs.append({"env": env, "host": context.host(), "outcomes": outcomes})
        head, body = lines[:2], lines[2:]
        try:
            for line in head:
                if not say(line):
                    return None
            held = not context.verbose()  # without -v ginkgo's output reaches the log only at the end
            if held and (self.suite.hang or deleted.wait(self.suite.line_seconds * len(body))):
                deleted.wait()
                return None
            for line in body:
                if not say(line, self.suite.line_seconds if context.verbose() else 0.0):
                    return None
            if self.suite.hang:
                deleted.wait()
                return None
        finally:
            e2e_log.close()
            log.done.set()
        if junit:
            (results / "junit_01.xml").write_bytes(
                ginkgo_junit(self.suite.specs, outcomes, dry_run, self.suite.failing_suite_node))
        (results / "done").write_text(str(results / "e2e.tar.gz"), encoding="utf-8")  # go-runner: always
        return 1 if failed or self.suite.failing_suite_node else 0

    def _console(self, selected: list[Spec], outcomes: dict[str, tuple[str, str]],
                 verbose: bool) -> tuple[list[str], int]:
        lines = ["Running Suite: Kubernetes e2e suite - /usr/local/bin",
                 f"Will run {len(selected)} of {TOTAL_SPECS} specs"]
        for spec in selected:
            outcome, message = outcomes[spec.name]
            if outcome == "failed":
                lines += ["------------------------------", f"• [FAILED] [{spec.seconds:.3f} seconds]", spec.name,
                          f"  [FAILED] {message.splitlines()[0]}", "------------------------------"]
            elif verbose:  # ginkgo -v: each spec's name, then its verdict
                lines += [spec.name, f"S [SKIPPED] [{spec.seconds:.3f} seconds]" if outcome == "skipped"
                          else f"• [{spec.seconds:.3f} seconds]"]
            else:
                lines.append("S" if outcome == "skipped" else "•")
        failed = sum(1 for outcome, _ in outcomes.values() if outcome == "failed")
        lines += [f"Ran {len(selected)} of {TOTAL_SPECS} Specs in 1.234 seconds",
                  f"{'FAIL' if failed else 'SUCCESS'}! -- {len(selected) - failed} Passed | {failed} Failed"]
        return lines, failed
