"""A fake kubelet for the conformance pod: a stand-in e2e.test and the real results container.

It watches pods on a stand-in API server (tests/standins/kube.py). For a conformance pod it plays the
upstream image: it selects specs by the pod's E2E_FOCUS / E2E_SKIP (Python regexes, close enough to
Go's for these), prints ginkgo-style progress as the container log, tees it into e2e.log in a folder
standing in for the results emptyDir, writes junit_01.xml the way ginkgo does (filtered specs as bare
`<skipped message="skipped">`), and then the `done` file, as go-runner does. The pod's second
container (the results carrier) runs its real command with `sh` here, RESULTS_DIR pointing at that
folder, and its output is served as that container's log. Deleting the pod kills everything.
Failure modes: an image that cannot be pulled, a pod that is never scheduled, a suite that hangs.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import tempfile
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client

from tests.standins.kube import KubeStandIn
from tests.standins.kubelet import FakeKubelet, PodLog, _now, _status, container_env, expand

TOTAL_SPECS = 7407


@dataclass(frozen=True)
class Spec:
    name: str
    outcome: str = "passed"  # passed, failed, or skipped (skipped at run time, with a reason)
    message: str = ""
    seconds: float = 0.5


@dataclass
class Suite:
    """What the stand-in e2e.test knows and does."""

    specs: list[Spec]
    line_seconds: float = 0.02
    hang: bool = False  # never ends: for timeouts and aborts
    write_junit: bool = True


@dataclass
class Behaviour:
    pull_error: str | None = None  # e.g. "ImagePullBackOff": the conformance container never starts
    unschedulable: bool = False
    seen_pods: list[dict[str, Any]] = field(default_factory=list)  # every pod this kubelet ran, as created


def select(specs: list[Spec], focus: str, skip: str) -> list[Spec]:
    return [s for s in specs if re.search(focus or ".", s.name) and not (skip and re.search(skip, s.name))]


def ginkgo_junit(specs: list[Spec], selected: list[Spec], dry_run: bool) -> bytes:
    """Roughly what e2e.test's JUnit reporter writes (suite setup nodes omitted, as upstream does)."""
    root = ET.Element("testsuites", tests=str(len(specs)))
    suite = ET.SubElement(root, "testsuite", name="Kubernetes e2e suite", package="/usr/local/bin",
                          tests=str(len(specs)))
    for spec in specs:
        case = ET.SubElement(suite, "testcase", name=spec.name, classname="Kubernetes e2e suite")
        outcome = "passed" if dry_run else spec.outcome
        if spec not in selected:
            case.set("status", "skipped")
            ET.SubElement(case, "skipped", message="skipped")
            continue
        case.set("status", outcome)
        case.set("time", "0" if dry_run else str(spec.seconds))
        if outcome == "failed":
            failure = ET.SubElement(case, "failure", message=spec.message, type="failed")
            failure.text = f"[FAILED] {spec.message}\nIn [It] at: test/e2e/common/node/pods.go:123"
            ET.SubElement(case, "system-err").text = f"STEP: creating the pod\n[FAILED] {spec.message}"
        elif outcome == "skipped":
            ET.SubElement(case, "skipped", message=f"skipped - {spec.message}")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


class FakeConformanceKubelet(FakeKubelet):
    """`with FakeConformanceKubelet(kube, "east", api, suite) as kubelet:`; conformance pods then run.

    FakeKubelet's pod watch, status patches and clean-up; what a pod does is this class's own."""

    def __init__(self, kube: KubeStandIn, cluster: str, api: client.ApiClient, suite: Suite,
                 behaviour: Behaviour | None = None) -> None:
        super().__init__(kube, cluster, api)
        self.suite = suite
        self.behaviour = behaviour or Behaviour()

    def _serve_log(self, raw: dict[str, Any], container: str, log: PodLog) -> None:
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
        results = Path(tempfile.mkdtemp(dir=self.root))
        env = {e["name"]: e.get("value", "") for e in runner.get("env", [])}
        suite_log, carrier_log = PodLog(), PodLog()
        self._serve_log(raw, runner["name"], suite_log)
        self._serve_log(raw, carrier["name"], carrier_log)
        proc = self._start_carrier(carrier, results, carrier_log)
        running = {"running": {"startedAt": _now()}}
        self._patch(raw, {"phase": "Running", "containerStatuses": [
            _status(c, running) for c in (runner, carrier)]})
        code = self._play_suite(env, results, suite_log, deleted)
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

    def _start_carrier(self, carrier: dict[str, Any], results: Path, log: PodLog) -> subprocess.Popen[bytes]:
        mount = carrier["volumeMounts"][0]["mountPath"]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        for name, value in container_env(carrier).items():  # expanded as the kubelet does
            env[name] = str(results) + value[len(mount):] if value.startswith(mount) else value
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

    def _play_suite(self, env: dict[str, str], results: Path, log: PodLog, deleted: threading.Event) -> int | None:
        """Print ginkgo-like output, write e2e.log, junit_01.xml and `done`; the exit code, or None if deleted."""
        dry_run = env.get("E2E_DRYRUN") == "true"
        selected = select(self.suite.specs, env.get("E2E_FOCUS", ""), env.get("E2E_SKIP", ""))
        e2e_log = (results / "e2e.log").open("w", encoding="utf-8")

        def say(line: str) -> bool:
            log.data.extend(f"{line}\n".encode())
            e2e_log.write(f"{line}\n")
            e2e_log.flush()
            return not deleted.wait(self.suite.line_seconds)

        lines = ["Running Suite: Kubernetes e2e suite - /usr/local/bin",
                 f"Will run {len(selected)} of {TOTAL_SPECS} specs"]
        for spec in selected:
            outcome = "passed" if dry_run else spec.outcome
            if outcome == "failed":
                lines += ["------------------------------", f"• [FAILED] [{spec.seconds:.3f} seconds]", spec.name,
                          f"  [FAILED] {spec.message}", "------------------------------"]
            else:
                lines.append("S" if outcome == "skipped" else "•")
        failed = sum(1 for s in selected if s.outcome == "failed" and not dry_run)
        lines += [f"Ran {len(selected)} of {TOTAL_SPECS} Specs in 1.234 seconds",
                  f"{'FAIL' if failed else 'SUCCESS'}! -- {len(selected) - failed} Passed | {failed} Failed"]
        try:
            for line in lines:
                if not say(line):
                    return None
            if self.suite.hang:
                deleted.wait()
                return None
        finally:
            e2e_log.close()
            log.done.set()
        if self.suite.write_junit:
            (results / "junit_01.xml").write_bytes(ginkgo_junit(self.suite.specs, selected, dry_run))
        (results / "done").write_text(str(results / "e2e.tar.gz"), encoding="utf-8")
        return 1 if failed else 0
