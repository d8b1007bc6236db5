"""The fleet command's live progress line: stations connected / booted / charging, msgs/s, errors.

On a terminal the line is rewritten in place every TERMINAL_INTERVAL_S. Anywhere else (a file, a pipe, a
container's log) carriage returns would pile up into one endless line, so a full line is written every
LOG_INTERVAL_S instead. Counting the stations visits every one of them, so nothing is counted when no line is due.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

TERMINAL_INTERVAL_S = 2.0
LOG_INTERVAL_S = 30.0
SLACK_S = 0.1  # a caller that wakes every interval may wake a hair early: that is still the line's turn


class Progress:
    """Writes the line to `stream` when one is due; `counts` and `messages` are read only then."""

    def __init__(
        self,
        stream: TextIO,
        started: float,
        counts: Callable[[], dict[str, int]],
        messages: Callable[[], int],
        errors: Callable[[], int],
    ) -> None:
        self._stream = stream
        self._started = started
        self._counts = counts
        self._messages = messages
        self._errors = errors
        self.terminal = stream.isatty()
        self.interval_s = TERMINAL_INTERVAL_S if self.terminal else LOG_INTERVAL_S
        self._last_t = started
        self._last_messages = 0
        self._written = False

    def update(self, now: float) -> None:
        if now - self._last_t < self.interval_s - SLACK_S:
            return
        c = self._counts()
        messages = self._messages()
        rate = (messages - self._last_messages) / (now - self._last_t)
        self._last_messages, self._last_t = messages, now
        line = (
            f"{now - self._started:6.0f} s  connected {c['connected']}/{c['stations']}  booted {c['booted']}  "
            f"charging {c['charging']}  {rate:7.0f} msgs/s  errors {self._errors()}"
        )
        self._stream.write(f"\r{line}   " if self.terminal else f"{line}\n")
        self._stream.flush()
        self._written = True

    def finish(self) -> None:
        """End the terminal's line, so that what follows starts on a line of its own."""
        if self.terminal and self._written:
            self._stream.write("\n")
            self._stream.flush()
