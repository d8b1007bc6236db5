"""What a conformance case is (metadata + an async function) and what it gets to work with."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ocpp_station.tools.harness.control_client import ControlClient
from ocpp_station.tools.harness.csms import CaseFailure, ScriptedCsms
from ocpp_station.tools.harness.pki import HarnessPki, SecuritySetup
from ocpp_station.tools.harness.settings import HARDWARE_VARIANTS, HarnessSettings
from ocpp_station.tools.harness.station_under_test import StationUnderTest

# The feature profiles as printed on an OCPP 1.6 certificate, in the certificate's order.
CORE = "Core"
FIRMWARE_MANAGEMENT = "Firmware Management"
SMART_CHARGING = "Smart Charging"
RESERVATION = "Reservation"
LOCAL_AUTH_LIST_MANAGEMENT = "Local Auth List Management"
REMOTE_TRIGGER = "Remote Trigger"
SECURITY = "Security"  # the OCPP 1.6 Security whitepaper (edition 3), OCTT document §2.24
PROFILES: tuple[str, ...] = (
    CORE,
    FIRMWARE_MANAGEMENT,
    SMART_CHARGING,
    RESERVATION,
    LOCAL_AUTH_LIST_MANAGEMENT,
    REMOTE_TRIGGER,
    SECURITY,
)


@dataclass(slots=True)
class CaseContext:
    """Everything one case run needs; built fresh by the runner for every case."""

    csms: ScriptedCsms
    station: StationUnderTest
    control: ControlClient
    settings: HarnessSettings
    notes: list[str] = field(default_factory=list)
    pki: HarnessPki | None = None  # the Security cases': the harness as Certificate Authority

    def note(self, text: str) -> None:
        """A remark for the report that does not change the verdict (OCTT's "manual validation" items)."""
        self.notes.append(text)


CaseFunction = Callable[[CaseContext], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class TestCase:
    """One OCTT Charge Point test case (tool id as in the OCTT suite list, e.g. "TC_040_1")."""

    __test__ = False  # not a pytest test class, despite the name

    tool_id: str
    title: str
    profile: str
    module: str  # the OCTT suite module, e.g. "01 Cold Boot"
    section: str  # where the OCTT test case document (FINAL 2024-04) describes it, e.g. "2.1.1"
    run: CaseFunction
    # Which hardware builds the case applies to (OCTT has fixed-cable and detachable-cable variants).
    hardware: tuple[str, ...] = HARDWARE_VARIANTS
    # False: the case starts with the station switched off and powers it on itself (cold-boot cases);
    # True: the runner first establishes the general pre-conditions of OCTT document §1.3.
    booted: bool = True
    # The station variant the case needs, as configuration-key overrides the test bench applies before the
    # station is powered on (e.g. ReserveConnectorZeroSupported=true, read-only over OCPP; a station without
    # the Reservation profile for TC_048_4). Empty: the station as configured for the whole run.
    config_overrides: tuple[tuple[str, str], ...] = ()
    # A Security case: the TLS the tool serves and what is installed on the station before it powers on.
    security: SecuritySetup | None = None

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"{self.tool_id}: unknown profile {self.profile!r}")
        if not set(self.hardware) <= set(HARDWARE_VARIANTS):
            raise ValueError(f"{self.tool_id}: unknown hardware variant in {self.hardware}")

    @property
    def name(self) -> str:
        return f"{self.tool_id} {self.title}"

    def keywords(self) -> str:
        """The text a selection pattern is matched against (like pytest -k)."""
        return " ".join((self.tool_id, self.title, self.profile, self.module, *self.hardware))


class NotApplicable(Exception):
    """The station under test does not meet a case's prerequisite (e.g. TC_043_1 needs a station without the
    Local Auth List Management profile): the verdict is "not applicable", as OCTT skips such a case."""


def check(condition: bool, message: str) -> None:
    """A tool validation of the OCTT document: failing it is the case's verdict Fail."""
    if not condition:
        raise CaseFailure(message)
