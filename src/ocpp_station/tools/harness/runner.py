"""Run conformance cases, each against a fresh station with a fresh data directory, and report.

For every case the runner starts a `ScriptedCsms`, builds the station (factory), opens the test bench,
establishes the general pre-conditions of OCTT document §1.3 unless the case boots the station itself,
runs the case under an overall time limit, powers the station off and stops every server it started —
whatever the outcome.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import time
import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from ocpp_station.shell.provisioning import enrol, install_roots
from ocpp_station.tools.harness.case import CaseContext, NotApplicable, TestCase
from ocpp_station.tools.harness.cases import REGISTRY
from ocpp_station.tools.harness.control_client import ControlClient
from ocpp_station.tools.harness.csms import CaseFailure, ScriptedCsms
from ocpp_station.tools.harness.pki import AUTHORIZATION_KEY, CPO_NAME, HarnessPki, SecuritySetup, Tls
from ocpp_station.tools.harness.report import (
    CaseResult,
    Outcome,
    render_certificate,
    render_performance,
    render_results,
    write_junit,
)
from ocpp_station.tools.harness.settings import HarnessSettings
from ocpp_station.tools.harness.states import general_preconditions
from ocpp_station.tools.harness.station_under_test import (
    StationFactory,
    StationUnderTest,
    for_hardware,
    in_process_factory,
    with_config,
)

__all__ = ["certify", "matches", "run_case", "run_cases", "select_cases"]

# --- selection (the pytest -k language: substrings combined with and / or / not / parentheses) ---------

_TOKEN = re.compile(r"\(|\)|[^\s()]+")


def matches(pattern: str, text: str) -> bool:
    """pytest -k semantics: each word is a case-insensitive substring test on `text`."""
    tokens: list[str] = _TOKEN.findall(pattern)
    haystack = text.casefold()
    position = 0

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> str:
        nonlocal position
        if position >= len(tokens):
            raise ValueError(f"incomplete selection expression {pattern!r}")
        position += 1
        return tokens[position - 1]

    def disjunction() -> bool:
        value = conjunction()
        while peek() == "or":
            take()
            value = conjunction() or value
        return value

    def conjunction() -> bool:
        value = negation()
        while peek() == "and":
            take()
            value = negation() and value
        return value

    def negation() -> bool:
        token = take()
        if token == "not":
            return not negation()
        if token == "(":
            value = disjunction()
            if take() != ")":
                raise ValueError(f"unbalanced parentheses in {pattern!r}")
            return value
        if token in ("and", "or", ")"):
            raise ValueError(f"unexpected {token!r} in {pattern!r}")
        return token.casefold() in haystack

    if not tokens:
        return True
    result = disjunction()
    if position != len(tokens):
        raise ValueError(f"unexpected {tokens[position]!r} in {pattern!r}")
    return result


def select_cases(pattern: str | None, registry: Mapping[str, TestCase] = REGISTRY) -> list[TestCase]:
    """The cases whose id / title / profile / module / hardware match `pattern` (None: all), in order."""
    if not pattern:
        return list(registry.values())
    return [case for case in registry.values() if matches(pattern, case.keywords())]


# --- running ----------------------------------------------------------------------------------------------


async def run_case(
    case: TestCase,
    *,
    settings: HarnessSettings,
    station_factory: StationFactory,
    data_root: Path | None = None,
) -> CaseResult:
    """One case against a fresh station; never raises for a station's misbehaviour, only reports it.

    A case that does not apply to the settings' hardware variant runs on the first variant it lists when
    the bench can build it (the in-process station has both cables), else it is not applicable."""
    if settings.hardware_variant not in case.hardware:
        adapted = for_hardware(station_factory, case.hardware[0])
        if adapted is None:
            return CaseResult(case, "not applicable", f"needs hardware {', '.join(case.hardware)}", 0.0, "")
        settings, station_factory = replace(settings, hardware_variant=case.hardware[0]), adapted
    overrides = dict(case.config_overrides)
    if case.security is not None:
        # The station as the Security cases find it (OCTT §2.24): its profile, the key and CpoName configured.
        overrides = {
            "SecurityProfile": str(case.security.profile),
            "AuthorizationKey": AUTHORIZATION_KEY,
            "CpoName": CPO_NAME,
            **overrides,
        }
        # The security notifications of boots and resets may come between the steps of any Security case.
        settings = replace(settings, tolerated_actions=(*settings.tolerated_actions, "SecurityEventNotification"))
    configured = with_config(station_factory, overrides)
    if configured is None:
        wanted = ", ".join(f"{key}={value}" for key, value in overrides.items())
        return CaseResult(case, "not applicable", f"needs a station configured with {wanted}", 0.0, "")
    station_factory = configured
    started = time.monotonic()
    outcome: Outcome = "pass"
    reason = ""
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix=f"octt-{case.tool_id}-pki-", dir=data_root) as pki_dir:
        pki = HarnessPki.create(Path(pki_dir)) if case.security is not None else None
        tls = None if pki is None or case.security is None else pki.server_context(case.security.tls)
        both = case.security is not None and case.security.tls is Tls.EITHER
        csms = ScriptedCsms(settings, ssl_context=tls, plain_too=both)
        await csms.start()
        try:
            outcome, reason = await _run_on_bench(case, settings, station_factory, data_root, csms, pki, notes)
        finally:
            await csms.stop()
    if csms.violations and not any(violation in reason for violation in csms.violations):
        reason = "; ".join(filter(None, [reason, "protocol violations: " + "; ".join(csms.violations)]))
        if outcome == "pass":
            outcome = "fail"
    return CaseResult(
        case,
        outcome,
        reason,
        time.monotonic() - started,
        csms.format_log(),
        tuple(csms.timings),
        tuple(notes),
    )


def _provision(setup: SecuritySetup, pki: HarnessPki, data_dir: Path, charge_box_id: str) -> None:
    """Manufacturing / installation (§2.6.4): what the case's bench has installed before power-on."""
    install_roots(
        data_dir,
        charge_box_id,
        central_system_roots=[pki.cpo.pem],
        manufacturer_roots=[pki.maker.pem] if setup.manufacturer_root else [],
    )
    if setup.enrol:
        enrol(data_dir, charge_box_id, pki.cpo, serial_number="OCTT-ENROLLED", cpo_name=CPO_NAME)


