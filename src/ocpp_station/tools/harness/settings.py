"""The tester's settings: the `<Configured ...>` values of the OCTT test case document.

OCTT asks the tester for these before a run (octt16-testcases.md §0.3); every case reads them from one
frozen `HarnessSettings`, so a run is reproducible from its settings alone. The defaults are chosen to
keep the suite fast (a 2 s heartbeat) while the timing tolerances stay generous enough that a slow or
loaded machine does not turn a correct station into a failure.
"""

from __future__ import annotations

from dataclasses import dataclass

# Hardware variants of the OCTT document: several cases exist in a fixed-cable and a detachable-cable
# flavour (e.g. TC_017_1 / TC_017_2) and only the one matching the station under test applies.
FIXED_CABLE = "fixed-cable"
DETACHABLE = "detachable"
HARDWARE_VARIANTS: tuple[str, ...] = (FIXED_CABLE, DETACHABLE)


@dataclass(frozen=True, slots=True)
class HarnessSettings:
    # --- identity of the station under test --------------------------------------------------------
    charge_box_id: str = "OCTT_CP_1"
    hardware_variant: str = FIXED_CABLE  # the product's default build has a fixed cable

    # --- <Configured ...> values (OCTT document §2, octt16-testcases.md §0.3) -------------------------
    connector_id: int = 1  # <Configured ConnectorId>
    valid_id_tag: str = "OCTT_VALID_1"  # <Configured Valid IdTag>   (IdToken = CiString20)
    valid_id_tag_2: str = "OCTT_VALID_2"  # <Configured Valid IdTag 2>
    invalid_id_tag: str = "OCTT_INVALID_1"  # <Configured Invalid IdTag>
    parent_id_tag: str = "OCTT_PARENT_1"  # <Configured ParentId>
    heartbeat_interval: int = 2  # <Configured Heartbeat interval>, seconds (BootNotification.conf interval)
    meter_value_interval: int = 3  # <Configured Meter Value interval> (MeterValueSampleInterval), seconds
    clock_aligned_interval: int = 10  # <Configured Clock Aligned Data interval>, seconds
    connection_timeout: int = 5  # <Configured connectionTimeout> (ConnectionTimeOut), seconds
    # The interval of a Rejected / Pending BootNotification.conf (TC_001 step 2, TC_002 step 2): long
    # enough that TC_002's GetConfiguration + ChangeConfiguration finish while the station is Pending.
    boot_retry_interval: int = 3
    transaction_duration: float = 3.0  # <Configured Transaction Duration>: the wait proving "nothing happens"
    # Smart Charging (OCTT document §2.22): the profiles' and the GetCompositeSchedule.req's values.
    charging_rate_unit: str = "A"  # <Configured chargingRateUnit>: "A", or "W" (the tool multiplies limits by 1000)
    number_phases: int = 3  # <Configured numberPhases>
    stack_level: int = 0  # <Configured StackLevel>
    charging_schedule_duration: int = 300  # <Configured duration>, seconds (profile and composite schedule)
    max_time_deviation: int = 3  # <Configured max time deviation>, seconds (clocks; profiles start this early)
    # Reservation (§2.20): expiryDate = now + this (TC_047 waits for it; other cases reserve for an hour).
    reservation_expiry_offset: int = 3  # <Configured Reservation Expiry Date Offset>, seconds
    # Firmware Management (§2.18, §2.19): None = the harness serves them itself from an FTP server on
    # 127.0.0.1 (a valid and an invalid image of the simulated station, a writable log directory).
    firmware_location: str | None = None  # <Configured firmware location>
    invalid_firmware_location: str | None = None  # <Configured invalid firmware location>
    log_location: str | None = None  # <Configured log location> (GetDiagnostics upload directory)

    # --- how long the tool waits --------------------------------------------------------------------
    connect_timeout: float = 20.0  # power-on → WebSocket connection + BootNotification.req
    message_timeout: float = 10.0  # <Configured message timeout>: an expected station request
    response_timeout: float = 15.0  # a .conf to our request (the certificate's "OCPP response time" limit)
    case_timeout: float = 180.0  # a whole case, preconditions included
    shutdown_timeout: float = 15.0  # powering the station off and closing the bench after a case

    # --- timing tolerances (periodic messages) ---------------------------------------------------------
    # A period is accepted in [expected - early, expected + late]. Early stays tight (a timer firing early
    # is a real defect); late is generous because a loaded machine delays timers, never advances them.
    early_tolerance: float = 0.5
    late_tolerance: float = 3.0

    # --- messages a case tolerates between the expected ones unless it says otherwise ---------------------
    # Heartbeat and MeterValues are periodic and may legitimately interleave with any scenario step.
    tolerated_actions: tuple[str, ...] = ("Heartbeat", "MeterValues")

    # --- certificate performance limits (OCA certification procedure, Document 1, Appendix A.2 PICS) ---
    remote_start_limit: float = 3.0  # "Response time for RemoteStartTransaction"
    response_time_limit: float = 15.0  # "OCPP response time"
    triggered_time_limit: float = 40.0  # "OCPP triggered-function time"

    @property
    def valid_id_tags(self) -> tuple[str, ...]:
        """The idTags the tool's Authorize / StartTransaction answer Accepted."""
        return (self.valid_id_tag, self.valid_id_tag_2, self.parent_id_tag)

    def __post_init__(self) -> None:
        if self.hardware_variant not in HARDWARE_VARIANTS:
            raise ValueError(f"hardware_variant must be one of {HARDWARE_VARIANTS}")
        for tag in (self.valid_id_tag, self.valid_id_tag_2, self.invalid_id_tag, self.parent_id_tag):
            if not 0 < len(tag) <= 20:
                raise ValueError(f"idTag {tag!r} is not a CiString20 (OCPP 1.6 §7.28 IdToken)")
        if self.heartbeat_interval <= 0 or self.boot_retry_interval <= 0:
            raise ValueError("intervals must be positive")
        if self.charging_rate_unit not in ("A", "W"):
            raise ValueError("charging_rate_unit must be A or W (OCPP 1.6 §7.12 ChargingRateUnitType)")
        if not 1 <= self.number_phases <= 3:
            raise ValueError("number_phases must be 1, 2 or 3")
