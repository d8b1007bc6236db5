"""OCTT §2.24 "Security" (the OCPP 1.6 Security whitepaper, edition 3): TC_073_CS–TC_087_CS (TC_082 is Smart
Charging). The harness is Central System and Certificate Authority; it serves wss:// on 127.0.0.1 with its own
PKI (`pki.HarnessPki`), server-only for security profile 2 and mutual for profile 3, and installs what a case's
"Before" asks for at manufacturing time (`runner._provision`). Each case states the profile it runs with.
"""

from __future__ import annotations

import base64
import binascii
import time
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ocpp_station.clock import iso_utc
from ocpp_station.protocol.rpc import Payload
from ocpp_station.security.demo_pki import CertificateAuthority, sign_firmware
from ocpp_station.security.pki import CertificateHashData, HashAlgorithm, certificate_hash_data, parse_certificates
from ocpp_station.security.tls import WHITEPAPER_CIPHERS_TLS12
from ocpp_station.tools.harness.case import SECURITY, CaseContext, CaseFunction, NotApplicable, TestCase, check
from ocpp_station.tools.harness.cases._steps import expect_boot
from ocpp_station.tools.harness.csms import CaseFailure, Expect, HandshakeRecord, Tolerance
from ocpp_station.tools.harness.file_server import harness_files
from ocpp_station.tools.harness.pki import AUTHORIZATION_KEY, CPO_NAME, HarnessPki, SecuritySetup, Tls
from ocpp_station.tools.harness.states import connector_ids, expect_status_per_connector

MODULE = "24 Security"
# TC_073 step 1: "4F43415F4F4354545F61646D696E5F74657374" ("OCA_OCTT_admin_test" HexEncoded).
NEW_AUTHORIZATION_KEY = "4F43415F4F4354545F61646D696E5F74657374"
# TC_086/TC_087 step 2: the station must support the ECDHE-ECDSA pair or the RSA pair; ECDHE-RSA is stronger.
ACCEPTABLE_TLS12_SUITES = frozenset(WHITEPAPER_CIPHERS_TLS12) | {
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES256-GCM-SHA384",
}


def _pki(ctx: CaseContext) -> HarnessPki:
    if ctx.pki is None:
        raise NotApplicable("the bench has no PKI (not run as a Security case)")
    return ctx.pki


def _basic(charge_box_id: str, key: str) -> str:
    return "Basic " + base64.b64encode(f"{charge_box_id}:{key}".encode()).decode()


def _check_basic(ctx: CaseContext, handshake: HandshakeRecord, key: str, step: str) -> None:
    """TC_085 / TC_086 step 5: 'AUTHORIZATION: Basic <Base64 encoded(<ChargePointId>:<Configured
    AuthorizationKey>)>'."""
    header = handshake.authorization
    check(header is not None, f"{step}: the HTTP upgrade request has no Authorization header")
    assert header is not None
    scheme, _, token = header.partition(" ")
    check(scheme == "Basic", f"{step}: the Authorization header is not Basic: {scheme!r}")
    try:
        user, _, password = base64.b64decode(token, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise CaseFailure(f"{step}: the Basic credentials are not base64") from None
    check(user == ctx.settings.charge_box_id, f"{step}: user {user!r} is not the ChargePointId")
    check(20 <= len(password) <= 40 and len(password) >= 16, f"{step}: the key has {len(password)} characters")
    check(password == key, f"{step}: the password is not the configured AuthorizationKey")


def _client_certificate(handshake: HandshakeRecord, step: str) -> x509.Certificate:
    check(handshake.client_certificate is not None, f"{step}: the Charge Point sent no client certificate")
    assert handshake.client_certificate is not None
    return x509.load_der_x509_certificate(handshake.client_certificate)


def _check_tls(handshake: HandshakeRecord, step: str) -> None:
    check(handshake.tls_version in ("TLSv1.2", "TLSv1.3"), f"{step}: TLS version {handshake.tls_version}")
    if handshake.tls_version == "TLSv1.2":
        check(handshake.cipher in ACCEPTABLE_TLS12_SUITES, f"{step}: cipher suite {handshake.cipher}")


async def _reset_and_boot(ctx: CaseContext) -> HandshakeRecord:
    """'Reusable State: The Charge Point is triggered to reset': Reset(Hard), BootNotification, statuses."""
    connectors = await connector_ids(ctx)
    reply = await ctx.csms.call_result("Reset", {"type": "Hard"})
    check(reply["status"] == "Accepted", f"Reset.conf status is {reply['status']}")
    await expect_boot(ctx, triggered_by="Reset")
    await expect_status_per_connector(ctx, "Available", connectors)
    return ctx.csms.handshakes[-1]


async def _renewal(ctx: CaseContext, sign: CertificateAuthority) -> tuple[str, Payload]:
    """Steps 1-6 of TC_074 / TC_077: ExtendedTriggerMessage → SignCertificate → CertificateSigned."""
    csms = ctx.csms
    csms.respond_with("SignCertificate", {"status": "Accepted"})
    trigger = await csms.call_result("ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"})
    check(trigger["status"] == "Accepted", f"step 2: ExtendedTriggerMessage.conf status is {trigger['status']}")
    request = await csms.expect("SignCertificate", triggered_by="ExtendedTriggerMessage")
    chain = sign.sign_csr(str(request.payload["csr"]))
    return chain, await csms.call_result("CertificateSigned", {"certificateChain": chain})


