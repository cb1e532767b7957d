"""Errors of the results pipeline. str(err) is one line naming the problem and the fix."""

from __future__ import annotations

from typing import ClassVar


class UploadError(Exception):
    """A failure a user can act on; the CLI prints it as one `fedtest: error: ...` line."""

    exit_code: ClassVar[int] = 2

    def __init__(self, problem: str, fix: str = "") -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}: {fix}" if fix else problem)


class ConfigError(UploadError):
    """Bad input: a flag, a file, a job name or a build id that cannot work."""


class DuplicateBuild(UploadError):
    """The build already exists in the results target; nothing of this run was written."""


class SinkError(UploadError):
    """The results target refused or failed a write or a read (after retries)."""


class CredentialsError(SinkError):
    """No usable credentials for the bucket."""
