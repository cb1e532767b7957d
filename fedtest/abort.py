"""SIGTERM, SIGINT and the run's deadline, turned into one orderly abort.

The first signal (or the deadline, `reserve_seconds` before it expires) sets a flag, records the reason
and calls `on_abort` once; nothing is raised, so the current test ends and teardown runs normally.
If the tests have not stopped `grace_seconds` later (a test stuck in a wait), or a second signal comes,
KeyboardInterrupt is raised in the main thread: pytest still runs fixture teardown and sessionfinish.
`budget()` tells teardown and publishing how long they may take: the reserve after a signal, or what
is left before the deadline. `signal_count` and `last_signal_at` let publishing tell a signal that
arrives while it runs (which may cut it short, by what the reserve cannot fit) from one that came during
the tests (which cuts nothing).

fedtest.lifecycle installs it before started.json is written and settles it when the tests are over;
`fedtest publish` installs one of its own, so a signal while uploading still ends in finished.json
(ABORTED). Under pytest-xdist only the controller decides; workers stop after their current test.
"""

from __future__ import annotations

import _thread
import math
import signal
import threading
import time
from collections.abc import Callable, Iterable

DEFAULT_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class AbortController:
    """One abort per run, from a signal or the deadline: a flag, a reason, a callback and a budget."""

    def __init__(
        self,
        *,
        deadline_seconds: float | None = None,
        reserve_seconds: float = 120.0,
        grace_seconds: float | None = 30.0,
        on_abort: Callable[[str], None] | None = None,
        signals: Iterable[int] = DEFAULT_SIGNALS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if deadline_seconds is not None and deadline_seconds <= reserve_seconds:
            raise ValueError(
                f"deadline {deadline_seconds}s leaves no time beyond the {reserve_seconds}s reserve"
            )
        self.deadline_seconds = deadline_seconds
        self.reserve_seconds = reserve_seconds
        self.grace_seconds = grace_seconds
        self.on_abort = on_abort
        self.signals = tuple(signals)
        self.clock = clock
        self.reason: str | None = None
        self._event = threading.Event()
        self._settled = threading.Event()
        self._lock = threading.Lock()
        self._previous: dict[int, object] = {}
        self._timers: list[threading.Timer] = []
        self._hard_deadline = math.inf
        self._signals_seen = 0
        self._interrupting = False
        self.last_signal_at: float | None = None  # clock() when the latest signal came

    @property
    def aborted(self) -> bool:
        return self._event.is_set()

    @property
    def signal_count(self) -> int:
        """How many SIGTERM/SIGINT came so far: publishing tells a signal during it from one before it."""
        return self._signals_seen

    @property
    def event(self) -> threading.Event:
        """Set on abort: for code that waits on an Event (the conformance tester)."""
        return self._event

    def install(self) -> AbortController:
        """Install signal handlers (main thread only) and start the deadline timer."""
        for signum in self.signals:
            self._previous[signum] = signal.signal(signum, self._on_signal)
        if self.deadline_seconds is not None:
            self._hard_deadline = self.clock() + self.deadline_seconds
            self._start_timer(self.deadline_seconds - self.reserve_seconds, lambda: self.trigger("deadline"))
        return self

    def uninstall(self) -> None:
        """Restore the previous handlers and stop the timers."""
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()
        for timer in self._timers:
            timer.cancel()

    def _start_timer(self, seconds: float, action: Callable[[], None]) -> None:
        timer = threading.Timer(max(seconds, 0.0), action)
        timer.daemon = True
        timer.start()
        self._timers.append(timer)

    def _on_signal(self, signum: int, frame: object) -> None:
        if self._interrupting and not self._settled.is_set():
            self._interrupting = False
            raise KeyboardInterrupt(f"tests did not stop within {self.grace_seconds}s of the abort")
        self.last_signal_at = self.clock()
        self._signals_seen += 1
        if self._signals_seen > 1 and not self._settled.is_set():
            raise KeyboardInterrupt(f"second {signal.Signals(signum).name}")
        self.trigger(signal.Signals(signum).name)

    def trigger(self, reason: str) -> bool:
        """Abort with `reason`; the first call wins. Returns True when this call aborted the run."""
        with self._lock:
            if self._event.is_set():
                return False
            self.reason = reason
            self._hard_deadline = min(self._hard_deadline, self.clock() + self.reserve_seconds)
            self._event.set()
        if self.on_abort is not None:
            self.on_abort(reason)
        if self.grace_seconds is not None:
            self._start_timer(self.grace_seconds, self._interrupt_if_unsettled)
        return True

    def _interrupt_if_unsettled(self) -> None:
        """A real SIGINT to the main thread: unlike _thread.interrupt_main it also breaks blocking waits."""
        if self._settled.is_set():
            return
        if signal.SIGINT in self._previous:
            self._interrupting = True
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
        else:
            _thread.interrupt_main()

    def settle(self) -> None:
        """The tests are over and teardown begins: no KeyboardInterrupt is raised after this."""
        self._settled.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run is aborted (True) or `timeout` passes (False)."""
        return self._event.wait(timeout)

    def remaining(self) -> float:
        """Seconds left before the hard deadline (infinite without a deadline and before any abort)."""
        return max(0.0, self._hard_deadline - self.clock())

    def budget(self) -> float:
        """Seconds teardown and publishing may take now: never more than the reserve after an abort."""
        left = self.remaining()
        return left if math.isfinite(left) else self.reserve_seconds
