"""Results of a certification run, rendered as the certificate's tables and as JUnit XML."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from ocpp_station.tools.harness.case import (
    CORE,
    FIRMWARE_MANAGEMENT,
    LOCAL_AUTH_LIST_MANAGEMENT,
    PROFILES,
    REMOTE_TRIGGER,
    RESERVATION,
    SECURITY,
    SMART_CHARGING,
    TestCase,
)
from ocpp_station.tools.harness.csms import TimingRecord
from ocpp_station.tools.harness.settings import HarnessSettings

Outcome = Literal["pass", "fail", "error", "not applicable"]

# How many Charge Point cases the OCTT 1.6 suite has per profile (security cases excluded), from the
# tool's suite list (octt16-testcases.md §0.2): what "Not run" is counted against.
OCTT_CASE_COUNTS: Mapping[str, int] = MappingProxyType(
    {
        CORE: 51,
        FIRMWARE_MANAGEMENT: 5,
        SMART_CHARGING: 10,
        RESERVATION: 16,
        LOCAL_AUTH_LIST_MANAGEMENT: 8,
        REMOTE_TRIGGER: 2,
        SECURITY: 15,  # TC_073–TC_087 of §2.24 (TC_082 belongs to Smart Charging)
    }
)


@dataclass(frozen=True, slots=True)
class CaseResult:
    case: TestCase
    outcome: Outcome
    reason: str
    duration: float
    log: str  # the frame log (always kept; printed for failures)
    timings: tuple[TimingRecord, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.outcome == "pass"

    @property
    def failed(self) -> bool:
        return self.outcome in ("fail", "error")

    def describe(self) -> str:
        """The case's verdict, reason and (if it did not pass) frame log, for a failure message."""
        lines = [f"{self.case.name}: {self.outcome.upper()} ({self.duration:.1f} s)"]
        if self.reason:
            lines.append(f"  reason: {self.reason}")
        lines.extend(f"  note: {note}" for note in self.notes)
        if self.failed and self.log:
            lines.append("  frame log:")
            lines.extend("    " + line for line in self.log.splitlines())
        return "\n".join(lines)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def render_certificate(results: Sequence[CaseResult]) -> str:
    """One row per profile with counts: Pass only when every case of the profile ran and passed (as on
    a certificate); Incomplete when the ones that ran passed but some did not run; Fail; not run."""
    rows = []
    for profile in PROFILES:
        ran = [r for r in results if r.case.profile == profile and r.outcome != "not applicable"]
        passed = sum(1 for r in ran if r.passed)
        failed = sum(1 for r in ran if r.failed)
        not_run = max(OCTT_CASE_COUNTS[profile], passed + failed) - passed - failed
        if failed:
            verdict = "Fail"
        elif not passed:
            verdict = "not run"
        else:
            verdict = "Pass" if not_run == 0 else "Incomplete"
        rows.append([profile, verdict, str(passed), str(failed), str(not_run)])
    return _table(["Profile", "Result", "Passed", "Failed", "Not run"], rows)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation: every reported value was actually measured)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class _Measurement:
    title: str
    limit: Callable[[HarnessSettings], float]
    selects: Callable[[TimingRecord], bool]


# The performance rows of an OCPP 1.6 certificate (OCA certification procedure, PICS A.2; our
# reading in octt16-testcases.md §9):
#  * Response time for RemoteStartTransaction: our RemoteStartTransaction.req sent → its CallResult
#    received (a response time; RemoteStartTransaction.req → the StartTransaction.req it causes is a
#    triggered-function time and counts in the third row);
#  * OCPP response time: any request of ours → the station's CallResult/CallError;
#  * triggered-function time: any request of ours → a station request resulting from it.
_MEASUREMENTS: tuple[_Measurement, ...] = (
    _Measurement(
        "Response time for RemoteStartTransaction",
        lambda s: s.remote_start_limit,
        lambda t: t.kind == "response" and t.request == "RemoteStartTransaction" and t.result == "CallResult",
    ),
    _Measurement("OCPP response time", lambda s: s.response_time_limit, lambda t: t.kind == "response"),
    _Measurement("OCPP triggered-function time", lambda s: s.triggered_time_limit, lambda t: t.kind == "triggered"),
)


def _duration(seconds: float) -> str:
    # The certificate prints seconds; the station answers in milliseconds, so show what was measured.
    return f"{seconds:.3f} s" if seconds >= 1 else f"{seconds * 1000:.2f} ms"


def render_performance(results: Sequence[CaseResult], settings: HarnessSettings) -> str:
    timings = [timing for result in results for timing in result.timings]
    rows = []
    for measurement in _MEASUREMENTS:
        values = [t.seconds for t in timings if measurement.selects(t)]
        limit = measurement.limit(settings)
        if values:
            p50, p99 = percentile(values, 0.50), percentile(values, 0.99)
            verdict = "Pass" if p99 <= limit else "Fail"
            rows.append([measurement.title, f"{limit:g} s", str(len(values)), _duration(p50), _duration(p99), verdict])
        else:
            rows.append([measurement.title, f"{limit:g} s", "0", "-", "-", "no data"])
    return _table(["Measurement", "Limit", "Samples", "p50", "p99", "Result"], rows)


def render_results(results: Sequence[CaseResult]) -> str:
    lines = []
    for result in results:
        lines.append(f"{result.outcome.upper():<14} {result.case.name} ({result.duration:.1f} s)")
        if result.reason and not result.passed:
            lines.append(f"               {result.reason}")
    return "\n".join(lines)


def write_junit(results: Sequence[CaseResult], path: Path) -> None:
    suite = ET.Element(
        "testsuite",
        name="OCTT 1.6 Charge Point",
        tests=str(len(results)),
        failures=str(sum(1 for r in results if r.outcome == "fail")),
        errors=str(sum(1 for r in results if r.outcome == "error")),
        skipped=str(sum(1 for r in results if r.outcome == "not applicable")),
        time=f"{sum(r.duration for r in results):.3f}",
    )
    for result in results:
        element = ET.SubElement(
            suite,
            "testcase",
            classname=f"octt16.{result.case.profile.replace(' ', '')}.{result.case.module}",
            name=result.case.name,
            time=f"{result.duration:.3f}",
        )
        if result.outcome == "not applicable":
            ET.SubElement(element, "skipped", message=result.reason)
        elif result.failed:
            tag = "failure" if result.outcome == "fail" else "error"
            failure = ET.SubElement(element, tag, message=result.reason)
            failure.text = result.log
        if result.notes:
            ET.SubElement(element, "system-out").text = "\n".join(result.notes)
    root = ET.Element("testsuites")
    root.append(suite)
    tree = ET.ElementTree(root)
    ET.indent(tree)
    path.parent.mkdir(parents=True, exist_ok=True)
    tree.write(path, encoding="utf-8", xml_declaration=True)
