"""The Security whitepaper (edition 3) profile: certificates, the station's key pair, security profile changes,
ExtendedTriggerMessage, and what the link reports about its connections.

Pure like every profile: keys, CSRs and certificate checks are computation (`cryptography`); the private key is
written through the `KeyStore` port and the root certificates through the Store port. SignedUpdateFirmware and
GetLog belong to Firmware Management (the file jobs); the security log to `station.security_log`.

- CertificateSigned (A02/A03, TC_074, TC_077): the chain is verified against the installed
  CentralSystemRootCertificates and the key pair made for the last CSR; accepted → the pending key and the chain
  become the ones the next TLS connection presents, and in security profile 3 the station reconnects at once
  with them; rejected → InvalidChargePointCertificate.
- InstallCertificate / DeleteCertificate / GetInstalledCertificateIds (M03–M05, TC_075, TC_076, TC_078).
- ExtendedTriggerMessage (§5.5): every MessageTriggerEnumType value; SignChargePointCertificate makes a new key
  pair after the .conf (A02.FR.02) and sends SignCertificate with a CSR whose O is CpoName (A02.FR.13).
- SecurityProfile (A05, TC_083, TC_084): only upwards, only with the prerequisites in place; after the change
  the station reconnects with the new profile, and falls back to the previous one after
  UPGRADE_ATTEMPTS failed connections (A05.FR.08). AuthorizationKey changes reconnect in profiles 1 and 2 (A01).
"""

from __future__ import annotations

import logging

from ocpp_station.security.certificates import CertificateStore, CertificateUse, InstalledIds
from ocpp_station.security.events import SecurityEvent
from ocpp_station.security.pki import (
    CertificateHashData,
    PemError,
    build_csr,
    certificate_pem,
    generate_key,
    load_private_key_pem,
    parse_certificates,
    private_key_pem,
    validity_problem,
    verify_certificate_chain,
)
from ocpp_station.station.contract import Handler, StationContext
from ocpp_station.station.outbox import Payload
from ocpp_station.station.ports import KeyStore, Store
from ocpp_station.station.profiles.firmware_management import FirmwareManagement
from ocpp_station.station.profiles.remote_trigger import RemoteTrigger
from ocpp_station.station.security_log import SecurityLog

log = logging.getLogger("ocpp_station.security")

# Security whitepaper §2.3: the profile in which the Charge Point certificate is presented.
CLIENT_CERTIFICATE_PROFILE = 3
# A05.FR.08: connections tried with a new security profile before falling back to the previous one.
UPGRADE_ATTEMPTS = 3
META_PREVIOUS_PROFILE = "security.previous_profile"  # set while an upgrade has not yet connected
META_UPGRADE_FAILURES = "security.upgrade_failures"
# A02.FR.10: while a new Charge Point certificate has not connected yet, the failed attempts it may be the cause
# of (a number; "" when no new certificate is on trial). After UPGRADE_ATTEMPTS the previous pair is back.
META_CERTIFICATE_TRIAL = "security.certificate_trial"
META_LAST_RESET = "reset.last"  # written by the Core profile when a Reset was accepted
# §8 SettingSystemTime: a clock moved by more than this (network latency keeps every sync a little off).
CLOCK_STEP_S = 2.0
# A03.FR.02: renew the Charge Point certificate when it expires within a month; ask at most once a day (A03's
# error handling: no automatic retry storm when the CA does not answer).
RENEW_BEFORE_S = 30 * 86_400.0
RENEW_ASK_EVERY_S = 86_400.0
META_RENEWAL_ASKED = "security.renewal_asked_at"


