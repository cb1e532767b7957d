"""One error root for the whole project, and the exit codes every fedtest command shares.

A FedtestError is a failure a user can act on: `str(err)` is one line naming the problem and the
fix. Providers, the results pipeline and the dashboard checker raise subclasses of it; the command
line turns any of them into that one line and the class's exit code.
"""

from __future__ import annotations

from typing import ClassVar

# Exit codes of every `fedtest` command (and of a pytest run with the plugin, for the first three).
EXIT_OK = 0  # done, and the verdict passed
EXIT_FAILED = 1  # done, and the verdict failed (tests, infra, lint or uploads): see finished.json
EXIT_USAGE = 2  # bad input or an environment that cannot work: nothing (or nothing more) was done
EXIT_UNEXPECTED = 3  # a defect in fedtest: one line instead of a traceback; results still finished
EXIT_INTERRUPTED = 130  # SIGINT or SIGTERM: what could still be published was, as ABORTED

EXIT_CODES = {
    EXIT_OK: "done, verdict passed",
    EXIT_FAILED: "done, verdict failed (tests, infra, lint or uploads; see finished.json)",
    EXIT_USAGE: "bad input or an environment that cannot work (one line says the problem and the fix)",
    EXIT_UNEXPECTED: "unexpected error in fedtest itself (one line; a build already claimed is still finished)",
    EXIT_INTERRUPTED: "interrupted by SIGINT or SIGTERM (a claimed build is finished as ABORTED)",
}


class FedtestError(Exception):
    """A failure a user can act on; str(err) is one line: the problem, then the fix."""

    exit_code: ClassVar[int] = EXIT_USAGE

    def __init__(self, problem: str, fix: str = "") -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}: {fix}" if fix else problem)


def one_line(err: BaseException, limit: int = 300) -> str:
    """Any exception as one line: a FedtestError as it is, anything else with its type."""
    if isinstance(err, FedtestError):
        return str(err)
    first = (str(err).splitlines() or [""])[0][:limit]
    return f"{type(err).__name__}: {first}" if first else type(err).__name__
