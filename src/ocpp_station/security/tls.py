"""Client `ssl.SSLContext`s for security profiles 2 and 3 (whitepaper §2.4, §2.5), and what a failed
handshake means as a security event.

TLS 1.2 or newer only (A00.FR.312/416: the station supports 1.2, so the 1.0/1.1 allowance does not apply).

The cipher question. A00.FR.318/422 ask the station for the ECDHE-ECDSA pair OR the static-RSA pair of
A00.FR.317; the note adds that TLS_RSA has no forward secrecy and recommends ECDHE. Of the four suites only the
ECDHE-ECDSA ones give forward secrecy, and only with an ECDSA server certificate. What this station does, as a
demanding certified product would: TLS 1.3 first (every 1.3 suite is forward-secret, A00.FR.319); for TLS 1.2
the ECDHE-ECDSA pair (what OCTT TC_086/TC_087 check), plus the ECDHE-RSA AES-GCM pair so that a Central System
with an RSA certificate still gets forward secrecy. The static-RSA pair is off by default and only comes with
`legacy_rsa_key_exchange=True` (settings `[network] tls_legacy_rsa = true`), for a Central System that offers
nothing else; a server that offers none of ours is an InvalidTLSCipherSuite event (A00.FR.322/426).
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from enum import IntEnum
from pathlib import Path

from ocpp_station.security.events import SecurityEvent
from ocpp_station.security.pki import read_private_key

# A00.FR.317/421, in OpenSSL's names:
#   TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 = ECDHE-ECDSA-AES128-GCM-SHA256
#   TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 = ECDHE-ECDSA-AES256-GCM-SHA384
#   TLS_RSA_WITH_AES_128_GCM_SHA256         = AES128-GCM-SHA256
#   TLS_RSA_WITH_AES_256_GCM_SHA384         = AES256-GCM-SHA384
WHITEPAPER_CIPHERS_TLS12: tuple[str, ...] = (
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
)
# What the station offers for TLS 1.2 by default: forward secrecy only (see the module docstring).
FORWARD_SECRET_CIPHERS_TLS12: tuple[str, ...] = (
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES256-GCM-SHA384",
)
LEGACY_RSA_CIPHERS_TLS12: tuple[str, ...] = ("AES128-GCM-SHA256", "AES256-GCM-SHA384")


def station_ciphers(legacy_rsa_key_exchange: bool = False) -> tuple[str, ...]:
    return FORWARD_SECRET_CIPHERS_TLS12 + (LEGACY_RSA_CIPHERS_TLS12 if legacy_rsa_key_exchange else ())


class SecurityProfile(IntEnum):
    NONE = 0  # §7.6: the default when no profile is configured
    BASIC = 1
    TLS_BASIC = 2
    TLS_CLIENT_CERTIFICATE = 3


class TlsSetupError(ValueError):
    """The prerequisites of the profile are missing (A05.FR.03/04); the message is one line."""


def _base_context(central_system_roots: Sequence[str], legacy_rsa_key_exchange: bool) -> ssl.SSLContext:
    if not central_system_roots:
        raise TlsSetupError("no CentralSystemRootCertificate installed")  # A05.FR.03
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verify_mode CERT_REQUIRED, check_hostname on
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # A00.FR.312/416
    context.set_ciphers(":".join(station_ciphers(legacy_rsa_key_exchange)))
    context.options |= ssl.OP_NO_COMPRESSION  # A00.FR.320/424
    # A00.FR.308/412: the commonName must carry the Central System's FQDN, so CN is matched when the
    # certificate has no subjectAltName (A00.FR.511 advises against SANs).
    context.hostname_checks_common_name = True
    # §7.1 note: after an AdditionalRootCertificateCheck rollover the installed CentralSystemRootCertificate
    # is signed by the old root, and must still anchor the path once the old (fallback) root is gone.
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    try:
        context.load_verify_locations(cadata="".join(central_system_roots))
    except ssl.SSLError as error:
        raise TlsSetupError(f"unusable CentralSystemRootCertificate: {_reason(error) or error}") from None
    return context


def profile2_context(central_system_roots: Sequence[str], *, legacy_rsa_key_exchange: bool = False) -> ssl.SSLContext:
    """TLS with Basic Authentication: the server authenticated against the installed roots (A00.FR.307).

    `central_system_roots` are the PEMs of the installed CentralSystemRootCertificates, the M05.FR.11
    fallback included (M05.FR.13 lets it verify the server when the new root does not).
    """
    return _base_context(central_system_roots, legacy_rsa_key_exchange)


def profile3_context(
    central_system_roots: Sequence[str],
    certificate_chain: Path,
    private_key: Path,
    *,
    legacy_rsa_key_exchange: bool = False,
) -> ssl.SSLContext:
    """TLS with Client Side Certificates: profile 2 plus the Charge Point certificate as client certificate
    (A00.FR.401/402). `certificate_chain`: the PEM file of the CertificateSigned chain; `private_key`: the
    station's key, which must be readable by its owner only (A02.FR.05)."""
    context = _base_context(central_system_roots, legacy_rsa_key_exchange)
    read_private_key(private_key)  # refuses a key file others can read, before OpenSSL loads it
    try:
        context.load_cert_chain(certfile=certificate_chain, keyfile=private_key)
    except ssl.SSLError as error:
        raise TlsSetupError(f"unusable Charge Point certificate or key: {_reason(error) or error}") from None
    return context