# --- 2.24.1 Certificate and key management ----------------------------------------------------------------


async def tc_073(ctx: CaseContext) -> None:
    """TC_073_CS Update Charge Point Password for HTTP Basic Authentication."""
    csms = ctx.csms
    before = csms.connection_count
    reply = await csms.call_result("ChangeConfiguration", {"key": "AuthorizationKey", "value": NEW_AUTHORIZATION_KEY})
    check(reply["status"] == "Accepted", f"step 2: ChangeConfiguration.conf status is {reply['status']}")
    # Step 3: the Charge Point disconnects and reconnects with the new password.
    await csms.wait_connected(after=before)
    _check_basic(ctx, csms.handshakes[-1], NEW_AUTHORIZATION_KEY, "step 3")


async def tc_074(ctx: CaseContext) -> None:
    """TC_074_CS Update Charge Point Certificate by request of Central System."""
    csms = ctx.csms
    before = csms.connection_count
    chain, signed = await _renewal(ctx, _pki(ctx).cpo)
    check(signed["status"] == "Accepted", f"step 6: CertificateSigned.conf status is {signed['status']}")
    # Step 7: the Charge Point reconnects with the new certificate.
    await csms.wait_connected(after=before)
    presented = _client_certificate(csms.handshakes[-1], "step 7")
    expected = parse_certificates(chain)[0]
    check(presented.serial_number == expected.serial_number, "step 7: the client certificate is not the new one")


def _hash_data(certificate: x509.Certificate, algorithm: HashAlgorithm = HashAlgorithm.SHA256) -> CertificateHashData:
    return certificate_hash_data(certificate, algorithm=algorithm)


def _listed(payload: Payload) -> list[CertificateHashData]:
    return [CertificateHashData.from_payload(item) for item in payload.get("certificateHashData", [])]


async def _install_and_list(ctx: CaseContext, use: str, root: CertificateAuthority) -> None:
    csms = ctx.csms
    reply = await csms.call_result("InstallCertificate", {"certificateType": use, "certificate": root.pem})
    check(reply["status"] == "Accepted", f"step 2: InstallCertificate.conf status is {reply['status']}")
    listed = await csms.call_result("GetInstalledCertificateIds", {"certificateType": use})
    check(listed["status"] == "Accepted", f"step 4: GetInstalledCertificateIds.conf status is {listed['status']}")
    # "The OCTT verifies that the certificate is present, based on its own calculation of the certificateHashData."
    own = _hash_data(root.certificate)
    check(any(own.matches(item) for item in _listed(listed)), "step 4: the installed certificate is not listed")


async def tc_075_1(ctx: CaseContext) -> None:
    """TC_075_1_CS Install a certificate on the Charge Point - ManufacturerRootCertificate."""
    await _install_and_list(ctx, "ManufacturerRootCertificate", _pki(ctx).maker)


async def tc_075_2(ctx: CaseContext) -> None:
    """TC_075_2_CS Install a certificate on the Charge Point - CentralSystemRootCertificate."""
    await _install_and_list(ctx, "CentralSystemRootCertificate", CertificateAuthority.new_root("OCTT Root 2", CPO_NAME))


