"""The run's stop signal inside provider waits: every wait and command ends promptly when the run aborts.

A stop signal is anything with `wait(timeout) -> bool` that returns True once the run is stopping:
`threading.Event` and fedtest's AbortController both fit. Waits sleep on it instead of `time.sleep`,
and commands poll it while they run, so SIGTERM during a bring-up or a disruption ends the call in
well under a second instead of at the wait's own deadline.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol, TypeVar

from google.api_core import retry as api_retry

from providers.base import ProviderError

T = TypeVar("T")
POLL_SECONDS = 0.1  # how often a running command looks at the stop signal


class StopSignal(Protocol):
    def wait(self, timeout: float | None = None) -> bool:
        """True once the run is stopping (at once if it already is); False after `timeout`."""
        ...


class Stopped(ProviderError):
    """The run's stop signal ended a wait or a command before it finished."""


NEVER: StopSignal = threading.Event()  # a stop signal that is never set: for callers outside a run


def stopped(stop: StopSignal) -> bool:
    return stop.wait(0)


def check(stop: StopSignal, what: str) -> None:
    """Raise Stopped naming `what` if the run is stopping."""
    if stopped(stop):
        raise Stopped(f"{what} interrupted: the run is stopping", "nothing to do: teardown follows")


def sleep(seconds: float, stop: StopSignal, what: str) -> None:
    """Sleep `seconds`, or raise Stopped as soon as the run stops."""
    if stop.wait(max(0.0, seconds)):
        check(stop, what)


def run(argv: Sequence[str], timeout: float, stop: StopSignal, what: str,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """subprocess.run with the stop signal: on abort the process is killed and Stopped raised.

    Raises subprocess.TimeoutExpired after `timeout`, like subprocess.run.
    """
    check(stop, what)
    started = time.monotonic()
    with subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as proc:
        while True:
            try:
                out, err = proc.communicate(timeout=POLL_SECONDS)
                return subprocess.CompletedProcess(list(argv), proc.returncode, out, err)
            except subprocess.TimeoutExpired:
                if stopped(stop) or time.monotonic() - started >= timeout:
                    proc.kill()
                    proc.communicate()
                    check(stop, what)
                    raise subprocess.TimeoutExpired(list(argv), timeout) from None


def backoff(stop: StopSignal, what: str, initial: float, maximum: float, multiplier: float = 2.0,
            until: float | None = None) -> Iterator[float]:
    """A sleep generator for google-api-core's retry_target: exponential backoff (the library's own),
    slept here on the stop signal, so a retry loop ends (Stopped) as soon as the run stops."""
    for delay in api_retry.exponential_sleep_generator(initial, maximum, multiplier):
        if until is not None:
            delay = min(delay, max(0.0, until - time.monotonic()))
        sleep(delay, stop, what)
        yield 0.0


def retrying(target: Callable[[], T], *, retry_on: tuple[type[BaseException], ...], stop: StopSignal, what: str,
             timeout: float, initial: float = 0.2, maximum: float = 3.0, multiplier: float = 2.0) -> T:
    """retry_target with a stop-aware backoff; raises google.api_core RetryError when `timeout` passes."""
    until = time.monotonic() + timeout
    return api_retry.retry_target(target, api_retry.if_exception_type(*retry_on),
                                  backoff(stop, what, initial, maximum, multiplier, until), timeout=timeout)
