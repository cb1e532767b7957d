"""build-log.txt: the run's console output, as the person watching the terminal saw it, as it happens.

pytest's terminal reporter writes to one file object; wrapping it in a tee copies every line
(test progress, failures, the infra summary) into the log. Under pytest-xdist this is the
controller's console, which already carries what the workers report. Every complete line is
flushed to both at once: under Jenkins stdout is a pipe, and a run killed with SIGKILL still
leaves the log up to its last line for `fedtest abort` to publish.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import IO, Any

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class Tee:
    """A text stream that writes to `primary` and to a log file (without terminal colour codes)."""

    def __init__(self, primary: IO[str], log: IO[str]) -> None:
        self.primary = primary
        self.log = log
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        written = self.primary.write(text)
        line_done = "\n" in text
        if line_done:
            self.primary.flush()
        with self._lock:
            if not self.log.closed:
                self.log.write(_ANSI.sub("", text))
                if line_done:
                    self.log.flush()
        return written

    def flush(self) -> None:
        self.primary.flush()
        with self._lock:
            if not self.log.closed:
                self.log.flush()

    def __getattr__(self, name: str) -> Any:  # isatty, encoding, fileno ... of the terminal
        return getattr(self.primary, name)


class ConsoleLog:
    """Tee a pytest TerminalWriter's output into `path` from start() to stop()."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: Any = None
        self._original: IO[str] | None = None
        self._file: IO[str] | None = None

    def start(self, terminal_writer: Any) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "w", encoding="utf-8", errors="replace")  # noqa: SIM115 - lives until stop()
        if terminal_writer is None:
            return
        self._writer = terminal_writer
        # TerminalWriter keeps its stream in `_file`; there is no public setter.
        self._original = terminal_writer._file
        terminal_writer._file = Tee(self._original, self._file)

    def write(self, line: str) -> None:
        """A line for the log only (e.g. what happened after the terminal summary)."""
        if self._file is not None and not self._file.closed:
            self._file.write(line.rstrip("\n") + "\n")
            self._file.flush()

    def flush(self) -> None:
        """Everything written so far is in the file (call before the file is uploaded)."""
        if self._file is not None and not self._file.closed:
            self._file.flush()

    def stop(self) -> None:
        if self._writer is not None and self._original is not None:
            self._writer._file = self._original
        if self._file is not None:
            self._file.close()
