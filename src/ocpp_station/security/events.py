"""The security events of whitepaper §8 and the SecurityEventNotification.req payload (§5.15, A04).

Every event is stored in the security log (A04.FR.04, N01.FR.05); which ones are pushed to the Central System
is the profile's decision: §8 says the critical ones, and A00.FR.309/413, A00.FR.315/419, A00.FR.322/426,
A02.FR.07 and L01.FR.02/03 name non-critical ones that SHALL be sent as well.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from ocpp_station.clock import iso_utc

MAX_TECH_INFO = 255  # §5.15: techInfo string[0..255]


class SecurityEvent(StrEnum):
    """The names exactly as the §8 table spells them (edition 2 removed the stray spaces)."""

    FIRMWARE_UPDATED = "FirmwareUpdated"
    FAILED_TO_AUTHENTICATION_AT_CENTRAL_SYSTEM = "FailedToAuthenticationAtCentralSystem"
    CENTRAL_SYSTEM_FAILED_TO_AUTHENTICATION = "CentralSystemFailedToAuthentication"
    SETTING_SYSTEM_TIME = "SettingSystemTime"
    STARTUP_OF_THE_DEVICE = "StartupOfTheDevice"
    RESET_OR_REBOOT = "ResetOrReboot"
    SECURITY_LOG_WAS_CLEARED = "SecurityLogWasCleared"
    RECONFIGURATION_OF_SECURITY_PARAMETERS = "ReconfigurationOfSecurityParameters"
    MEMORY_EXHAUSTION = "MemoryExhaustion"
    INVALID_MESSAGES = "InvalidMessages"
    ATTEMPTED_REPLAY_ATTACKS = "AttemptedReplayAttacks"
    TAMPER_DETECTION_ACTIVATED = "TamperDetectionActivated"
    INVALID_FIRMWARE_SIGNATURE = "InvalidFirmwareSignature"
    INVALID_FIRMWARE_SIGNING_CERTIFICATE = "InvalidFirmwareSigningCertificate"
    INVALID_CENTRAL_SYSTEM_CERTIFICATE = "InvalidCentralSystemCertificate"
    INVALID_CHARGE_POINT_CERTIFICATE = "InvalidChargePointCertificate"
    INVALID_TLS_VERSION = "InvalidTLSVersion"
    INVALID_TLS_CIPHER_SUITE = "InvalidTLSCipherSuite"

    @property
    def critical(self) -> bool:
        """The §8 table's CRITICAL column."""
        return self in _CRITICAL


_CRITICAL: frozenset[SecurityEvent] = frozenset(
    {
        SecurityEvent.FIRMWARE_UPDATED,
        SecurityEvent.SETTING_SYSTEM_TIME,
        SecurityEvent.STARTUP_OF_THE_DEVICE,
        SecurityEvent.RESET_OR_REBOOT,
        SecurityEvent.SECURITY_LOG_WAS_CLEARED,
        SecurityEvent.MEMORY_EXHAUSTION,
        SecurityEvent.TAMPER_DETECTION_ACTIVATED,
    }
)

# The events this station can meet. Left out, because nothing in it can detect them: TamperDetectionActivated
# (the hardware port has no tamper sensor), MemoryExhaustion (queues are bounded and refuse instead of filling
# up, see queue_limits), AttemptedReplayAttacks (OCPP-J 1.6 messages carry no nonce or signature to tell a
# replay from the Central System's legitimate resend) and SecurityLogWasCleared (nothing clears the log).
STATION_EVENTS: frozenset[SecurityEvent] = frozenset(SecurityEvent) - {
    SecurityEvent.TAMPER_DETECTION_ACTIVATED,
    SecurityEvent.MEMORY_EXHAUSTION,
    SecurityEvent.ATTEMPTED_REPLAY_ATTACKS,
    SecurityEvent.SECURITY_LOG_WAS_CLEARED,
}


def clip_tech_info(text: str) -> str:
    """One line of at most 255 characters (§5.15), so a long exception text can never break the schema."""
    line = " ".join(text.split())
    if len(line) <= MAX_TECH_INFO:
        return line
    return line[: MAX_TECH_INFO - 1] + "…"


def security_event_notification(event: SecurityEvent, timestamp: float, tech_info: str | None = None) -> dict[str, Any]:
    """The SecurityEventNotification.req payload (§5.15): type, timestamp (when it occurred), optional techInfo."""
    payload: dict[str, Any] = {"type": event.value, "timestamp": iso_utc(timestamp)}
    if tech_info:
        clipped = clip_tech_info(tech_info)
        if clipped:
            payload["techInfo"] = clipped
    return payload
