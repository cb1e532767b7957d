"""Run one function on every cluster of the set in parallel; keep results and errors per cluster."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
X = TypeVar("X")


class FanOutError(AssertionError):
    """Some clusters failed; the message names each one and its error."""


@dataclass
class FanOut(Generic[T]):
    results: dict[str, T] = field(default_factory=dict)
    errors: dict[str, BaseException] = field(default_factory=dict)

    def raise_errors(self, what: str) -> dict[str, T]:
        """The results, or one error naming every cluster that failed and why."""
        if self.errors:
            lines = [f"{name}: {type(err).__name__}: {err}" for name, err in sorted(self.errors.items())]
            raise FanOutError(f"{what} failed in {len(self.errors)} of "
                              f"{len(self.errors) + len(self.results)} clusters:\n  " + "\n  ".join(lines))
        return self.results


def fan_out(fn: Callable[[str, X], T], targets: Mapping[str, X], max_workers: int = 16) -> FanOut[T]:
    """fn(name, target) for every target at once; an exception in one cluster never hides the others."""
    out: FanOut[T] = FanOut()
    if not targets:
        return out
    with ThreadPoolExecutor(max_workers=min(max_workers, len(targets)), thread_name_prefix="fan-out") as pool:
        futures = {name: pool.submit(fn, name, target) for name, target in targets.items()}
        for name, future in futures.items():
            try:
                out.results[name] = future.result()
            except Exception as err:
                out.errors[name] = err
    return out