async def tc_076(ctx: CaseContext) -> None:
    """TC_076_CS Delete a specific certificate from the Charge Point."""
    csms = ctx.csms
    use = "CentralSystemRootCertificate"
    # Memory state CertificateInstalled: a second root, so that the one the connection runs on stays (M04.FR.06).
    extra = CertificateAuthority.new_root("OCTT Root To Delete", CPO_NAME)
    installed = await csms.call_result("InstallCertificate", {"certificateType": use, "certificate": extra.pem})
    check(installed["status"] == "Accepted", f"CertificateInstalled: InstallCertificate {installed['status']}")
    listed = await csms.call_result("GetInstalledCertificateIds", {"certificateType": use})
    check(listed["status"] == "Accepted", f"step 2: GetInstalledCertificateIds.conf status is {listed['status']}")
    # Step 3: "using the hashAlgorithm provided at step 2".
    algorithm = _listed(listed)[0].hash_algorithm
    target = _hash_data(extra.certificate, algorithm)
    deleted = await csms.call_result("DeleteCertificate", {"certificateHashData": target.as_payload()})
    check(deleted["status"] == "Accepted", f"step 4: DeleteCertificate.conf status is {deleted['status']}")
    after = await csms.call_result("GetInstalledCertificateIds", {"certificateType": use})
    check(not any(target.matches(item) for item in _listed(after)), "step 6: the deleted certificate is still listed")


# --- 2.24.2 Security event/logging ------------------------------------------------------------------------


async def tc_077(ctx: CaseContext) -> None:
    """TC_077_CS Invalid ChargePointCertificate Security Event."""
    rogue = CertificateAuthority.new_root("OCTT Untrusted CA", "Untrusted")
    _, signed = await _renewal(ctx, rogue)  # step 5: "An invalid certificate"
    check(signed["status"] == "Rejected", f"step 6: CertificateSigned.conf status is {signed['status']}")
    await ctx.csms.expect("SecurityEventNotification", {"type": "InvalidChargePointCertificate"})


async def tc_078(ctx: CaseContext) -> None:
    """TC_078_CS Invalid CentralSystemCertificate Security Event."""
    expired = CertificateAuthority.new_root(
        "OCTT Expired Root", CPO_NAME, not_before=datetime.now(UTC) - timedelta(days=60), validity=timedelta(days=30)
    )
    payload = {"certificateType": "CentralSystemRootCertificate", "certificate": expired.pem}
    reply = await ctx.csms.call_result("InstallCertificate", payload)
    check(reply["status"] == "Rejected", f"step 2: InstallCertificate.conf status is {reply['status']}")
    await ctx.csms.expect("SecurityEventNotification", {"type": "InvalidCentralSystemCertificate"})


async def tc_079(ctx: CaseContext) -> None:
    """TC_079_CS Get Security Log."""
    csms = ctx.csms
    async with harness_files(ctx) as files:
        request = {"log": {"remoteLocation": files.log}, "logType": "SecurityLog", "requestId": 79}
        reply = await csms.call_result("GetLog", request)
        check(reply["status"] == "Accepted", f"step 2: GetLog.conf status is {reply['status']}")
        await csms.expect("LogStatusNotification", {"status": "Uploading", "requestId": 79})
        await csms.expect("LogStatusNotification", {"status": "Uploaded", "requestId": 79})
        if files.log_directory is not None:
            # Expected result: "The Charge Point has uploaded the security log to the log.remoteLocation".
            name = str(reply.get("filename", ""))
            check((files.log_directory / name).is_file(), f"no uploaded file {name!r} in the log location")


# --- 2.24.3 Secure firmware update -------------------------------------------------------------------------


def _signed_status(status: str) -> Expect:
    return Expect("SignedFirmwareStatusNotification", {"status": status})


async def _signed_update(ctx: CaseContext, location: str, signature: str, request_id: int) -> None:
    pki = _pki(ctx)
    firmware = {
        "location": location,
        "retrieveDateTime": iso_utc(time.time()),
        "signingCertificate": pki.signing_certificate,
        "signature": signature,
    }
    reply = await ctx.csms.call_result("SignedUpdateFirmware", {"requestId": request_id, "firmware": firmware})
    check(reply["status"] == "Accepted", f"step 2: SignedUpdateFirmware.conf status is {reply['status']}")