async def _run_on_bench(
    case: TestCase,
    settings: HarnessSettings,
    station_factory: StationFactory,
    data_root: Path | None,
    csms: ScriptedCsms,
    pki: HarnessPki | None,
    notes: list[str],
) -> tuple[Outcome, str]:
    outcome: Outcome = "pass"
    reason = ""
    try:
        with tempfile.TemporaryDirectory(prefix=f"octt-{case.tool_id}-", dir=data_root) as data_dir:
            if case.security is not None and pki is not None:
                _provision(case.security, pki, Path(data_dir), settings.charge_box_id)
            station = station_factory(csms.url, Path(data_dir))
            try:
                await station.open()
                async with ControlClient(station.control_url) as control:
                    ctx = CaseContext(csms, station, control, settings, notes, pki)
                    async with asyncio.timeout(settings.case_timeout):
                        if case.booted:
                            await general_preconditions(ctx)
                        await case.run(ctx)
            finally:
                await _close(station, settings)
        # Frames the station sent up to (and while) powering off are under the same rules.
        csms.raise_if_violations()
    except NotApplicable as exc:
        outcome, reason = "not applicable", str(exc)
    except CaseFailure as failure:
        outcome, reason = "fail", str(failure)
    except TimeoutError:
        outcome, reason = "fail", f"the case did not finish within {settings.case_timeout:g} s"
    except Exception as exc:  # a crash of the harness or of the in-process station: not a verdict
        outcome = "error"
        reason = f"{type(exc).__name__}: {exc}\n" + "".join(traceback.format_exception(exc)[-6:])
    return outcome, reason


class StationShutdownError(Exception):
    """The station did not power off: the bench cannot be reused (never a conformance verdict)."""


async def _close(station: StationUnderTest, settings: HarnessSettings) -> None:
    """Power off and close the bench, bounded in time: a station that hangs on shutdown must not hang
    the whole run. It runs as its own task because a hanging shutdown may also swallow cancellation."""
    closing = asyncio.create_task(station.close())
    done, _ = await asyncio.wait({closing}, timeout=settings.shutdown_timeout)
    if not done:
        closing.cancel()
        raise StationShutdownError(f"the station did not power off within {settings.shutdown_timeout:g} s")
    closing.result()


async def run_cases(
    cases: Iterable[TestCase],
    *,
    settings: HarnessSettings,
    station_factory: StationFactory,
    data_root: Path | None = None,
    progress: TextIO | None = None,
) -> list[CaseResult]:
    results = []
    for case in cases:
        result = await run_case(case, settings=settings, station_factory=station_factory, data_root=data_root)
        if progress is not None:
            progress.write(result.describe() + "\n")
            progress.flush()
        results.append(result)
    return results


def render_report(results: Sequence[CaseResult], settings: HarnessSettings) -> str:
    return "\n\n".join(
        [
            "Test cases",
            render_results(results),
            "Certificate (OCTT 1.6, Charge Point under test)",
            render_certificate(results),
            "Performance",
            render_performance(results, settings),
        ]
    )


async def certify(
    pattern: str | None,
    junit_path: Path | None,
    out: TextIO,
    *,
    settings: HarnessSettings | None = None,
    station_factory: StationFactory | None = None,
) -> int:
    """Run the selected cases against the in-process station; 0 when all of them passed.

    Exit codes follow pytest: 1 some case failed, 4 bad selection expression, 5 nothing selected.
    """
    settings = settings or HarnessSettings()
    factory = station_factory or in_process_factory(settings.charge_box_id)
    try:
        cases = select_cases(pattern)
    except ValueError as exc:
        out.write(f"certify: {exc}\n")
        return 4
    if not cases:
        out.write(f"certify: no case matches {pattern!r}\n")
        return 5
    results = await run_cases(cases, settings=settings, station_factory=factory, progress=out)
    out.write("\n" + render_report(results, settings) + "\n")
    if junit_path is not None:
        write_junit(results, junit_path)
    return 1 if any(result.failed for result in results) else 0
