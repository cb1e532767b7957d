"""The nightly jobs as Jenkins will see them: jobs/ rendered by jenkins-job-builder itself.

The JJB project in jobs/ (provider list and bucket) is the one list of nightly jobs; the
TestGrid config is checked against what this module reads back from the rendered XML.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from dashboard_config.problems import CheckError, Problem

SHELL_XPATH = "./builders/hudson.tasks.Shell/command"
TIMER_XPATH = "./triggers/hudson.triggers.TimerTrigger"


@dataclass(frozen=True)
class NightlyJob:
    name: str
    tox_env: str
    results: str  # gs://bucket/logs/<job>
    job_arg: str  # the --job value

    @property
    def gcs_prefix(self) -> str:
        """The TestGrid form of the results location: bucket/path, no gs://."""
        return self.results.removeprefix("gs://")


def render(jobs_dir: Path, out_dir: Path) -> dict[str, ET.ElementTree]:
    """Run `jenkins-jobs test` on jobs_dir and parse every job's XML."""
    command = [sys.executable, "-m", "jenkins_jobs", "-l", "error", "test", str(jobs_dir), "-o", str(out_dir)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise CheckError(
            f"jenkins-jobs cannot render {jobs_dir}: {jjb_error(done.stderr)} (fix the YAML there)"
        )
    return {path.name: ET.parse(path) for path in sorted(out_dir.iterdir()) if path.is_file()}


def jjb_error(stderr: str) -> str:
    """JJB's own message: its last unindented line (below it come the YAML source and a caret)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and not line[0].isspace()]
    messages = [line for line in lines if not line.startswith(("WARNING:", "INFO:", "DEBUG:", "^"))]
    return messages[-1] if messages else "no message"


def builder_shells(tree: ET.ElementTree) -> list[str]:
    return [node.text or "" for node in tree.findall(SHELL_XPATH)]


def tox_command(shell: str) -> list[str] | None:
    """The `./.ci/tox ...` command line of a builder shell, split as the shell would."""
    for line in shell.splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0] in ("./.ci/tox", "tox"):
            return [word for word in words if word != "&"]
    return None


def option(words: list[str], name: str) -> str:
    after = words[words.index("--") + 1 :] if "--" in words else []
    for index, word in enumerate(after[:-1]):
        if word == name:
            return after[index + 1]
    return ""


def nightly_jobs(jobs_dir: Path) -> list[NightlyJob]:
    with tempfile.TemporaryDirectory(prefix="fedtest-jobs-") as out:
        trees = render(jobs_dir, Path(out))
    jobs = []
    for name, tree in trees.items():
        if tree.find(TIMER_XPATH) is None:
            continue  # not a timed (nightly) job
        words = next(filter(None, map(tox_command, builder_shells(tree))), None) or []
        tox_env = words[words.index("-e") + 1] if "-e" in words[:-1] else ""
        jobs.append(NightlyJob(name, tox_env, option(words, "--results"), option(words, "--job")))
    return jobs


def job_problems(jobs: list[NightlyJob], source: str) -> list[Problem]:
    """Each nightly job runs tox and publishes to gs://<bucket>/logs/<its own name>."""
    problems = []
    for job in jobs:
        bucket_and_path = job.gcs_prefix.split("/")
        if not job.tox_env:
            problems.append(
                Problem(source, job.name, "job-runs-tox", "no `./.ci/tox -e ENV` in its shell builder")
            )
        if not job.results.startswith("gs://") or bucket_and_path[1:] != ["logs", job.name]:
            detail = f"--results is '{job.results}', expected gs://<bucket>/logs/{job.name}"
            problems.append(Problem(source, job.name, "job-results-path", detail))
        if job.job_arg != job.name:
            detail = f"--job is '{job.job_arg}', expected the Jenkins job name '{job.name}'"
            problems.append(Problem(source, job.name, "job-name-argument", detail))
    return problems
