"""One broken rule = one line naming the file, the entry and the rule."""

from __future__ import annotations

from dataclasses import dataclass

from fedtest.errors import FedtestError


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    entry: str
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.file}: {self.entry}: {self.rule}: {self.detail}"


class CheckError(FedtestError):
    """Input the checker cannot read at all (missing folder, bad YAML): one line, exit 2."""
