"""The fleet command's progress line: in place on a terminal, whole lines in a log, counted only when due."""

from __future__ import annotations

import io

from ocpp_station.fleet.progress import TERMINAL_INTERVAL_S, Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class FleetFigures:
    """What the progress line reads, and how often it read the stations."""

    def __init__(self) -> None:
        self.messages = 0
        self.counted = 0

    def counts(self) -> dict[str, int]:
        self.counted += 1
        return {"stations": 10, "connected": 9, "booted": 8, "charging": 3}

    def progress(self, stream: io.StringIO) -> Progress:
        return Progress(stream, 100.0, self.counts, lambda: self.messages, lambda: 2)


def test_on_a_terminal_the_line_is_rewritten_in_place_every_two_seconds() -> None:
    figures, stream = FleetFigures(), Terminal()
    progress = figures.progress(stream)
    figures.messages = 400
    progress.update(100.0 + TERMINAL_INTERVAL_S)
    figures.messages = 1000
    progress.update(100.0 + 2 * TERMINAL_INTERVAL_S - 0.001)  # the caller woke a hair early: still its turn
    progress.finish()
    written = stream.getvalue()
    assert written.count("\r") == 2 and written.endswith("\n") and written.count("\n") == 1
    first, second = written.strip("\n").split("\r")[1:]
    assert "2 s  connected 9/10  booted 8  charging 3      200 msgs/s  errors 2" in first
    assert "4 s" in second and "300 msgs/s" in second


def test_in_a_log_a_whole_line_every_thirty_seconds_and_no_count_in_between() -> None:
    figures, stream = FleetFigures(), io.StringIO()
    progress = figures.progress(stream)
    for second in range(2, 61, 2):  # the command looks every 2 s
        figures.messages = 100 * second
        progress.update(100.0 + second)
    progress.finish()
    lines = stream.getvalue().splitlines(keepends=True)
    assert "\r" not in stream.getvalue()
    assert [line.split(" s ")[0].strip() for line in lines] == ["30", "60"]
    assert all(line.endswith("\n") and "100 msgs/s" in line for line in lines)
    assert figures.counted == 2  # the stations are visited only for a line that is written


def test_finish_writes_nothing_when_no_line_was_written() -> None:
    figures, stream = FleetFigures(), Terminal()
    progress = figures.progress(stream)
    progress.update(100.5)
    progress.finish()
    assert stream.getvalue() == "" and figures.counted == 0
