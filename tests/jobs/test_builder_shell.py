"""The builder shells from the rendered XML, run as Jenkins runs them, with a stand-in `.ci/tox`
in a temporary checkout: the command line is valid, and an abort reaches the run and waits for it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from dashboard_config import nightly_jobs
from tests.jobs.conftest import BUCKET
from tests.jobs.test_rendered_jobs import POST_BUILD_STEP, expected_run

# Records its arguments, then behaves like tox: runs a child ("pytest") in the same process group
# and dies at once on SIGTERM (tox has no SIGTERM handler), leaving the child to finish alone.
STANDIN_TOX = """\
import json, os, subprocess, sys
with open(os.environ["STANDIN_RECORD"], "a") as record:
    record.write(json.dumps(sys.argv[1:]) + "\\n")
child = os.environ.get("STANDIN_CHILD")
if child:
    sys.exit(subprocess.call([sys.executable, child]))
sys.exit(int(os.environ.get("STANDIN_EXIT", "0")))
"""

# Stands in for pytest: on SIGTERM it takes a while to tear down, then publishes ABORTED.
STANDIN_PYTEST = """\
import os, signal, sys, time
def publish_aborted(signum, frame):
    time.sleep(1.0)
    with open(os.environ["STANDIN_FINISHED"], "w") as finished:
        finished.write("ABORTED")
    sys.exit(1)
signal.signal(signal.SIGTERM, publish_aborted)
signal.alarm(60)  # never outlive the test, whatever the builder does
print("ready", flush=True)
signal.pause()
"""


def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    (root / ".ci").mkdir(parents=True)
    tox = root / ".ci" / "tox"
    tox.write_text(f"#!{sys.executable}\n{STANDIN_TOX}", encoding="utf-8")
    tox.chmod(0o755)
    (tmp_path / "pytest_standin.py").write_text(STANDIN_PYTEST, encoding="utf-8")
    return root


def write_script(tmp_path: Path, shell: str) -> Path:
    script = tmp_path / "jenkins-builder.sh"
    script.write_text(shell, encoding="utf-8")
    script.chmod(0o755)
    return script


def jenkins_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "BUILD_NUMBER": "17"}
    return env | {"STANDIN_RECORD": str(tmp_path / "record.jsonl")} | extra


def recorded(tmp_path: Path) -> list[list[str]]:
    lines = (tmp_path / "record.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def builder(jobs: dict[str, ET.ElementTree], provider: str) -> str:
    (shell,) = nightly_jobs.builder_shells(jobs[f"e2e-{provider}-nightly"])
    return shell


@pytest.mark.parametrize("exit_code", [0, 3])
def test_builder_runs_tox_with_the_results_location(
    jobs: dict[str, ET.ElementTree], tmp_path: Path, exit_code: int
) -> None:
    root = checkout(tmp_path)
    script = write_script(tmp_path, builder(jobs, "gce"))
    env = jenkins_env(tmp_path, STANDIN_EXIT=str(exit_code))
    done = subprocess.run([str(script)], cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == exit_code, done.stderr
    assert recorded(tmp_path) == [expected_run("gce", build_id="17")]


@pytest.mark.parametrize(("params", "extra"), [
    ({"FEDTEST_CONFORMANCE": "false"}, ()),
    ({"FEDTEST_CONFORMANCE": "true", "FEDTEST_CONFORMANCE_FOCUS": "Simple pod should"},
     ("--conformance", "--conformance-focus", "Simple pod should")),
    ({"FEDTEST_CONFORMANCE": "true"}, ("--conformance", "--conformance-focus", r"\[Conformance\]")),
])
def test_the_conformance_parameters_become_run_options(
    jobs: dict[str, ET.ElementTree], tmp_path: Path, params: dict[str, str], extra: tuple[str, ...]
) -> None:
    root = checkout(tmp_path)
    script = write_script(tmp_path, builder(jobs, "kind"))
    done = subprocess.run([str(script)], cwd=root, env=jenkins_env(tmp_path, **params), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert recorded(tmp_path) == [expected_run("kind", build_id="17", extra=extra)]


def test_post_build_step_calls_the_abort_upload(jobs: dict[str, ET.ElementTree], tmp_path: Path) -> None:
    root = checkout(tmp_path)
    (shell,) = [node.text or "" for node in jobs["e2e-azure-nightly"].findall(POST_BUILD_STEP + "//command")]
    done = subprocess.run(
        [str(write_script(tmp_path, shell))],
        cwd=root,
        env=jenkins_env(tmp_path),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    job = "e2e-azure-nightly"
    assert recorded(tmp_path) == [
        ["exec", "-e", "e2e-azure", "--", "fedtest", "abort", "--artifacts", "_artifacts/e2e-azure",
         "--results", f"gs://{BUCKET}/logs/{job}", "--job", job, "--build-id", "17"],
    ]  # fmt: skip


def test_sigterm_to_the_builder_reaches_the_run_and_waits_for_its_result(
    jobs: dict[str, ET.ElementTree], tmp_path: Path
) -> None:
    root = checkout(tmp_path)
    finished = tmp_path / "finished"
    env = jenkins_env(
        tmp_path, STANDIN_CHILD=str(tmp_path / "pytest_standin.py"), STANDIN_FINISHED=str(finished)
    )
    script = write_script(tmp_path, builder(jobs, "kind"))
    run = subprocess.Popen(
        [str(script)], cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert run.stdout is not None
        assert run.stdout.readline().strip() == "ready"
        os.kill(run.pid, signal.SIGTERM)  # only the builder, as a parent that knows no better would
        exit_code = run.wait(timeout=30)
        # The stand-in publishes one second after its SIGTERM: the builder returns only after that.
        published = finished.read_text(encoding="utf-8") if finished.exists() else "nothing"
    finally:
        run.kill()
    stdout, stderr = run.communicate()
    assert published == "ABORTED", stderr
    assert "fedtest: aborted: waiting for the run to publish its result" in stdout
    assert exit_code != 0


# Like tox 4: relays the child's output through a pipe and has no SIGTERM handler of its own.
RELAYING_TOX = """\
import os, subprocess, sys
child = subprocess.Popen([sys.executable, os.environ["STANDIN_CHILD"]], stdout=subprocess.PIPE, text=True)
for line in child.stdout:
    sys.stdout.write(line)
    sys.stdout.flush()