def _unavailable_or_available() -> Expect:
    return Expect("StatusNotification", lambda p: p["status"] in ("Unavailable", "Available"), label="any connector")


async def tc_080(ctx: CaseContext) -> None:
    """TC_080_CS Secure Firmware Update."""
    csms = ctx.csms
    settings = ctx.settings
    connectors = await connector_ids(ctx)
    async with harness_files(ctx) as files:
        if files.firmware_image is None:
            raise NotApplicable("the configured firmware location is not the harness's: no signature configured")
        await _signed_update(ctx, files.firmware, sign_firmware(files.firmware_image, _pki(ctx).signing_key), 80)
        tolerate: tuple[Tolerance, ...] = (*settings.tolerated_actions, _unavailable_or_available())
        for status in ("Downloading", "Downloaded", "SignatureVerified", "Installing"):  # steps 3, 5, 7, 9
            found = await csms.expect("SignedFirmwareStatusNotification", {"status": status}, tolerate=tolerate)
            check(found.payload.get("requestId") == 80, f"{status}: requestId is not the request's (L01.FR.10)")
        # Steps 11 / 13 / 15 / 17 "can be in a different order" (13, FirmwareUpdated, is optional: tolerated).
        boot, *_ = await csms.expect_unordered(
            [
                Expect("BootNotification"),
                *(Expect("StatusNotification", {"connectorId": n, "status": "Available"}) for n in (0, *connectors)),
                _signed_status("Installed"),
            ],
            timeout=settings.connect_timeout + settings.message_timeout,
        )
        check(boot.response_payload["status"] == "Accepted", "the tool did not accept the BootNotification.req")


async def tc_081(ctx: CaseContext) -> None:
    """TC_081_CS Secure Firmware Update - Invalid Signature."""
    csms = ctx.csms
    async with harness_files(ctx) as files:
        # Step 1: "The firmware.signature is <An invalid signature.>": a valid signature over other bytes.
        await _signed_update(ctx, files.firmware, sign_firmware(b"other firmware", _pki(ctx).signing_key), 81)
        tolerate: tuple[Tolerance, ...] = (*ctx.settings.tolerated_actions, _unavailable_or_available())
        for status in ("Downloading", "Downloaded", "InvalidSignature"):  # steps 3, 5, 7
            await csms.expect("SignedFirmwareStatusNotification", {"status": status}, tolerate=tolerate)


# --- 2.24.4 Security profiles -------------------------------------------------------------------------------


async def tc_083(ctx: CaseContext) -> None:
    """TC_083_CS Upgrade security profile, from 1 or 2 (the prerequisite allows either) one level up."""
    csms = ctx.csms
    before = csms.handshakes[-1]
    # The profile the station runs with, as the wire shows it: Basic over ws:// is 1, TLS without a client
    # certificate is 2.
    profile = 1 if before.tls_version is None else 2
    check(before.client_certificate is None, "before: the station already sends a client certificate (profile 3)")
    if profile == 1:
        _check_basic(ctx, before, AUTHORIZATION_KEY, "before")
    count = csms.connection_count
    # Step 1: "value is <One level higher than the configured security profile>".
    reply = await csms.call_result("ChangeConfiguration", {"key": "SecurityProfile", "value": str(profile + 1)})
    check(reply["status"] in ("Accepted", "RebootRequired"), f"step 2: status is {reply['status']}")
    if reply["status"] == "RebootRequired":
        await _reset_and_boot(ctx)  # steps 3-8
    else:
        await csms.wait_connected(after=count)  # the station reconnects itself
    after = csms.handshakes[-1]
    _check_tls(after, "after the upgrade")
    if profile == 1:
        # Profile 2: TLS with the server certificate, the station still authenticated by Basic.
        check(after.client_certificate is None, "after the upgrade: profile 2 sent a client certificate")
        _check_basic(ctx, after, AUTHORIZATION_KEY, "after the upgrade")
    else:
        _client_certificate(after, "after the upgrade")  # profile 3


