"""The CronJob tests run on one worker under the distribution the tox e2e environments ask for.

Their boards (e2e/conftest.py::cron_boards) are session fixtures: spread over workers, each worker would
create its own CronJobs in every cluster and the tests would queue behind the others. This runs the
real suite's modules with the installed pytest and pytest-xdist (no clusters: every test skips at once)
and reads which worker ran each test.
"""

from __future__ import annotations

import configparser
import re
import shlex
import subprocess
import sys
from collections import defaultdict

from tests.conftest import ROOT

WORKERS = 3
RAN_ON = re.compile(r"^\[(gw\d+)\] .*?(?:PASSED|SKIPPED|FAILED|ERROR) (e2e/\S+?)(?:@\S+)?(?:\s|$)", re.MULTILINE)


def e2e_dist_mode(env: str = "testenv:e2e-existing") -> str:
    """The `--dist` mode of an e2e environment's command in tox.ini."""
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(ROOT / "tox.ini")
    words = shlex.split(ini[env]["commands"].replace("{", "").replace("}", ""))
    return words[words.index("--dist") + 1]


def workers_by_module(*modules: str) -> dict[str, set[str]]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *modules, "-n", str(WORKERS), "--dist", e2e_dist_mode(), "-v",
         "-p", "no:randomly", "-p", "no:cacheprovider"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    found: dict[str, set[str]] = defaultdict(set)
    for worker, nodeid in RAN_ON.findall(done.stdout):
        found[nodeid.split("::", 1)[0]].add(worker)
    assert found, done.stdout + done.stderr
    return found


def test_the_cron_tests_run_on_one_worker_and_the_others_spread() -> None:
    found = workers_by_module("e2e/test_cronjobs.py", "e2e/test_runner_pods.py")
    assert len(found["e2e/test_cronjobs.py"]) == 1, f"the cron tests spread over workers: {dict(found)}"
    assert len(found["e2e/test_runner_pods.py"]) > 1, f"the other tests were grouped too: {dict(found)}"
