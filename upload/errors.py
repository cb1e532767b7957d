"""Errors of the results pipeline. str(err) is one line naming the problem and the fix."""

from __future__ import annotations

from fedtest.errors import FedtestError


class UploadError(FedtestError):
    """A failure of the results pipeline a user can act on (one `fedtest: error: ...` line)."""


class ConfigError(UploadError):
    """Bad input: a flag, a file, a job name or a build id that cannot work."""


class DuplicateBuild(UploadError):
    """The build already exists in the results target; nothing of this run was written."""


class SinkError(UploadError):
    """The results target refused or failed a write or a read (after retries)."""


class CredentialsError(SinkError):
    """No usable credentials for the bucket."""