async def tc_084(ctx: CaseContext) -> None:
    """TC_084_CS Downgrade security profile - Rejected."""
    reply = await ctx.csms.call_result("ChangeConfiguration", {"key": "SecurityProfile", "value": "1"})
    check(reply["status"] == "Rejected", f"step 2: ChangeConfiguration.conf status is {reply['status']}")


async def tc_085(ctx: CaseContext) -> None:
    """TC_085_CS Basic Authentication - Valid username/password combination."""
    handshake = await _reset_and_boot(ctx)
    check(handshake.tls_version is None, "security profile 1 runs over ws://")
    _check_basic(ctx, handshake, AUTHORIZATION_KEY, "step 1")


async def tc_086(ctx: CaseContext) -> None:
    """TC_086_CS TLS - server-side certificate - Valid certificate."""
    handshake = await _reset_and_boot(ctx)
    _check_tls(handshake, "step 2")
    _check_basic(ctx, handshake, AUTHORIZATION_KEY, "step 5")


async def tc_087(ctx: CaseContext) -> None:
    """TC_087_CS TLS - Client-side certificate - valid certificate."""
    handshake = await _reset_and_boot(ctx)
    _check_tls(handshake, "step 4")
    key = _client_certificate(handshake, "step 3").public_key()
    # "When using RSA or DSA the key must be at least 2048 bits long ... elliptic curve ... at least 224 bits".
    if isinstance(key, rsa.RSAPublicKey):
        check(key.key_size >= 2048, f"step 4: a {key.key_size}-bit RSA client key")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        check(key.curve.key_size >= 224, f"step 4: a {key.curve.key_size}-bit EC client key")


def _case(tool_id: str, title: str, section: str, run: CaseFunction, setup: SecuritySetup) -> TestCase:
    return TestCase(tool_id, title, SECURITY, MODULE, section, run, security=setup)


BASIC = SecuritySetup(1, Tls.NONE)
SERVER_TLS = SecuritySetup(2, Tls.SERVER)
MUTUAL_TLS = SecuritySetup(3, Tls.MUTUAL, enrol=True)

CASES: tuple[TestCase, ...] = (
    _case("TC_073", "Update Charge Point Password for HTTP Basic Authentication", "2.24.1", tc_073, BASIC),
    _case("TC_074", "Update Charge Point Certificate by request of Central System", "2.24.1", tc_074, MUTUAL_TLS),
    _case(
        "TC_075_1",
        "Install a certificate on the Charge Point - ManufacturerRootCertificate",
        "2.24.1",
        tc_075_1,
        SERVER_TLS,
    ),
    _case(
        "TC_075_2",
        "Install a certificate on the Charge Point - CentralSystemRootCertificate",
        "2.24.1",
        tc_075_2,
        SERVER_TLS,
    ),
    _case("TC_076", "Delete a specific certificate from the Charge Point", "2.24.1", tc_076, SERVER_TLS),
    _case("TC_077", "Invalid ChargePointCertificate Security Event", "2.24.2", tc_077, SERVER_TLS),
    _case("TC_078", "Invalid CentralSystemCertificate Security Event", "2.24.2", tc_078, SERVER_TLS),
    _case("TC_079", "Get Security Log", "2.24.2", tc_079, SERVER_TLS),
    _case("TC_080", "Secure Firmware Update", "2.24.3", tc_080, SecuritySetup(2, Tls.SERVER, manufacturer_root=True)),
    _case(
        "TC_081",
        "Secure Firmware Update - Invalid Signature",
        "2.24.3",
        tc_081,
        SecuritySetup(2, Tls.SERVER, manufacturer_root=True),
    ),
    _case("TC_083", "Upgrade security profile", "2.24.4", tc_083, SecuritySetup(2, Tls.EITHER, enrol=True)),
    _case("TC_084", "Downgrade security profile - Rejected", "2.24.4", tc_084, SERVER_TLS),
    _case("TC_085", "Basic Authentication - Valid username/password combination", "2.24.4", tc_085, BASIC),
    _case("TC_086", "TLS - server-side certificate - Valid certificate", "2.24.4", tc_086, SERVER_TLS),
    _case("TC_087", "TLS - Client-side certificate - valid certificate", "2.24.4", tc_087, MUTUAL_TLS),
)
