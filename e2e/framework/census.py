"""A watch that counts: how many matching objects existed at once, and in which order they appeared.

The count is taken from the API server's own event order (one list, then one watch), so the peak is
what the cluster held, not what the harness believes it created; it is the proof of a concurrency
bound and of a start order.
"""

from __future__ import annotations

import threading
from typing import Any

from e2e.framework import waits


class Census:
    """`with Census(target, timeout) as census: ...`; then census.peak, census.order, census.error."""

    def __init__(self, target: waits.Target, timeout: float, recheck: float = 1.0) -> None:
        self.target = target
        self.timeout = timeout
        self.recheck = recheck
        self.peak = 0
        self.order: list[str] = []  # names in the order the watch first saw them
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._final: set[str] = set()
        self._listed = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="census", daemon=True)

    def __enter__(self) -> Census:
        self._thread.start()
        self._listed.wait(30)  # counting starts before the caller creates anything
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop once the watch has caught up with a fresh list, so no late event goes uncounted."""
        listing = self.target.list_fn(*self.target.args(), **self.target.call_kwargs(), _request_timeout=(5, 30))
        self._final = {o.metadata.name for o in listing.items if self.target.matches(o)}
        self._stop.set()
        self._thread.join(self.recheck + 60)
        if exc[0] is None and (self.error is not None or self._thread.is_alive()):
            raise AssertionError(f"the census watch did not catch up: {self.error or 'still behind'}")

    def _see(self, objects: dict[str, Any]) -> bool | None:
        self._listed.set()
        self.peak = max(self.peak, len(objects))
        for name in objects:  # a watch event adds at most one: dict order is event order
            if name not in self.order:
                self.order.append(name)
        return True if self._stop.is_set() and set(objects) == self._final else None

    def _watch(self) -> None:
        try:
            waits.watch_until(self.target, self._see, what=f"the census of {self.target.kind}s",
                              timeout=self.timeout, recheck=self.recheck)
        except BaseException as err:
            self.error = err
        finally:
            self._listed.set()
