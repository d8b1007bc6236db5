"""The security log and SecurityEventNotification (security whitepaper A04, N01.FR.05, §8).

Every event goes into the rolling security log in the store (A04.FR.04); the ones §8 marks critical and the
ones a requirement names (A00.FR.309/413, A00.FR.315/419, A00.FR.322/426, A02.FR.07, L01.FR.02/03, and
TC_078's InvalidCentralSystemCertificate) also go to the Central System. They travel in the durable
transaction-message queue (A04.FR.02: "queued with a guaranteed delivery"): stored in the same store write
as the log line, sent in causal order after whatever was queued before them, kept across disconnections and
restarts, and retried after a CallError like StartTransaction/StopTransaction (OCPP 1.6 §3.7).
"""

from __future__ import annotations

import logging

from ocpp_station.security.events import (
    SecurityEvent,
    clip_tech_info,
    security_event_notification,
)
from ocpp_station.station.contract import StationContext
from ocpp_station.station.ports import SecurityLogEntry, Store, StoreWriteError

log = logging.getLogger("ocpp_station.security")

# Rolling: about a year of a normal station's events (boots, resets, clock settings) in a few hundred kB.
SECURITY_LOG_KEEP = 5000

# Non-critical events the whitepaper still asks to be sent; the other non-critical ones only go to the log (§8).
_ALSO_SENT: frozenset[SecurityEvent] = frozenset(
    {
        SecurityEvent.INVALID_CENTRAL_SYSTEM_CERTIFICATE,  # A00.FR.309/413, OCTT TC_078
        SecurityEvent.INVALID_TLS_VERSION,  # A00.FR.315/419
        SecurityEvent.INVALID_TLS_CIPHER_SUITE,  # A00.FR.322/426
        SecurityEvent.INVALID_CHARGE_POINT_CERTIFICATE,  # A02.FR.07/A03.FR.07, OCTT TC_077
        SecurityEvent.INVALID_FIRMWARE_SIGNATURE,  # L01.FR.03
        SecurityEvent.INVALID_FIRMWARE_SIGNING_CERTIFICATE,  # L01.FR.02
    }
)
# Critical events of the station's own life. A Central System on security profile 0 may not know the
# whitepaper's messages at all (plain OCPP 1.6, where SecurityEventNotification would be a CallError after every
# boot), so these are pushed once a security profile is configured; they are always in the log. The other
# events only arise from whitepaper messages the Central System itself sent, or from TLS, so they always go.
_PROFILE_GATED: frozenset[SecurityEvent] = frozenset(
    {SecurityEvent.STARTUP_OF_THE_DEVICE, SecurityEvent.RESET_OR_REBOOT, SecurityEvent.SETTING_SYSTEM_TIME}
)


def is_sent(event: SecurityEvent, security_profile: int) -> bool:
    if event in _PROFILE_GATED:
        return security_profile >= 1
    return event.critical or event in _ALSO_SENT


class SecurityLog:
    def __init__(self, station: StationContext, store: Store) -> None:
        self.st = station
        self.store = store

    def record(self, event: SecurityEvent, tech_info: str = "", *, at: float | None = None) -> None:
        """Log `event` (it happened at `at`, default now) and, when it is one to send, queue its notification.

        `tech_info` must never hold a secret: callers pass reasons, not values (A01.FR.12)."""
        when = self.st.now() if at is None else at
        info = clip_tech_info(tech_info)
        try:
            with self.store.atomic():
                self.store.append_security_log(when, event.value, info, SECURITY_LOG_KEEP)
                if is_sent(event, self.st.config.get_int("SecurityProfile")):
                    self.st.enqueue("SecurityEventNotification", security_event_notification(event, when, info), None)
        except StoreWriteError as error:
            # A full or failing disk must not stop the station (e.g. at boot); the event is lost, said once here.
            log.error("%s: security event %s not stored: %s", self.st.charge_box_id, event.value, error)
            return
        log.info("%s: security event %s%s", self.st.charge_box_id, event.value, f": {info}" if info else "")

    def entries(self, start: float | None = None, stop: float | None = None) -> list[SecurityLogEntry]:
        return [
            e for e in self.store.security_log() if (start is None or e.at >= start) and (stop is None or e.at <= stop)
        ]
