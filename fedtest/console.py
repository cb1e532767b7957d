"""build-log.txt: the run's console output, as the person watching the terminal saw it, as it happens.

pytest's terminal reporter writes to one file object; wrapping it in a tee copies every line
(test progress, failures, the infra summary) into the log. Under pytest-xdist this is the
controller's console, which already carries what the workers report. Every complete line is
flushed to both at once: under Jenkins stdout is a pipe, and a run killed with SIGKILL still
leaves the log up to its last line for `fedtest abort` to publish.

The log is written first and the terminal second, and a terminal that goes away (Jenkins' abort kills
tox, which held the other end of the pipe: EPIPE) is replaced by /dev/null on the same descriptor: the
run keeps writing its log and finishes its record, and nothing later dies on a broken pipe (not pytest's
reporter, not the interpreter's last flush). The log file is created fresh through upload.files: a
build-log.txt that is a link is removed, never written through.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from pathlib import Path
from typing import IO, Any

from upload import files

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _silence(stream: IO[str]) -> None:
    """Point the stream's descriptor at /dev/null: every later write to it (anyone's) succeeds, unseen."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        null = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.dup2(null, stream.fileno())
        finally:
            os.close(null)


class Tee:
    """A text stream that writes to `primary` and to a log file (without terminal colour codes)."""

    def __init__(self, primary: IO[str], log: IO[str]) -> None:
        self.primary = primary
        self.log = log
        self.terminal_gone = False
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        line_done = "\n" in text
        with self._lock:
            if not self.log.closed:
                self.log.write(_ANSI.sub("", text))
                if line_done:
                    self.log.flush()
        self._to_terminal(lambda: self.primary.write(text), line_done)
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if not self.log.closed:
                self.log.flush()
        self._to_terminal(lambda: None, True)

    def _to_terminal(self, write: Any, flush: bool) -> None:
        if self.terminal_gone:
            return
        try:
            write()
            if flush:
                self.primary.flush()
        except (OSError, ValueError):  # EPIPE, EIO, a closed stream: the terminal is gone, the run goes on
            self.terminal_gone = True
            _silence(self.primary)

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
        # A fresh file, created without following links (a build-log.txt link is replaced, not written through).
        self._file = os.fdopen(files.open_log(self.path), "w", encoding="utf-8", errors="replace")
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