class Security:
    def __init__(
        self,
        station: StationContext,
        store: Store,
        keys: KeyStore,
        *,
        certificates: CertificateStore,
        security_log: SecurityLog,
        firmware: FirmwareManagement,
        remote_trigger: RemoteTrigger,
    ) -> None:
        self.st = station
        self.store = store
        self.keys = keys
        self.certificates = certificates
        self.security_log = security_log
        self.firmware = firmware
        self.remote_trigger = remote_trigger
        self._upgrading_from: int | None = None
        self.peer_roots: frozenset[str] = frozenset()  # roots that verified the live TLS connection (M04.FR.06)
        station.config.guard("SecurityProfile", self._check_profile_change)
        station.config.subscribe(self._on_config_changed)

    def handlers(self) -> dict[str, Handler]:
        return {
            "CertificateSigned": self.certificate_signed,
            "InstallCertificate": self.install_certificate,
            "DeleteCertificate": self.delete_certificate,
            "GetInstalledCertificateIds": self.get_installed_certificate_ids,
            "ExtendedTriggerMessage": self.extended_trigger_message,
        }

    @property
    def profile(self) -> int:
        return self.st.config.get_int("SecurityProfile")

    # -- events from the station's life ----------------------------------------------------------------------
    def on_power_on(self) -> None:
        """§8: StartupOfTheDevice every boot, ResetOrReboot when a Reset caused it."""
        reset = self.store.get_meta(META_LAST_RESET)
        if reset:
            self.store.set_meta(META_LAST_RESET, "")
            self.security_log.record(SecurityEvent.RESET_OR_REBOOT, f"{reset} reset")
        self.security_log.record(SecurityEvent.STARTUP_OF_THE_DEVICE)

    def on_clock_set(self, before: float, after: float) -> None:
        if abs(after - before) > CLOCK_STEP_S:
            self.security_log.record(SecurityEvent.SETTING_SYSTEM_TIME, f"moved by {after - before:+.0f} s", at=after)

    # -- what the link needs and reports ---------------------------------------------------------------------
    def central_system_roots(self) -> list[str]:
        """The PEMs a TLS connection verifies the server with: current roots first, the M05.FR.11 fallback last."""
        from_store = self.certificates.trust_anchors(CertificateUse.CENTRAL_SYSTEM_ROOT)
        return [certificate_pem(c) for c in from_store]

    def on_connection_failed(
        self, event: SecurityEvent | None, detail: str, *, certificate_suspect: bool = False
    ) -> None:
        """A connection attempt failed; `event` when the failure is a security matter (a TLS handshake
        refused: A00.FR.309/315/322/413/419/426). Queued durably, so it is sent once a connection exists.
        `certificate_suspect`: the attempt reached the server and failed in TLS or the WebSocket handshake (or the
        station's certificate could not be loaded), which a new Charge Point certificate may be the cause of."""
        if event is not None:
            self.security_log.record(event, detail)
        previous = self.store.get_meta(META_PREVIOUS_PROFILE)
        if not previous:
            if certificate_suspect:
                self._certificate_on_trial_failed()
            return
        failures = int(self.store.get_meta(META_UPGRADE_FAILURES) or "0") + 1
        if failures < UPGRADE_ATTEMPTS:
            self.store.set_meta(META_UPGRADE_FAILURES, str(failures))
            return
        # A05.FR.08: fall back to the previous profile so the station can still reach its Central System.
        upgraded = self.profile
        with self.store.atomic():
            self.store.set_meta(META_PREVIOUS_PROFILE, "")
            self.store.set_meta(META_UPGRADE_FAILURES, "0")
        self.st.config.set_internal("SecurityProfile", previous)
        log.warning(
            "%s: no connection with security profile %d after %d attempts: back to profile %s (A05.FR.08)",
            self.st.charge_box_id,
            upgraded,
            failures,
            previous,
        )
        self.security_log.record(
            SecurityEvent.RECONFIGURATION_OF_SECURITY_PARAMETERS,
            f"SecurityProfile {upgraded} could not connect, back to {previous}",
        )

    def _certificate_on_trial_failed(self) -> None:
        trial = self.store.get_meta(META_CERTIFICATE_TRIAL)
        if not trial or self.profile != CLIENT_CERTIFICATE_PROFILE:
            return
        failures = int(trial) + 1
        if failures < UPGRADE_ATTEMPTS:
            self.store.set_meta(META_CERTIFICATE_TRIAL, str(failures))
            return
        # A02.FR.10: the old certificate was kept as the fallback; the new one never connected, so back to it.
        try:
            self.keys.restore_previous()
        except OSError as error:
            log.warning(
                "%s: the previous Charge Point certificate cannot be restored: %s", self.st.charge_box_id, error
            )
            detail = f"the new Charge Point certificate could not connect; no previous one to go back to ({error})"
        else:
            log.warning(
                "%s: the new Charge Point certificate could not connect in %d attempts: back to the previous one "
                "(A02.FR.10)",
                self.st.charge_box_id,
                failures,
            )
            detail = f"the new Charge Point certificate could not connect in {failures} attempts: previous restored"
        self.store.set_meta(META_CERTIFICATE_TRIAL, "")
        self.security_log.record(SecurityEvent.INVALID_CHARGE_POINT_CERTIFICATE, detail)

    def on_authentication_rejected(self, detail: str) -> None:
        self.security_log.record(SecurityEvent.FAILED_TO_AUTHENTICATION_AT_CENTRAL_SYSTEM, detail)

    def on_connection_established(self, peer_roots: frozenset[str]) -> None:
        """Connected with the configured profile; `peer_roots`: ids of the roots that verified the server."""
        self.peer_roots = peer_roots
        self._renew_if_expiring()
        if self.store.get_meta(META_CERTIFICATE_TRIAL) and self.profile == CLIENT_CERTIFICATE_PROFILE:
            # A02.FR.10: the new certificate works; the old one, kept as its fallback, goes.
            self.keys.discard_previous()
            self.store.set_meta(META_CERTIFICATE_TRIAL, "")
        if self.store.get_meta(META_PREVIOUS_PROFILE):
            # A05.FR.09: the upgrade holds; there is no way back from here.
            with self.store.atomic():
                self.store.set_meta(META_PREVIOUS_PROFILE, "")
                self.store.set_meta(META_UPGRADE_FAILURES, "0")
        fallback = {
            r.certificate_id
            for r in self.store.certificates()
            if r.fallback and r.use == CertificateUse.CENTRAL_SYSTEM_ROOT.value
        }
        if peer_roots and fallback and not peer_roots & fallback:
            # M05.FR.12: the new root verified the connection, so the fallback root can go.
            self.certificates.confirm_central_system_root()
            log.info("%s: fallback CentralSystemRootCertificate removed (M05.FR.12)", self.st.charge_box_id)

    def _renew_if_expiring(self) -> None:
        """A03: the station itself starts the renewal of a certificate that expires within a month."""
        chain = self.keys.certificate_chain()
        if not chain or not (self.st.config.get("CpoName") or "").strip():
            return
        try:
            leaf = parse_certificates(chain)[0]
        except PemError:
            return
        now = self.st.now()
        if leaf.not_valid_after_utc.timestamp() - now > RENEW_BEFORE_S:
            return
        asked = float(self.store.get_meta(META_RENEWAL_ASKED) or "0")
        if now - asked < RENEW_ASK_EVERY_S:
            return
        self.store.set_meta(META_RENEWAL_ASKED, repr(now))
        log.info("%s: the Charge Point certificate expires within a month: renewing (A03)", self.st.charge_box_id)
        self.sign_charge_point_certificate()

    # -- SecurityProfile and AuthorizationKey (A05, A01) ------------------------------------------------------
    def _check_profile_change(self, value: str) -> str | None:
        current, wanted = self.profile, int(value)
        if wanted <= current:
            return f"security profile {wanted} is not above the current {current} (A05.FR.01)"
        if wanted in (1, 2) and not self.st.config.get("AuthorizationKey"):
            return "no AuthorizationKey configured (A05.FR.02)"
        now = self.st.now()
        if wanted in (2, 3):
            roots = self.certificates.trust_anchors(CertificateUse.CENTRAL_SYSTEM_ROOT)
            if not any(validity_problem(root, now) is None for root in roots):
                return "no valid CentralSystemRootCertificate installed (A05.FR.03)"
        if wanted == CLIENT_CERTIFICATE_PROFILE and self.valid_charge_point_certificate_problem() is not None:
            return "no valid ChargePointCertificate installed (A05.FR.04)"
        self._upgrading_from = current
        return None

    def valid_charge_point_certificate_problem(self) -> str | None:
        chain = self.keys.certificate_chain()
        if not chain:
            return "no Charge Point certificate"
        try:
            leaf = parse_certificates(chain)[0]
        except PemError as error:
            return f"unreadable Charge Point certificate: {error}"
        return validity_problem(leaf, self.st.now())

    def _on_config_changed(self, key: str, value: str) -> None:
        if key == "SecurityProfile" and self._upgrading_from is not None:
            previous, self._upgrading_from = self._upgrading_from, None
            with self.store.atomic():
                self.store.set_meta(META_PREVIOUS_PROFILE, str(previous))
                self.store.set_meta(META_UPGRADE_FAILURES, "0")
            detail = f"SecurityProfile {previous} → {value}"
            self.st.defer(lambda: self._reconfigured(detail, reconnect=True))  # A05.FR.06/07
        elif key == "AuthorizationKey":
            # A01.FR.11/12: logged, never with its value; A01 step 3: reconnect with the new password.
            self.st.defer(lambda: self._reconfigured("AuthorizationKey changed", reconnect=self.profile in (1, 2)))
        elif key == "CpoName":
            self.st.defer(lambda: self._reconfigured("CpoName changed", reconnect=False))

    def _reconfigured(self, detail: str, *, reconnect: bool) -> None:
        self.security_log.record(SecurityEvent.RECONFIGURATION_OF_SECURITY_PARAMETERS, detail)
        if reconnect:
            self.st.request_reconnect(detail)

    # -- A02/A03: the Charge Point certificate ------------------------------------------------------------------
    def sign_charge_point_certificate(self) -> None:
        """A02.FR.02/03: a new key pair, kept pending, and its CSR in SignCertificate.req."""
        key = generate_key()
        try:
            csr = build_csr(
                key, serial_number=self.st.settings.identity.serial_number, cpo_name=self.st.config.get("CpoName") or ""
            )
            self.keys.save_pending_key(private_key_pem(key))
        except (ValueError, OSError) as error:
            log.warning("%s: no SignCertificate sent: %s", self.st.charge_box_id, error)
            return

        def answered(payload: Payload) -> None:
            if payload.get("status") != "Accepted":
                # A02 error handling: an operator has to look at it; the station does not retry on its own.
                log.warning("%s: SignCertificate %s by the Central System", self.st.charge_box_id, payload["status"])

        self.st.send("SignCertificate", {"csr": csr}, answered)

    def certificate_signed(self, req: Payload) -> Payload:
        chain = req["certificateChain"]
        pending = self.keys.pending_key()
        if pending is None:
            reason = "no certificate signing request is pending"
            log.warning("%s: CertificateSigned rejected: %s", self.st.charge_box_id, reason)
            verdict_event: SecurityEvent | None = SecurityEvent.INVALID_CHARGE_POINT_CERTIFICATE
        else:
            verdict = verify_certificate_chain(
                chain,
                roots=self.certificates.trust_anchors(CertificateUse.CENTRAL_SYSTEM_ROOT),
                station_key=load_private_key_pem(pending),
                now=self.st.now(),
                max_chain_size=self.st.config.get_int("CertificateSignedMaxChainSize"),
            )
            reason, verdict_event = verdict.reason, verdict.security_event
            if verdict.accepted:
                # A02.FR.10: the pair in use stays as the fallback until the new one has connected; a second
                # renewal before that keeps the pair that is known to work.
                on_trial = bool(self.store.get_meta(META_CERTIFICATE_TRIAL))
                try:
                    self.keys.activate(chain, keep_previous=not on_trial)
                except OSError as error:
                    reason, verdict_event = f"could not store the certificate: {error}", None
                    log.warning("%s: CertificateSigned rejected: %s", self.st.charge_box_id, reason)
                else:
                    if self.keys.previous_certificate_chain() is not None:
                        self.store.set_meta(META_CERTIFICATE_TRIAL, "0")
                    # A02.FR.08: in use from the next connection; in profile 3 that is now (TC_074 step 7).
                    reconnect = self.profile == CLIENT_CERTIFICATE_PROFILE
                    self.st.defer(lambda: self._reconfigured("Charge Point certificate renewed", reconnect=reconnect))
                    return {"status": "Accepted"}
        if verdict_event is not None:
            event = verdict_event
            self.st.defer(lambda: self.security_log.record(event, reason))  # A02.FR.07, after the .conf
        return {"status": "Rejected"}

    # -- M03–M05 ---------------------------------------------------------------------------------------------
    def install_certificate(self, req: Payload) -> Payload:
        use = CertificateUse(req["certificateType"])
        result = self.certificates.install(use, req["certificate"], now=self.st.now())
        if result.security_event is not None:
            event, reason = result.security_event, result.reason
            self.st.defer(lambda: self.security_log.record(event, reason))
        return {"status": result.status.value}

    def delete_certificate(self, req: Payload) -> Payload:
        chain_text = self.keys.certificate_chain()
        try:
            protected = parse_certificates(chain_text) if chain_text else []
        except PemError:
            protected = []
        result = self.certificates.delete(
            CertificateHashData.from_payload(req["certificateHashData"]),
            in_use=self.peer_roots if self.profile >= 2 else frozenset(),
            protected=protected,
        )
        return {"status": result.status.value}

    def get_installed_certificate_ids(self, req: Payload) -> Payload:
        ids: InstalledIds = self.certificates.installed_ids(CertificateUse(req["certificateType"]))
        return ids.as_payload()

    # -- ExtendedTriggerMessage (§5.5) ------------------------------------------------------------------------
    def extended_trigger_message(self, req: Payload) -> Payload:
        requested = req["requestedMessage"]
        connector_id = req.get("connectorId")
        if requested == "SignChargePointCertificate":
            if not (self.st.config.get("CpoName") or "").strip():
                return {"status": "Rejected"}  # A02 prerequisite: CpoName MUST be set
            self.st.defer(self.sign_charge_point_certificate)  # A02.FR.02: after the .conf
            return {"status": "Accepted"}
        if requested == "FirmwareStatusNotification":
            # L01.FR.28/29: the last SignedFirmwareStatusNotification status, Idle after Installed.
            status, request_id = self.firmware.signed_status
            payload: Payload = {"status": "Idle"} if status in ("Installed", "Idle") else {"status": status}
            if payload["status"] != "Idle" and request_id is not None:
                payload["requestId"] = request_id
            self.st.defer(lambda: self.remote_trigger.send_triggered("SignedFirmwareStatusNotification", payload))
            return {"status": "Accepted"}
        if requested == "LogStatusNotification":
            status, request_id = self.firmware.log_status()
            log_payload: Payload = {"status": status}
            if request_id is not None:
                log_payload["requestId"] = request_id  # N01.FR.12
            self.st.defer(lambda: self.remote_trigger.send_triggered("LogStatusNotification", log_payload))
            return {"status": "Accepted"}
        # BootNotification, Heartbeat, MeterValues, StatusNotification: as TriggerMessage does them.
        return {"status": self.remote_trigger.trigger(requested, connector_id)}