sys.exit(child.wait())
"""

# Stands in for pytest: on SIGTERM it reports its teardown through the relay, then publishes ABORTED.
TALKING_PYTEST = """\
import os, signal, sys, time
def publish_aborted(signum, frame):
    print("tearing down after the abort", flush=True)  # EPIPE here if the relay died
    time.sleep(1.0)
    with open(os.environ["STANDIN_FINISHED"], "w") as finished:
        finished.write("ABORTED")
    sys.exit(1)
signal.signal(signal.SIGTERM, publish_aborted)
signal.alarm(60)
print("ready", flush=True)
signal.pause()
"""


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (what Jenkins' process-tree killer finds by the build's cookie)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8") as stat:
                    parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def test_a_jenkins_abort_leaves_tox_relaying_until_the_run_published(
    jobs: dict[str, ET.ElementTree], tmp_path: Path
) -> None:
    """Jenkins sends SIGTERM to every process of the build: tox must survive it, or the run's output pipe
    breaks (EPIPE in the run, no finished.json)."""
    root = checkout(tmp_path)
    (root / ".ci" / "tox").write_text(f"#!{sys.executable}\n{RELAYING_TOX}", encoding="utf-8")
    (tmp_path / "pytest_standin.py").write_text(TALKING_PYTEST, encoding="utf-8")
    finished = tmp_path / "finished"
    env = jenkins_env(tmp_path, STANDIN_CHILD=str(tmp_path / "pytest_standin.py"), STANDIN_FINISHED=str(finished))
    script = write_script(tmp_path, builder(jobs, "kind"))
    run = subprocess.Popen([str(script)], cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    try:
        assert run.stdout is not None
        assert run.stdout.readline().strip() == "ready"
        for pid in [run.pid, *_descendants(run.pid)]:  # the whole tree, as Jenkins does
            os.kill(pid, signal.SIGTERM)
        run.wait(timeout=30)
        published = finished.read_text(encoding="utf-8") if finished.exists() else "nothing"
    finally:
        run.kill()
    stdout, stderr = run.communicate()
    assert published == "ABORTED", stderr
    assert "tearing down after the abort" in stdout
