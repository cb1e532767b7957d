"""`python -m dashboard_config check`: the TestGrid config against TestGrid's and test-infra's
rules and against the nightly jobs in jobs/. `python -m dashboard_config grid`: the offline preview
of the dashboards for a results tree (dashboard_config/grid)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dashboard_config import config as testgrid_config
from dashboard_config import consistency, nightly_jobs, rules
from dashboard_config.grid import cli as grid_cli
from dashboard_config.problems import CheckError
from fedtest.errors import FedtestError

HERE = Path(__file__).resolve().parent


def jobs_source(jobs_dir: Path) -> str:
    files = sorted(jobs_dir.glob("*.yaml")) + sorted(jobs_dir.glob("*.yml"))
    return testgrid_config.display(files[0] if len(files) == 1 else jobs_dir)


def run_check(config_dir: Path, jobs_dir: Path) -> int:
    config = testgrid_config.load(config_dir)
    if not jobs_dir.is_dir():
        raise CheckError(f"no jobs folder at {jobs_dir} (pass --jobs DIR)")
    jobs = nightly_jobs.nightly_jobs(jobs_dir)
    source = jobs_source(jobs_dir)
    problems = (
        rules.check(config)
        + nightly_jobs.job_problems(jobs, source)
        + consistency.check(config, jobs, source)
    )
    for problem in problems:
        print(problem)
    if problems:
        print(f"fedtest: error: {len(problems)} problem(s) in the TestGrid config or jobs", file=sys.stderr)
        return 1
    names = ", ".join(job.name for job in jobs)
    print(f"dashboard_config: {len(config.test_groups)} test groups match {len(jobs)} nightly jobs ({names})")
    return 0


def _add_check(commands: argparse._SubParsersAction, name: str) -> None:
    check = commands.add_parser(name, help="check the TestGrid config against TestGrid's rules and against jobs/")
    check.add_argument(
        "--config", type=Path, default=HERE, help="folder of TestGrid YAML (default: %(default)s)"
    )
    check.add_argument("--jobs", type=Path, default=HERE.parent / "jobs",
                       help="jenkins-job-builder folder (default: %(default)s)")
    check.set_defaults(run=lambda options: run_check(options.config, options.jobs))


def add_parser(commands: argparse._SubParsersAction) -> None:
    """`fedtest check-dashboard`."""
    _add_check(commands, "check-dashboard")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboard_config", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    _add_check(commands, "check")
    grid_cli.add_parser(commands)
    options = parser.parse_args(argv)
    try:
        return options.run(options)
    except FedtestError as error:
        print(f"fedtest: error: {error}", file=sys.stderr)
        return 2