def client_context(
    profile: SecurityProfile,
    central_system_roots: Sequence[str],
    *,
    certificate_chain: Path | None = None,
    private_key: Path | None = None,
    legacy_rsa_key_exchange: bool = False,
) -> ssl.SSLContext | None:
    """The context for `profile`: None for profiles 0 and 1 (ws://), never a fallback to plain TCP."""
    if profile in (SecurityProfile.NONE, SecurityProfile.BASIC):
        return None
    if profile is SecurityProfile.TLS_BASIC:
        return profile2_context(central_system_roots, legacy_rsa_key_exchange=legacy_rsa_key_exchange)
    if certificate_chain is None or private_key is None:
        raise TlsSetupError("no Charge Point certificate installed")  # A05.FR.04
    return profile3_context(
        central_system_roots, certificate_chain, private_key, legacy_rsa_key_exchange=legacy_rsa_key_exchange
    )


def server_context(
    certificate_chain: Path, private_key: Path, *, client_roots: Sequence[str] = (), require_client: bool = True
) -> ssl.SSLContext:
    """A Central System's context (the embedded demo, the harness): TLS 1.2+, the four suites of A00.FR.317
    plus the ECDHE-RSA pair, no compression; with `client_roots` it asks for a client certificate chaining to
    them (security profile 3), mandatory unless `require_client` is False (a server taking profiles 2 and 3)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(":".join(WHITEPAPER_CIPHERS_TLS12 + FORWARD_SECRET_CIPHERS_TLS12[2:]))
    context.options |= ssl.OP_NO_COMPRESSION
    context.load_cert_chain(certfile=certificate_chain, keyfile=private_key)
    if client_roots:
        context.verify_mode = ssl.CERT_REQUIRED if require_client else ssl.CERT_OPTIONAL
        context.load_verify_locations(cadata="".join(client_roots))
    return context


def _reason(error: BaseException) -> str:
    """OpenSSL's reason code when the error carries one (an SSLError built by hand does not)."""
    return str(getattr(error, "reason", None) or "")


_VERSION_REASONS = frozenset(
    {"UNSUPPORTED_PROTOCOL", "WRONG_VERSION_NUMBER", "TLSV1_ALERT_PROTOCOL_VERSION", "NO_PROTOCOLS_AVAILABLE"}
)
_CIPHER_REASONS = frozenset({"NO_SHARED_CIPHER", "SSLV3_ALERT_HANDSHAKE_FAILURE", "NO_CIPHERS_AVAILABLE"})


def handshake_security_event(error: BaseException) -> SecurityEvent | None:
    """The security event a failed client handshake raises, or None when it is no security matter.

    A certificate that does not verify: InvalidCentralSystemCertificate (A00.FR.309/413). A server offering
    only older TLS: InvalidTLSVersion (A00.FR.315/419). No suite in common: InvalidTLSCipherSuite
    (A00.FR.322/426). Which one is read from OpenSSL's reason code, the only place it is told.
    """
    if isinstance(error, ssl.SSLCertVerificationError):
        return SecurityEvent.INVALID_CENTRAL_SYSTEM_CERTIFICATE
    if isinstance(error, ssl.SSLError):
        reason = _reason(error).upper()
        if reason in _VERSION_REASONS:
            return SecurityEvent.INVALID_TLS_VERSION
        if reason in _CIPHER_REASONS:
            return SecurityEvent.INVALID_TLS_CIPHER_SUITE
    return None
