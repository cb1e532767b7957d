"""Progress a person can follow without a terminal: lines as the run goes, and a heartbeat while it waits.

Every line goes through one `write` callable, which the plugin points at pytest's terminal writer
(tee'd into build-log.txt and flushed), so Jenkins' console and the published log show the same
thing, as it happens. While a step runs, a heartbeat says every `interval` seconds how long it has
been waiting and for what: the last message the step's thread logged (providers log what they wait
for through the standard `logging` module), else the step's own description. A provider's warning
is a line of its own, at once.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

HEARTBEAT_SECONDS = 30.0


class _LatestPerThread(logging.Handler):
    """Keeps the newest log message of each thread: what that thread is waiting for right now. A warning
    (e.g. a node image that is not pinned) is also said at once: it belongs in the console and the log."""

    def __init__(self, warn: Callable[[str], None]) -> None:
        super().__init__(logging.INFO)
        self.latest: dict[int, str] = {}
        self.warn = warn

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage().splitlines()[0][:500]
            self.latest[record.thread or 0] = message[:200]
            if record.levelno >= logging.WARNING:
                self.warn(f"warning: {message}")
        except Exception:  # a bad log call must not break the run
            self.handleError(record)


class Progress:
    """Lines for the console and the build log, each written and flushed at once."""

    def __init__(self, write: Callable[[str], None] = print, interval: float = HEARTBEAT_SECONDS,
                 prefix: str = "fedtest: ") -> None:
        self.write = write
        self.interval = interval
        self.prefix = prefix
        self._lock = threading.Lock()
        self._closed = False
        self._activity = _LatestPerThread(self.say)
        self._logger = logging.getLogger("providers")  # what providers say they wait for
        self._logger.addHandler(self._activity)
        if self._logger.getEffectiveLevel() > logging.INFO:
            self._logger.setLevel(logging.INFO)

    def close(self) -> None:
        """No more lines: a bring-up thread an abort left behind must not write while the interpreter exits."""
        with self._lock:
            self._closed = True
        self._logger.removeHandler(self._activity)

    def say(self, line: str) -> None:
        with self._lock, contextlib.suppress(Exception):  # a closed console must not stop the run
            if not self._closed:
                self.write(f"{self.prefix}{line}")

    def activity_of(self, thread_id: int) -> str:
        return self._activity.latest.get(thread_id, "")

    @contextmanager
    def heartbeat(self, name: str, waiting_for: str) -> Iterator[None]:
        """While the body runs: every `interval` seconds, `name: waiting Ns: <what>`."""
        thread_id = threading.get_ident()
        stop = threading.Event()
        start = time.monotonic()

        def beat() -> None:
            while not stop.wait(self.interval):
                what = self.activity_of(thread_id) or waiting_for
                self.say(f"{name}: still waiting after {time.monotonic() - start:.0f}s: {what}")

        ticker = threading.Thread(target=beat, name=f"heartbeat {name}", daemon=True)
        ticker.start()
        try:
            yield
        finally:
            stop.set()
            ticker.join(timeout=1.0)
            self._activity.latest.pop(thread_id, None)
