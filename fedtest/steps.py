"""One helper for every phase of a run: timed, reported, never raised (kubetest2's WrapStep).

Each infra phase (pre-flight, a cluster's bring-up, teardown, leak checks, diagnostics) runs through
`wrap_step`. Its StepResult becomes one JUnit case, so an infra failure is never mistaken for a test
failure and never hidden. The result is appended to the run's list before anything can interrupt the
caller, so even a KeyboardInterrupt leaves the step on record.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fedtest.errors import one_line
from fedtest.progress import Progress


@dataclass
class StepResult:
    """One infra phase: its JUnit case name, duration, outcome and what it produced."""

    name: str
    seconds: float
    error: str = ""
    properties: dict[str, str] = field(default_factory=dict)
    value: Any = None

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def phase(self) -> str:
        """Setup, Teardown, Diagnostics ... : the part of the name before the colon."""
        return self.name.partition(":")[0]


def wrap_step(
    name: str,
    action: Callable[[], Any],
    *,
    progress: Progress,
    results: list[StepResult],
    properties: dict[str, str] | None = None,
    waiting_for: str = "",
) -> StepResult:
    """Run `action` as the step `name`: a line when it starts, ~every 30 s while it runs, when it ends.

    An Exception becomes the step's one-line error. KeyboardInterrupt (the abort's last resort) is
    recorded as the step's error and raised again.
    """
    start = time.monotonic()
    progress.say(f"{name}: started")
    result = StepResult(name, 0.0, properties=dict(properties or {}))
    try:
        with progress.heartbeat(name, waiting_for or name):
            result.value = action()
    except Exception as err:  # reported as an infra case, never raised into the run
        result.error = one_line(err, limit=2000)
    except BaseException as err:
        result.error = f"interrupted ({one_line(err)})"
        raise
    finally:
        result.seconds = time.monotonic() - start
        results.append(result)
        verdict = "ok" if result.ok else f"FAILED: {result.error}"
        progress.say(f"{name}: {verdict} ({result.seconds:.1f}s)")
    return result
